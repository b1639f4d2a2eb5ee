"""`make replay RELEASES=<folder> [FROM=<date>] [TO=<date>] [AGAINST=<git ref>] [SERVICE=1]`: live past nights again.

For every night from the first release in the folder to the last (or FROM to TO), oldest first, as the scheduled
pipeline lived it:
- the night's releases reach the pipeline as that night's live releases: a local server (release_server.py) answers
  every source's URLs through the same HTTP client, archive and parsers as a live fetch, `Last-Modified` the night;
  a source with no new release that night keeps its last (a 304), one the folder never holds its shipped sample;
- the real `nightly` job runs on your Dagster instance (SQLite under DAGSTER_HOME; SERVICE=1: `make serve`'s
  PostgreSQL), dated to the night (`PIPELINE_AS_OF`; run tags `replay`, `replay/night`) so retired sources are read
  as they were live then;
- the analyst's approval is simulated: a rehearsal publish of the night's report version to a local DataPress
  stand-in (never the real Datastore).
Everything is kept apart from the live pipeline's data, under `<data dir>/replay/<id>/`: `data/` (the archive,
tables, vintages and reports, each version's files in `data/reports/files/<version>/`, as the pipeline keeps them),
`nights.csv` (a row a night: time, warnings, files sent, and the bytes of every store) and `nights.html` (time and
disk per night). One line a night; the last line is `replay: <path to nights.csv>`.

AGAINST=<git ref> replays the same nights with that version of the code too (a git worktree, run as `make run` is)
and prints, per night and published file, the rows added, removed and changed and the first differing rows: the
check before deploying a parser change. Exit 1 when any published byte differs; 2 for a mistake in the command.
Stopped (Ctrl-C, or SIGTERM as `kill` and make send it), it ends at once, saying so, with the nights done so far in
`nights.csv`, the worktree removed and nothing left running; exit 130.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from assets.sources import SOURCES
from checks.published import PUBLISHED, read_back
from pipelines.commands import exit_with, open_instance
from pipelines.commands.datastore_standin import StandIn
from pipelines.commands.outcomes import StopRequests, step_failures
from pipelines.commands.rebuild import first_difference
from pipelines.commands.release_server import SHIPPED, ReleaseServer, held_on, night_routes, release_dates
from pipelines.definitions import build_definitions
from pipelines.jobs import IN_PROCESS_RUN_TAGS
from pipelines.service.postgres import Postgres
from reports.analysis import compare_table
from resources import build_resources, settings
from resources.datastore import LondonDatastore
from resources.files import disk_bytes
from resources.report_store import read_published
from resources.upstreams import Upstreams

STORES = ("raw", "tables", "vintages", "reports")
COLUMNS = ("night", "report_version", "seconds", "warnings", "files_sent", "new_releases", "publish_seconds",
           *(f"{store}_bytes" for store in STORES), "dagster_bytes")
APPROVER = "make replay (simulated approval)"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class Night:
    """What one replayed night did."""

    night: date
    report_version: str = ""
    seconds: float = 0.0
    warnings: int = 0
    files_sent: int = 0
    new_releases: list[str] = field(default_factory=list)  # sources whose release was new that night
    publish_seconds: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        return {"night": f"{self.night:%Y-%m-%d}", "report_version": self.report_version,
                "seconds": f"{self.seconds:.2f}", "warnings": self.warnings, "files_sent": self.files_sent,
                "new_releases": " ".join(self.new_releases), "publish_seconds": f"{self.publish_seconds:.2f}",
                **{f"{store}_bytes": self.sizes.get(store, 0) for store in (*STORES, "dagster")}}

    def line(self) -> str:
        what = (f"{self.report_version}  {self.seconds:5.1f} s  {self.warnings} warning(s)  "
                f"{self.files_sent} file(s) sent" if self.report_version else "NO REPORT")
        news = f"  new: {', '.join(self.new_releases)}" if self.new_releases else "  no new release"
        return f"{self.night:%Y-%m-%d}  {what}{news}" + "".join(f"\n  FAILED {f}" for f in self.failures)


def nights(held: Mapping[str, list[date]], first: date | None, last: date | None) -> list[date]:
    """Every night from the first release held (or `first`) to the last (or `last`)."""
    days = sorted({day for releases in held.values() for day in releases})
    if not days:
        raise SystemExit("replay: the folder holds no release (expected <YYYY-MM-DD>/<source>/<files>)")
    start, end = first or days[0], last or days[-1]
    if start > end:
        raise SystemExit(f"replay: FROM {start} is after TO {end}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


# --- the instance the runs are recorded on -------------------------------------------------------------------------


@dataclass
class Instance:
    instance: dg.DagsterInstance
    measure: Callable[[], int]  # the bytes of Dagster's storage now


@contextmanager
def user_instance(service: bool) -> Iterator[Instance]:
    """Your Dagster instance: DAGSTER_HOME's (SQLite), or with `service` the one `make serve` runs on PostgreSQL
    (it must be running: the database is its)."""
    if not service:
        with open_instance() as instance:
            home = settings.dagster_home()  # checked already, read once: measured after every night
            yield Instance(instance, lambda: disk_bytes(home))
        return
    postgres = Postgres(settings.service_settings(), settings.data_dir() / "postgres")
    try:
        postgres.connect().close()
    except Exception as error:  # psycopg2 raises its own errors for every way a connection fails
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SystemExit(f"replay: make serve's PostgreSQL does not answer at {postgres.host}:"
                         f"{postgres.settings.pg_port} ({reason}): start `make serve`, then SERVICE=1 make replay "
                         "...") from None
    service_settings = postgres.settings
    os.environ.update({"DAGSTER_PG_HOST": postgres.host, "DAGSTER_PG_PORT": str(service_settings.pg_port),
                       "DAGSTER_PG_USERNAME": service_settings.pg_username, "DAGSTER_PG_DB": service_settings.pg_db,
                       "DAGSTER_PG_PASSWORD": postgres.password()})

    def database_bytes() -> int:
        with postgres.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])

    with dg.DagsterInstance.from_config(str(settings.service_home())) as instance:
        yield Instance(instance, database_bytes)


# --- one night -----------------------------------------------------------------------------------------------------


@dataclass
class Pipeline:
    """This code's pipeline, replaying into `data`."""

    data: Path
    replay_id: str
    instance: Instance
    server: ReleaseServer
    standin: StandIn
    stops: StopRequests

    def definitions(self, night: date) -> dg.Definitions:
        upstreams = Upstreams(mode="live", cases_api="phe", urls=self.server.base_urls(), as_of=f"{night:%Y-%m-%d}")
        datastore = LondonDatastore(base_url=self.standin.url, dataset=self.standin.dataset,
                                    api_key=self.standin.api_key, rehearsal=True,
                                    state_dir=str(self.data / "publish"), table_follow_timeout_s=0.0,
                                    table_poll_interval_s=0.0)
        return build_definitions(build_resources(data_dir=self.data, upstreams=upstreams, datastore=datastore))

    def run(self, night: Night) -> None:
        definitions = self.definitions(night.night)
        tags = {**IN_PROCESS_RUN_TAGS, "replay": self.replay_id, "replay/night": f"{night.night:%Y-%m-%d}"}
        started = time.perf_counter()
        result = definitions.resolve_job_def("nightly").execute_in_process(
            instance=self.instance.instance, raise_on_error=False, tags=tags, run_config=QUIET)
        self.stops.check()
        night.seconds = time.perf_counter() - started
        night.failures = [f"{step}: {message}" for step, message in step_failures(result)]
        report = materialized(result, "cases_report")
        if report is not None:
            night.report_version, night.warnings = report["report_version"], report["warnings"]
            self.approve(definitions, night, tags)
        night.sizes = {store: disk_bytes(self.data / store) for store in STORES}
        night.sizes["dagster"] = self.instance.measure()

    def approve(self, definitions: dg.Definitions, night: Night, tags: dict[str, str]) -> None:
        """The analyst's approval, simulated: a rehearsal publish of the night's version to the stand-in."""
        config = {"ops": {"datastore_publish": {"config": {"approved_by": APPROVER,
                                                           "report_version": night.report_version}}}}
        started = time.perf_counter()
        result = definitions.resolve_job_def(settings.PUBLISH_JOB).execute_in_process(
            instance=self.instance.instance, raise_on_error=False, tags=tags, run_config={**config, **QUIET})
        self.stops.check()
        night.publish_seconds = time.perf_counter() - started
        night.failures += [f"publish: {message}" for _, message in step_failures(result)]
        published = materialized(result, "datastore_publish")
        night.files_sent = published["files_sent"] if published else 0


