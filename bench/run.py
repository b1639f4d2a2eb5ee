"""`make bench`: how run time, memory and parse speed grow with the data, against the obvious alternatives.

Prints a table and writes bench-results.json (git-ignored). Each figure is the median of several runs after a
warm-up. Scales and their generator: bench/generate.py. Nothing here is a test: it measures, it does not judge;
docs/development.md's "Performance" section sets the measured values against the targets.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from assets.sources import SOURCES
from bench.generate import SCALES, generate
from checks.lookups import london_ccg_codes
from resources.files import disk_bytes
from resources.settings import REPO_ROOT

RESULTS = REPO_ROOT / "bench-results.json"
REPEATS = {"london": 5, "england": 3, "england_4y": 3}


def median_time(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up: imports, caches, first-touch of the bytes
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def nightly_once(samples: Path, workdir: Path, extra_env: dict[str, str] | None = None) -> dict:
    """One `make run`-style nightly in a fresh process and storage: wall time, peak RSS, Dagster overhead."""
    home, storage, stats = workdir / "home", workdir / "storage", workdir / "stats.json"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(storage), "PIPELINE_MODE": "sample",
           "PIPELINE_SAMPLES_DIR": str(samples), "PIPELINE_RUN_STATS": str(stats), **(extra_env or {})}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pipelines.commands.run"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"nightly run on {samples} failed ({process.returncode})")
    run = json.loads(stats.read_text())
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, **run, **stored_mb(storage)}


def stored_mb(storage: Path) -> dict[str, float]:
    """What a nightly left on disk, by folder: the raw archive, the current tables, the vintages of this release."""
    def size(folder: str) -> float:
        return disk_bytes(storage / folder) / 1e6

    def sizes(pattern: str) -> float:
        return sum(p.stat().st_size for p in (storage / "reports").glob(pattern)) / 1e6

    # Baselines from the same run: the raw files as served (their sidecars' byte counts, what the archive took
    # before compression) and the report page with plotly.js inlined, as every version carried it before.
    sidecars = [p for p in (storage / "raw").rglob("*.json") if p.with_suffix(".gz").exists()]
    return {"raw_mb": size("raw"), "tables_mb": size("tables"), "vintages_mb": size("vintages"),
            "raw_served_mb": sum(json.loads(p.read_text())["bytes"] for p in sidecars) / 1e6,
            "report_mb": sizes("cases_report_*.html"), "plotly_js_mb": sizes("plotly-*.js"),
            "version_files_mb": size("reports/files")}


def rebuild_once(storage: Path) -> float:
    """`make rebuild` of the version a nightly just built, in a fresh process: wall seconds (it must match)."""
    version = json.loads((storage / "reports" / "history.json").read_text())[-1]["version"]
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.commands.rebuild", "--version", version], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rebuild of {version} in {storage} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
    return wall


def bench_nightly(scale: str, samples: Path) -> dict:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(REPEATS[scale] + 1):  # the first is the warm-up
            runs.append(nightly_once(samples, Path(tmp) / f"run{i}"))
        rebuild_s = statistics.median(rebuild_once(Path(tmp) / f"run{i}" / "storage") for i in (1, 2))
    measured = runs[1:]
    pick = lambda key: statistics.median(r[key] for r in measured)  # noqa: E731
    return {
        "wall_s": pick("wall_s"), "peak_rss_mb": pick("peak_rss_mb"), "run_s": pick("run_wall_s"),
        "step_compute_s": pick("step_compute_s"), "dagster_overhead_s": pick("run_wall_s") - pick("step_compute_s"),
        "executor": measured[0]["executor"], "runs": len(measured),
        "raw_mb": pick("raw_mb"), "tables_mb": pick("tables_mb"), "vintages_mb": pick("vintages_mb"),
        "raw_served_mb": pick("raw_served_mb"), "report_mb": pick("report_mb"), "plotly_js_mb": pick("plotly_js_mb"),
        "version_files_mb": pick("version_files_mb"), "rebuild_s": rebuild_s,
    }


def bench_vintages(samples: Path, releases: int = 30) -> dict:
    """The cost of keeping every release of every clean table, the two ways the issue allowed: one Parquet file per
    release (what the pipeline does) against one table with a `release_date` column, rewritten each night. The same
    release is kept `releases` times (real releases differ in a few recent days, so the sizes are of that order)."""
    from resources.vintages import VintageStore

    tables = {name: source.parse_sample(samples) for name, source in SOURCES.items()}
    with tempfile.TemporaryDirectory() as tmp:
        store = VintageStore(tmp)
        day = pd.Timestamp("2020-11-20").date()
        per_release_s = median_time(lambda: [store.save(n, day, t) for n, t in tables.items()], 3)
        per_release_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet")) / 1e6

        def one_table() -> float:
            # What a night costs once `releases` are held: writing the whole table again (one row group per
            # release, so memory stays at one release; reading the old file back would come on top).
            total = 0
            for name, table in tables.items():
                path = Path(tmp) / f"{name}_all.parquet"
                first = pa.Table.from_pandas(table.assign(release_date=0), preserve_index=False)
                with pq.ParquetWriter(path, first.schema) as writer:
                    for i in range(releases):
                        writer.write_table(pa.Table.from_pandas(table.assign(release_date=i), schema=first.schema,
                                                                preserve_index=False))
                total += path.stat().st_size
            return total / 1e6

        started = time.perf_counter()
        one_table_mb = one_table()
        one_table_s = time.perf_counter() - started
    return {"releases": releases, "per_release_mb": per_release_mb, "per_release_write_s": per_release_s,
            "one_table_mb": one_table_mb, "one_table_write_s": one_table_s}


def bench_parsers(samples: Path) -> dict:
    """Per source: our parser, the straightforward pandas read, and a bare pyarrow read of the same bytes."""
    results = {}
    for name, source in SOURCES.items():
        files = source.sample_files(samples)
        data = [f for n, f in files.items() if n != "page"]
        size_mb = sum(len(f.content) for f in data) / 1e6
        ours = median_time(lambda files=files, parse=source.sample.parse: parse(files), 3)
        row = {"mb": size_mb, "ours_s": ours, "ours_mb_s": size_mb / ours}
        if all(f.name.endswith(".csv") for f in data):
            pandas_s = median_time(lambda data=data: [pd.read_csv(io.BytesIO(f.content)) for f in data], 3)
            arrow_s = median_time(lambda data=data: [pacsv.read_csv(io.BytesIO(f.content)) for f in data], 3)
            row |= {"pandas_s": pandas_s, "pyarrow_s": arrow_s}
            if name == "nhs_111":
                row["pandas_same_work_s"] = median_time(lambda files=files: pandas_nhs_111(files), 3)
        elif all(f.name.endswith(".xlsx") for f in data):
            row["pandas_s"] = median_time(lambda data=data: [
                pd.read_excel(io.BytesIO(f.content), sheet_name=None, engine="openpyxl") for f in data], 3)
        results[name] = row
    return results


def pandas_nhs_111(files: dict) -> pd.DataFrame:
    """Context for the NHS 111 row, not its target: the core of what its parser does, done the plain pandas way
    (both files read, London's rows by CCG code, dates typed, rows sorted); without the notes, trimming, the April
    2020 mapping or the merged CCG look-up the parser also does."""
    london = sorted(london_ccg_codes())
    parts = []
    for name, date in (("pathways", "calldate"), ("online", "journeydate")):
        table = pd.read_csv(io.BytesIO(files[name].content))
        table.columns = [column.replace(" ", "").lower() for column in table.columns]
        table = table[table["ccgcode"].str.strip().isin(london)].rename(columns={date: "date"})
        table["date"] = pd.to_datetime(table["date"], format="%d/%m/%Y")
        table["sitetype"] = table["sitetype"].astype(str) if "sitetype" in table else "online"
        parts.append(table)
    return pd.concat(parts, ignore_index=True).sort_values(["date", "sitetype", "ccgcode", "sex", "ageband"],
                                                           ignore_index=True)


def bench_fetch(samples: Path) -> dict:
    """The borough file served by a local server: our client (v2 CSV, one response, archived) against the PHE
    API's own SDK (uk-covid19: v1 CSV pages of 2,500 rows until a 204) for the same rows."""
    from pytest_httpserver import HTTPServer
    from uk_covid19 import Cov19API
    from werkzeug import Request, Response

    from resources.archive import RawArchive
    from resources.http import HttpClient

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per page would drown the table
    body = (samples / "phe_cases_by_utla" / "utla_all.csv").read_bytes()
    header, *lines = body.decode().splitlines(keepends=True)
    page_rows = 2500
    modified = {"Last-Modified": "Thu, 14 Dec 2023 16:00:00 GMT"}

    def v1(request: Request) -> Response:
        page = int(request.args.get("page", "1"))
        chunk = lines[(page - 1) * page_rows: page * page_rows]
        if not chunk:
            return Response(status=204, headers=modified)
        return Response(header + "".join(chunk), content_type="text/csv", headers=modified)

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/v1/data").respond_with_handler(v1)
    server.expect_request("/v2/data").respond_with_data(body, content_type="text/csv", headers=modified)
    server.start()
    try:
        http = HttpClient()

        def ours() -> None:
            with tempfile.TemporaryDirectory() as tmp, http.session() as session:
                result = http.get(session, "bench", server.url_for("/v2/data?areaType=utla&format=csv"))
                RawArchive(data_dir=tmp).store("bench", "utla_all", ".csv", result, api="phe")

        def sdk() -> None:
            api = Cov19API(filters=["areaType=utla"], structure={"areaCode": "areaCode", "date": "date",
                                                                   "newCasesBySpecimenDate": "newCasesBySpecimenDate"})
            api.endpoint = server.url_for("/v1/data")
            api.get_csv()

        return {"mb": len(body) / 1e6, "rows": len(lines), "ours_s": median_time(ours, 3),
                "sdk_s": median_time(sdk, 3), "sdk_pages": -(-len(lines) // page_rows)}
    finally:
        server.stop()


MEMORY_INPUT_MB = 50


def memory_inputs(largest: Path, out: Path) -> Path:
    """About MEMORY_INPUT_MB of each CSV source in its samples' layout (GENERATED: for measuring memory only). A
    source whose england_4y release is larger is cut to that size at a line; a smaller one has its data lines
    repeated under other area codes of the same shape (E99...), as a national file holds other areas' rows."""
    for name in SOURCES:
        paths = [largest / name / path.name for path in (REPO_ROOT / "data" / "samples" / name).iterdir()]
        data = [path for path in paths if path.suffix != ".html"]  # NHS 111's page of links goes as it is
        if not all(path.suffix == ".csv" for path in data):
            continue
        (out / name).mkdir(parents=True, exist_ok=True)
        for page in set(paths) - set(data):
            (out / name / page.name).write_bytes(page.read_bytes())
        share = MEMORY_INPUT_MB * 1e6 / len(data)
        for path in data:
            header, *lines = path.read_bytes().splitlines(keepends=True)
            body, size, copy = [header], len(header), 0
            while size < share:
                for line in lines:
                    line = line if copy == 0 else re.sub(rb"\bE(09|12|40|92)\d{6,7}\b",
                                                          b"E99%07d" % (copy % 10**7), line)
                    body.append(line)
                    size += len(line)
                    if size >= share:
                        break
                copy += 1
            (out / name / path.name).write_bytes(b"".join(body))
    return out


def bench_memory(largest: Path) -> dict:
    """Per CSV source: peak memory of parsing and validating about MEMORY_INPUT_MB, each in a fresh process."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = memory_inputs(largest, Path(tmp))
        for name in sorted(p.name for p in folder.iterdir()):
            done = subprocess.run([sys.executable, "-m", "bench.memory", name, str(folder)], cwd=REPO_ROOT,
                                  capture_output=True, text=True, check=True)
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def bench_multiprocess_overhead(samples: Path) -> dict:
    """The UI's executor (one process per step) on the London samples, for comparison with make run's."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = [nightly_once(samples, Path(tmp) / f"mp{i}", {"PIPELINE_EXECUTOR": "multiprocess"}) for i in range(3)]
    measured = runs[1:]
    return {"run_s": statistics.median(r["run_wall_s"] for r in measured),
            "dagster_overhead_s": statistics.median(r["run_wall_s"] - r["step_compute_s"] for r in measured),
            "executor": measured[0]["executor"]}


def main() -> int:
    results: dict = {"scales": {}, "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    folders: dict[str, Path] = {}
    for scale in SCALES:
        samples = folders[scale] = generate(scale, REPO_ROOT / "storage" / "bench" / scale)
        size = disk_bytes(samples) / 1e6
        print(f"[{scale}] {size:.1f} MB of releases: nightly runs ...", flush=True)
        results["scales"][scale] = {"input_mb": size, "nightly": bench_nightly(scale, samples)}
    largest = REPO_ROOT / "storage" / "bench" / "england_4y"
    print("[parse] per source on england_4y ...", flush=True)
    results["parse"] = bench_parsers(largest)
    print(f"[memory] each CSV source on about {MEMORY_INPUT_MB} MB, in a fresh process ...", flush=True)
    results["memory"] = bench_memory(largest)
    print("[fetch] borough file from a local server, ours vs uk-covid19 ...", flush=True)
    results["fetch"] = bench_fetch(largest)
    print("[vintages] per-release files vs one table with release_date ...", flush=True)
    results["vintages"] = {scale: bench_vintages(folder) for scale, folder in folders.items()}
    print("[executor] multiprocess on london ...", flush=True)
    results["multiprocess_london"] = bench_multiprocess_overhead(REPO_ROOT / "data" / "samples")
    RESULTS.write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    print("\nEnd to end (make run's nightly, fresh storage; median after a warm-up)")
    print(f"{'scale':<12}{'input MB':>10}{'wall s':>9}{'peak RSS MB':>13}{'run s':>8}{'steps s':>9}{'Dagster s':>11}"
          f"{'Dagster %':>11}  executor")
    for scale, row in results["scales"].items():
        n = row["nightly"]
        print(f"{scale:<12}{row['input_mb']:>10.1f}{n['wall_s']:>9.2f}{n['peak_rss_mb']:>13.0f}{n['run_s']:>8.2f}"
              f"{n['step_compute_s']:>9.2f}{n['dagster_overhead_s']:>11.2f}"
              f"{100 * n['dagster_overhead_s'] / n['wall_s']:>10.0f}%  {n['executor']}")
    # The same nightly on the UI's executor (one process per step), measured as make run with PIPELINE_EXECUTOR.
    mp = results["multiprocess_london"]
    print(f"{'london (UI)':<12}{'':>10}{'':>9}{'':>13}{mp['run_s']:>8.2f}{'':>9}{mp['dagster_overhead_s']:>11.2f}"
          f"{'':>11}  {mp['executor']}")
    print("\nOn disk after one nightly (MB): the raw archive, the current tables, this release's vintages; and the time"
          " of make rebuild of that version (median of 2, fresh process)")
    print(f"{'scale':<12}{'raw':>9}{'tables':>9}{'vintages':>10}{'rebuild s':>11}")
    for scale, row in results["scales"].items():
        n = row["nightly"]
        print(f"{scale:<12}{n['raw_mb']:>9.1f}{n['tables_mb']:>9.1f}{n['vintages_mb']:>10.1f}{n['rebuild_s']:>11.2f}")
    print("\nStorage a version adds, against its baseline from the same run: the raw archive compressed vs the bytes"
          " as served; the report page (plotly.js beside it, stored once) vs the page with plotly.js inlined")
    print(f"{'scale':<12}{'raw MB':>8}{'as served':>11}{'page MB':>9}{'inlined':>9}{'plotly.js once':>16}"
          f"{'files':>16}")
    for scale, row in results["scales"].items():
        n = row["nightly"]
        print(f"{scale:<12}{n['raw_mb']:>8.2f}{n['raw_served_mb']:>11.2f}{n['report_mb']:>9.2f}"
              f"{n['report_mb'] + n['plotly_js_mb']:>9.2f}{n['plotly_js_mb']:>16.2f}{n['version_files_mb']:>16.2f}")
    print("\nKeeping every release: one file per release vs one table with release_date (after N releases)")
    print(f"{'scale':<12}{'N':>4}{'per release MB':>16}{'write s':>9}{'one table MB':>14}{'rewrite s':>11}"
          f"{'N files MB':>12}")
    for scale, v in results["vintages"].items():
        print(f"{scale:<12}{v['releases']:>4}{v['per_release_mb']:>16.2f}{v['per_release_write_s']:>9.3f}"
              f"{v['one_table_mb']:>14.2f}{v['one_table_write_s']:>11.2f}{v['releases'] * v['per_release_mb']:>12.1f}")
    print("\nParse, england_4y bytes (median of 3)")
    print(f"{'source':<24}{'MB':>8}{'ours s':>9}{'ours MB/s':>11}{'pandas s':>10}{'pandas/ours':>13}"
          f"{'pyarrow s':>11}{'ours/pyarrow':>14}")
    for name, row in results["parse"].items():
        pandas_s, arrow_s = row.get("pandas_s"), row.get("pyarrow_s")
        print(f"{name:<24}{row['mb']:>8.1f}{row['ours_s']:>9.3f}{row['ours_mb_s']:>11.1f}"
              f"{pandas_s if pandas_s is not None else float('nan'):>10.3f}"
              f"{(pandas_s / row['ours_s']) if pandas_s else float('nan'):>12.1f}x"
              f"{arrow_s if arrow_s is not None else float('nan'):>11.3f}"
              f"{(row['ours_s'] / arrow_s) if arrow_s else float('nan'):>13.1f}x")
    nhs_111 = results["parse"]["nhs_111"]
    if "pandas_same_work_s" in nhs_111:
        same = nhs_111["pandas_same_work_s"]
        print(f"  context, not the target: nhs_111 with pandas doing the core of its parser's work (read, London's "
              f"rows, dates, sort) {same:.3f} s, {same / nhs_111['ours_s']:.1f}x ours")
    print(f"\nMemory: parse and validate about {MEMORY_INPUT_MB} MB of each CSV source (GENERATED), fresh process; "
          "target at most 5x the input")
    print(f"{'source':<24}{'input MB':>10}{'peak over imports MB':>22}{'x input':>9}{'rows kept':>11}")
    for name, row in results["memory"].items():
        print(f"{name:<24}{row['input_mb']:>10.1f}{row['peak_over_imports_mb']:>22.0f}"
              f"{row['peak_over_imports_mb'] / row['input_mb']:>8.1f}x{row['rows']:>11,}")
    f = results["fetch"]
    print(f"\nFetch {f['rows']:,} borough rows ({f['mb']:.1f} MB) from a local server: ours {f['ours_s']:.2f} s "
          f"(one v2 CSV, archived), uk-covid19 SDK {f['sdk_s']:.2f} s ({f['sdk_pages']} v1 pages): "
          f"{f['sdk_s'] / f['ours_s']:.1f}x")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
