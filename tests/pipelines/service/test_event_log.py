"""The local instance's event log storage (pipelines/service/event_log.py, in config/dagster.yaml): runs recorded
through it are what Dagster's own default storage reads from the same folder, so the UI, an older checkout or a
config without it see every run and event; and a long-lived process keeps a bounded number of engines."""

import shutil
from pathlib import Path
from unittest import mock

import dagster as dg

from pipelines.service.event_log import ENGINES_KEPT, ReusedEngineSqliteEventLogStorage
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
        assert isinstance(ours.event_log_storage, ReusedEngineSqliteEventLogStorage)
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


def test_a_long_lived_process_keeps_a_few_engines(tmp_path: Path) -> None:
    storage = ReusedEngineSqliteEventLogStorage(str(tmp_path))
    for run in range(3 * ENGINES_KEPT):
        with storage.run_connection(f"run-{run}"):
            pass
    assert len(storage._engines) == ENGINES_KEPT
    assert len(list((tmp_path / "history" / "runs").glob("run-*.db"))) == 3 * ENGINES_KEPT