def materialized(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object] | None:
    """The metadata of `asset`'s materialization in a run (None if it did not materialize)."""
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key == dg.AssetKey(asset):
            return {key: value.value for key, value in event.materialization.metadata.items()}
    return None


# --- AGAINST: the same nights with another version of the code ------------------------------------------------------


@dataclass
class OtherCode:
    """Another version of the code (a git worktree of `ref`), run night by night as `make run` is."""

    ref: str
    root: Path  # <replay>/against: the worktree in code/, its data in data/, its Dagster home in dagster_home/
    base_urls: dict[str, str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def __enter__(self) -> OtherCode:
        self.root.mkdir(parents=True)
        code = self.root / "code"
        done = subprocess.run(["git", "-C", str(settings.REPO_ROOT), "worktree", "add", "--detach", str(code),
                               self.ref], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"replay: AGAINST={self.ref}: {done.stderr.strip()}")
        home = self.root / "dagster_home"
        home.mkdir()
        shutil.copyfile(code / "config" / "dagster.yaml", home / "dagster.yaml")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["git", "-C", str(settings.REPO_ROOT), "worktree", "remove", "--force",
                        str(self.root / "code")], capture_output=True)

    def run(self, night: date) -> str:
        """The night's report version built by the other code ("" when it built none)."""
        code = self.root / "code"
        module = "pipelines.commands.run" if (code / "pipelines" / "commands" / "run.py").exists() else "pipelines.run"
        env = {**os.environ, "DAGSTER_HOME": str(self.root / "dagster_home"), "PIPELINE_DATA_DIR": str(self.data),
               "PIPELINE_MODE": "live", "CASES_API": "phe", "PIPELINE_AS_OF": f"{night:%Y-%m-%d}",
               **{upstream.setting: self.base_urls[name] for name, upstream in settings.UPSTREAMS.items()}}
        done = subprocess.run([sys.executable, "-m", module], cwd=code, env=env, capture_output=True, text=True)
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        return last.removeprefix("report_version: ") if last.startswith("report_version: ") else ""


