"""`make prune` on a store that lived three nights: the first version published, the second never, the third the
newest. What the published version needs stays (make rebuild still proves it byte for byte), the rest goes and is
named; a second prune finds nothing. Raw files are told apart by hashing the bytes served (hashlib), not by the
archive's own records."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.publication.cases_report import cases_report
from assets.publication.datastore_publish import datastore_publish
from assets.publication.datastore_tables import datastore_tables
from assets.sources import SOURCES
from pipelines.commands import prune
from pipelines.commands.datastore_standin import STANDIN_KEY, StandIn
from resources.datastore import LondonDatastore
from resources.settings import REPO_ROOT
from tests.conftest import (
    all_source_assets,
    failure_text,
    pipeline_resources,
    run_source,
    serve_all_samples,
    serve_samples,
    stored_version,
)
from tests.samples import csv_bytes, revised_london_file, sample_rows

pytestmark = pytest.mark.commands

ASSETS = [*all_source_assets(), datastore_tables, cases_report, datastore_publish]


def build(storage: Path, server: HTTPServer, revised: bytes | None = None) -> str:
    server.clear()
    urls = serve_all_samples(server, {"region_london.csv": revised} if revised else None)
    result = dg.materialize(ASSETS[:-1], resources=pipeline_resources(storage, urls), raise_on_error=False)
    assert result.success, failure_text(result)
    return stored_version(storage)


def make(storage: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage), "DAGSTER_HOME": str(home)}
    return subprocess.run(["make", "-s", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def disk_usage(folder: Path) -> int:
    """The folder's bytes as `du` counts them (each file once, whatever its number of names)."""
    return int(subprocess.run(["du", "-sb", str(folder)], capture_output=True, text=True, check=True).stdout.split()[0])


def archived_london_files(storage: Path) -> dict[str, Path]:
    """The archived London cases files by the SHA-256 of their bytes as served."""
    return {hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest(): p
            for p in (storage / "raw" / "phe_cases_by_region").glob("*/*_region_london.csv.gz")}


