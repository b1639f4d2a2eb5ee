"""The local instance's event log storage (pipelines/service/event_log.py, in config/dagster.yaml): runs recorded
through it are what Dagster's own default storage reads from the same folder, so the UI, an older checkout or a
config without it see every run and event; and a long-lived process keeps a bounded number of engines."""

import logging
import os
import shutil
import time
from pathlib import Path
from unittest import mock

import dagster as dg
import psutil
import sqlalchemy
from dagster._core.events.log import EventLogEntry

from pipelines.service.event_log import ENGINES_KEPT, PooledSqliteEventLogStorage
from resources.settings import REPO_ROOT


@dg.asset
def counted(context: dg.AssetExecutionContext) -> int:
    context.log.info("counting")
    return 1


def instance(home: Path) -> dg.DagsterInstance:
    with mock.patch.dict("os.environ", {"DAGSTER_HOME": str(home)}):
        return dg.DagsterInstance.get()


def test_runs_are_read_back_by_dagster_s_default_storage_from_the_same_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    with instance(home) as ours:
        assert isinstance(ours.event_log_storage, PooledSqliteEventLogStorage)
        results = [dg.materialize([counted], instance=ours) for _ in range(3)]
        written = {result.run_id: [e.dagster_event_type for e in ours.all_logs(result.run_id) if e.is_dagster_event]
                   for result in results}
    assert all(result.success for result in results)
    # Dagster's default instance in the same folder: no storage configured.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with instance(home) as default:
        assert type(default.event_log_storage).__name__ == "SqliteEventLogStorage"
        read = {run_id: [e.dagster_event_type for e in default.all_logs(run_id) if e.is_dagster_event]
                for run_id in written}
        assert read == written and all(dg.DagsterEventType.RUN_SUCCESS in events for events in read.values())
        assert default.get_latest_materialization_event(dg.AssetKey("counted")).run_id == results[-1].run_id
        assert {run.run_id for run in default.get_runs()} == set(written)


def open_databases(folder: Path) -> set[str]:
    return {Path(f.path).name for f in psutil.Process().open_files() if f.path.startswith(str(folder))
            and f.path.endswith(".db")}


def test_a_long_lived_process_keeps_a_few_databases_open(tmp_path: Path) -> None:
    """The webserver reads run after run: it keeps the last few databases open, not every one it ever read."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    for run in range(3 * ENGINES_KEPT):
        with storage.run_connection(f"run-{run}") as connection:
            connection.execute(sqlalchemy.text("SELECT count(*) FROM event_logs"))
    assert len(list((tmp_path / "history" / "runs").glob("run-*.db"))) == 3 * ENGINES_KEPT
    kept = open_databases(tmp_path)
    assert kept == {f"run-{run}.db" for run in range(2 * ENGINES_KEPT, 3 * ENGINES_KEPT)}
    storage.dispose()  # as Dagster does when the instance closes
    assert open_databases(tmp_path) == set()


def test_a_forked_process_writes_through_its_own_connection(tmp_path: Path) -> None:
    """A process forked while the parent holds a database open (SQLite connections must not cross a fork): the child
    opens its own; the parent's still works and sees what the child wrote."""
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    with storage.run_connection("shared") as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE marks (who TEXT)"))
        connection.execute(sqlalchemy.text("INSERT INTO marks VALUES ('parent')"))
    child = os.fork()
    if child == 0:  # the child: write, then leave without running the parent's clean-up
        try:
            with storage.run_connection("shared") as connection:
                connection.execute(sqlalchemy.text("INSERT INTO marks VALUES ('child')"))
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with storage.run_connection("shared") as connection:
        connection.execute(sqlalchemy.text("INSERT INTO marks VALUES ('parent again')"))
        marks = [row[0] for row in connection.execute(sqlalchemy.text("SELECT who FROM marks"))]
    assert marks == ["parent", "child", "parent again"]
    storage.dispose()


def test_the_ui_following_a_run_sees_each_event_as_it_is_stored(tmp_path: Path) -> None:
    """The run page follows a run by watching its database file (Dagster's watchdog): each event the run's process
    stores reaches it while the run goes on, not when the run's connections close."""
    run_process = PooledSqliteEventLogStorage(str(tmp_path))
    webserver = PooledSqliteEventLogStorage(str(tmp_path))

    def log(message: str) -> None:
        run_process.store_event(EventLogEntry(None, logging.INFO, message, "followed", time.time()))

    log("started")
    seen: list[str] = []

    def follow(entry: EventLogEntry, _cursor: str) -> None:
        seen.append(entry.user_message)

    webserver.watch("followed", None, follow)
    try:
        for message in ("fetching", "parsing", "done"):
            log(message)
            deadline = time.monotonic() + 15
            while message not in seen:
                assert time.monotonic() < deadline, f"the watcher never saw {message!r}: {seen}"
                time.sleep(0.05)
    finally:
        webserver.end_watch("followed", follow)
        webserver.dispose()
        run_process.dispose()