def differences(this: Path, other: Path, ref: str) -> list[str]:
    """Per published file of two versions' folders (`reports/files/<version>/`): rows added, removed and changed (by
    the file's key columns) and the first differing rows. Empty when every published byte is the same."""
    found = []
    for table in PUBLISHED.values():
        # An earlier version's files are kept compressed (resources/report_store.py): read as published.
        mine, theirs = read_published(this, table.file_name), read_published(other, table.file_name)
        if mine is None or theirs is None:
            side = "one side only" if mine is not None or theirs is not None else "neither side"
            found.append(f"{table.file_name}: built by {side}")
            continue
        if mine == theirs:
            continue
        change = compare_table(table.name, read_back(theirs), read_back(mine))
        found.append(f"{table.file_name}: {change.added} row(s) added, {change.removed} removed, {change.revised} "
                     f"changed; {first_difference(theirs, mine, (ref, 'this code'))}")
    return found


# --- the replay ----------------------------------------------------------------------------------------------------


def write_nights(rows: list[Night], folder: Path) -> Path:
    path = folder / "nights.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(night.row() for night in rows)
    return path


def write_chart(rows: list[Night], folder: Path) -> Path:
    """Time and disk per night, against the nights replayed so far."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = [f"{night.night:%Y-%m-%d}" for night in rows]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=(
        "Seconds per night", "Megabytes held after each night"))
    figure.add_trace(go.Scatter(x=x, y=[n.seconds for n in rows], name="nightly run"), row=1, col=1)
    figure.add_trace(go.Scatter(x=x, y=[n.publish_seconds for n in rows], name="rehearsal publish"), row=1, col=1)
    for store in (*STORES, "dagster"):
        figure.add_trace(go.Scatter(x=x, y=[n.sizes.get(store, 0) / 1e6 for n in rows], name=f"{store} (MB)"),
                         row=2, col=1)
    figure.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="MB", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="night replayed", row=2, col=1)
    figure.update_layout(title="make replay: time and disk per night", height=800, template="plotly_white")
    path = folder / "nights.html"
    figure.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def replay(folder: Path, first: date | None, last: date | None, against: str | None, service: bool,
           out: Path) -> int:
    held = release_dates(folder)
    unknown = sorted(set(held) - set(SOURCES))
    if unknown:
        raise SystemExit(f"replay: {folder} holds folders for no source: {', '.join(unknown)} "
                         f"(sources: {', '.join(SOURCES)})")
    plan = nights(held, first, last)
    out.mkdir(parents=True)
    print(f"replay: {len(plan)} night(s), {plan[0]} to {plan[-1]}, from {folder}, into {out}", flush=True)
    shipped = [name for name in SOURCES if name not in held]
    if shipped:
        print(f"  answered with their shipped samples (the folder holds none of their releases): {', '.join(shipped)}")
    rows: list[Night] = []
    differing = 0
    server, standin = ReleaseServer(), StandIn(api_key=secrets.token_hex(16)).start()
    try:
        with StopRequests() as stops, user_instance(service) as instance:
            pipeline = Pipeline(out / "data", out.name, instance, server, standin, stops)
            other = OtherCode(against, out / "against", server.base_urls()) if against else None
            with other or _nothing():
                for day in plan:
                    routes, answered = night_routes(SOURCES, folder, held, day, server.base_urls())
                    server.serve(routes)
                    night = Night(day, new_releases=[name for name, release in answered.items()
                                                     if release != SHIPPED and held_on(held[name], day) == day])
                    pipeline.run(night)
                    rows.append(night)
                    write_nights(rows, out)  # every night as it ends: a replay cut short keeps its rows
                    print(night.line(), flush=True)
                    if other is not None:
                        differing += compare_night(pipeline, other, night)
                        stops.check()
    except KeyboardInterrupt:
        kept = f", kept in {out / 'nights.csv'}" if rows else ""
        print(f"replay: stopped, {len(rows)} of {len(plan)} night(s) replayed{kept}", file=sys.stderr, flush=True)
        return 130
    finally:
        server.close()
        standin.stop()
    print(f"chart: {write_chart(rows, out)}")
    if against:
        print(f"AGAINST {against}: " + (f"published bytes differ on {differing} night(s)" if differing else
                                        f"no published byte differs over {len(rows)} night(s)"))
    print(f"replay: {out / 'nights.csv'}")
    return 1 if differing else 0


def compare_night(pipeline: Pipeline, other: OtherCode, night: Night) -> int:
    """Print how the other code's files differ on this night; 1 if they do."""
    theirs = other.run(night.night)
    if not night.report_version or not theirs:
        print(f"  AGAINST {other.ref}: no report from {'this code' if not night.report_version else other.ref}")
        return 1
    if theirs == night.report_version:
        return 0
    found = differences(pipeline.data / "reports" / "files" / night.report_version,
                        other.data / "reports" / "files" / theirs, other.ref)
    print(f"  AGAINST {other.ref}: version {theirs}, not {night.report_version}")
    for line in found:
        print(f"    {line}")
    return 1


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("releases", type=Path, help="the folder of releases (<YYYY-MM-DD>/<source>/<files>)")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, help="the first night (YYYY-MM-DD)")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="the last night (YYYY-MM-DD)")
    parser.add_argument("--against", metavar="REF", help="also replay with this git ref of the code, and compare")
    parser.add_argument("--service", action="store_true", help="record the runs on make serve's PostgreSQL instance")
    parser.add_argument("--out", type=Path, help="the replay's folder (default <data dir>/replay/<UTC time>)")
    args = parser.parse_args(argv)
    if not args.releases.is_dir():
        parser.error(f"{args.releases} is not a folder")
    if args.against and subprocess.run(["git", "-C", str(settings.REPO_ROOT), "rev-parse", "--verify", "--quiet",
                                        f"{args.against}^{{commit}}"], capture_output=True).returncode != 0:
        parser.error(f"AGAINST={args.against} is not a commit of this repository")
    if not args.service:
        settings.dagster_home()  # refused in one line before the replay's folder is made
    out = (args.out or settings.data_dir() / "replay" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")).resolve()
    if out.exists():
        parser.error(f"{out} exists: a replay writes into a new folder")
    return replay(args.releases.resolve(), args.first, args.last, args.against, args.service, out)


if __name__ == "__main__":
    exit_with(main)