def test_prune_keeps_what_published_and_newest_versions_need_and_names_what_it_removes(
        httpserver: HTTPServer, data_dir: Path, standin: StandIn, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LDS_API_KEY", STANDIN_KEY)
    published = build(data_dir, httpserver)
    target = LondonDatastore(base_url=standin.url, dataset=standin.dataset, api_key=dg.EnvVar("LDS_API_KEY"),
                             state_dir=str(data_dir / "publish"), backoff_base_s=0.01, read_timeout_s=5)
    done = dg.materialize(
        ASSETS, selection=[datastore_publish], raise_on_error=False,
        resources={**pipeline_resources(data_dir, "http://127.0.0.1:9/unused"), "datastore": target},
        run_config={"ops": {"datastore_publish": {"config": {"approved_by": "Ana Analyst",
                                                              "report_version": published}}}})
    assert done.success, failure_text(done)
    second_file, newest_file = revised_london_file("2020-05-01", 100), revised_london_file("2020-05-01", 250)
    never_published = build(data_dir, httpserver, second_file)
    newest = build(data_dir, httpserver, newest_file)
    assert len({published, never_published, newest}) == 3
    shipped = (REPO_ROOT / "data" / "samples" / "phe_cases_by_region" / "region_london.csv").read_bytes()
    london = {name: hashlib.sha256(content).hexdigest()
              for name, content in (("published", shipped), ("second", second_file), ("newest", newest_file))}
    assert set(archived_london_files(data_dir)) == set(london.values())
    reports = data_dir / "reports"
    assert not (reports / "snapshots").exists()  # what changed is read from the versions' CSVs
    # A store kept by earlier code also holds each version's tables as Parquet, the same rows as its CSVs.
    left_by_earlier_code = reports / "snapshots" / published / "phe_cases_london_england.parquet"
    left_by_earlier_code.parent.mkdir(parents=True)
    pd.DataFrame(sample_rows("phe_cases_by_region", "region_london.csv")).to_parquet(left_by_earlier_code)

    listed = make(data_dir, tmp_path / "home", "prune", "KEEP_DAYS=0", "DRY_RUN=1")
    assert listed.returncode == 0, listed.stderr
    assert f"would remove versions never published: {never_published}" in listed.stdout
    assert (reports / f"cases_report_{never_published}.html").exists()  # a dry run removes nothing
    assert left_by_earlier_code.exists() and "reports/snapshots/ holds each version's tables" in listed.stdout

    taken = disk_usage(data_dir)
    pruned = make(data_dir, tmp_path / "home", "prune", "KEEP_DAYS=0")
    assert pruned.returncode == 0, pruned.stderr
    freed = (taken - disk_usage(data_dir)) / 1e6
    assert pruned.stdout.strip().endswith(f" paths, {freed:.1f} MB") and freed > 0
    assert f"published {published}" in pruned.stdout and f"the newest {newest}" in pruned.stdout
    assert f"removed versions never published: {never_published}" in pruned.stdout
    for gone in (reports / f"cases_report_{never_published}.html", reports / "files" / never_published,
                 reports / "snapshots"):
        assert not gone.exists() and f"removed {gone.relative_to(data_dir)}" in pruned.stdout
    for kept in (published, newest):
        assert (reports / f"cases_report_{kept}.html").exists() and (reports / "files" / kept).is_dir()
    # Only the second night's London file, which nothing kept names, left the archive, with its sidecar.
    left = archived_london_files(data_dir)
    assert set(left) == {london["published"], london["newest"]}
    assert not list((data_dir / "raw").rglob(f"{london['second'][:16]}_*"))
    assert pruned.stdout.strip().splitlines()[-1].startswith("prune: removed ")

    # The published version is still proved byte for byte from what is left.
    rebuilt = make(data_dir, tmp_path / "home", "rebuild", f"VERSION={published}")
    assert rebuilt.returncode == 0, rebuilt.stdout[-2000:] + rebuilt.stderr[-2000:]
    assert rebuilt.stdout.strip().splitlines()[-1] == f"report_version: {published}"
    again = make(data_dir, tmp_path / "home", "prune", "KEEP_DAYS=0")
    assert again.stdout.strip().splitlines()[-1] == "prune: removed 0 paths, 0.0 MB"


def test_a_setting_it_cannot_use_is_one_line_naming_it(tmp_path: Path) -> None:
    """As for every command: the variable, its value and what it must be, no traceback (VERBOSE=1 shows one)."""
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "storage"), "DAGSTER_HOME": str(tmp_path / "home"),
           "PRUNE_KEEP_DAYS": "thirty"}
    env.pop("VERBOSE", None)
    done = subprocess.run([sys.executable, "-m", "pipelines.commands.prune"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "PRUNE_KEEP_DAYS='thirty' is not a whole number: fix the setting (docs/operations.md, \"Settings\") and run "
        "the command again."]
    verbose = subprocess.run([sys.executable, "-m", "pipelines.commands.prune"], cwd=REPO_ROOT,
                             env={**env, "VERBOSE": "1"}, capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    # A setting the definitions read (prune loads them to keep the runs of the asset checks' latest results) stops
    # it before anything is pruned or said, not halfway (it used to print its storage part first, then a traceback).
    (tmp_path / "home").mkdir()
    env = {**env, "PRUNE_KEEP_DAYS": "0", "NIGHTLY_CRON": "nightly"}
    cron = subprocess.run([sys.executable, "-m", "pipelines.commands.prune"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert cron.returncode == 1 and cron.stdout == ""
    assert cron.stderr.strip().splitlines() == [
        "NIGHTLY_CRON='nightly' is not a cron expression Dagster accepts (five fields: minute, hour, day of month, "
        "month, day of week; e.g. '30 21 * * *'): fix the setting (docs/operations.md, \"Settings\") and run the "
        "command again."]


def test_a_damaged_report_history_is_one_line_and_nothing_is_removed(built_from_samples: str, data_dir: Path,
                                                                       tmp_path: Path) -> None:
    """The list of report versions cut short on the disk: the prune stops before removing anything, saying which file
    and what to do in one line (it was a traceback ending in the same words)."""
    history = data_dir / "reports" / "history.json"
    history.write_bytes(history.read_bytes()[:100])
    before = sorted(data_dir.rglob("*"))
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(tmp_path / "no home")}
    env.pop("VERBOSE", None)
    done = subprocess.run([sys.executable, "-m", "pipelines.commands.prune", "--keep-days", "0"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"{history} could not be read (") and "move it aside: the next run starts a new list" in line
    assert sorted(data_dir.rglob("*")) == before


def test_dagster_s_old_runs_go_with_their_event_logs_but_not_the_current_state_or_a_live_run(
        httpserver: HTTPServer, data_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """A year of nightlies is about 0.4 GB of Dagster's history, which Dagster never trims: prune removes finished
    runs older than the window, except those whose results the asset pages show as current."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data_dir))
    region, healthcare = SOURCES["phe_cases_by_region"], SOURCES["phe_healthcare"]
    rows = sample_rows("phe_cases_by_region", "region_london.csv")
    rows[4]["newCasesBySpecimenDate"] = "-12"
    with dg.DagsterInstance.get() as instance:
        only_healthcare = run_source(healthcare, data_dir, serve_samples(httpserver, healthcare), instance=instance)
        superseded = run_source(region, data_dir, serve_samples(httpserver, region), instance=instance)
        httpserver.clear()
        negative = serve_samples(httpserver, region, {"region_london.csv": csv_bytes(rows)})
        refused = run_source(region, data_dir, negative, instance=instance)
        httpserver.clear()
        current = run_source(region, data_dir, serve_samples(httpserver, region), instance=instance)
        live = instance.add_run(dg.DagsterRun(job_name="nightly", run_id="0" * 8 + "-live-run",
                                              status=dg.DagsterRunStatus.STARTED))
    assert (only_healthcare.success, superseded.success, refused.success, current.success) == (True, True, False, True)
    gone = {result.run_id for result in (superseded, refused)}
    # Dagster's SQLite storage keeps each run's events in history/runs/<run id>.db under DAGSTER_HOME, and its
    # steps' captured output in storage/<run id>/.
    databases = {run_id: home / "history" / "runs" / f"{run_id}.db" for run_id in gone}
    step_logs = {run_id: home / "storage" / run_id for run_id in gone}
    assert all(folder.is_dir() for folder in step_logs.values())
    captured = [path for folder in step_logs.values() for path in folder.rglob("*") if path.is_file()]
    freed = sum(path.stat().st_size for path in [*databases.values(), *captured])

    assert prune.main(["--keep-days", "1"]) == 0  # every run is within a day
    said = capsys.readouterr().out
    assert "Dagster history: removed 0 finished runs older than 1 day," in said
    # Only sources were run here: no report version was built, and the first line says so.
    assert said.splitlines()[0].endswith("days: kept versions (none: no report version is stored)")
    assert prune.main(["--keep-days", "0", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert all(f"would remove run {run_id} (__ephemeral_asset_job__, " in listed for run_id in gone)
    assert all(path.exists() for path in databases.values())

    assert prune.main(["--keep-days", "0"]) == 0
    said = capsys.readouterr().out
    assert sorted(line.split()[2] for line in said.splitlines() if line.startswith("  removed run ")) == sorted(gone)
    assert (f"Dagster history: removed 2 finished runs older than 0 days, {freed / 1e6:.1f} MB of event and step "
            "logs" in said)
    assert not any(path.exists() for path in [*databases.values(), *step_logs.values()])
    assert (home / "storage" / current.run_id).is_dir()
    with dg.DagsterInstance.get() as instance:
        left = {record.dagster_run.run_id for record in instance.get_run_records()}
        assert left == {only_healthcare.run_id, current.run_id, live.run_id}
        latest = instance.get_latest_materialization_event(dg.AssetKey("phe_cases_by_region"))
        assert latest is not None and latest.run_id == current.run_id
    assert prune.main(["--keep-days", "0"]) == 0
    assert "Dagster history: removed 0 finished runs" in capsys.readouterr().out
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no such home"))
    assert prune.main(["--keep-days", "0"]) == 0
    assert f"note: DAGSTER_HOME={tmp_path / 'no such home'} is not a folder, so no Dagster run history was pruned" in (
        capsys.readouterr().out)
