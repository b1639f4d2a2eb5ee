"""The console log of a run started from a terminal (`make run`): a failed step is told by its one-line error, its
stack trace only when asked for (VERBOSE=1 sets `stack_traces`); and of the runs the schedules start, in the service's
log, pointing at the UI for it."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines.console import console
from pipelines.definitions import build_definitions
from resources.errors import SourceError

ERROR = SourceError("phe_cases_by_region", "region_london.csv", "missing column(s) 'newCasesBySpecimenDate'")


@dg.asset
def broken_source() -> None:
    raise ERROR


def log_of_a_failed_run(capfd, stack_traces: bool = False, run_config: dict | None = None) -> list[str]:
    """What a run of a step raising ERROR prints, its console logger configured as `make run` configures it (or by
    `run_config`)."""
    job = dg.Definitions(assets=[broken_source], jobs=[dg.define_asset_job("broken", [broken_source])],
                         loggers={"console": console}).resolve_job_def("broken")
    capfd.readouterr()
    if run_config is None:
        run_config = {"loggers": {"console": {"config": {"log_level": "INFO", "stack_traces": stack_traces}}}}
    result = job.execute_in_process(raise_on_error=False, run_config=run_config)
    assert not result.success
    return capfd.readouterr().err.splitlines()


def test_a_failure_is_its_message_without_the_stack_trace(capfd) -> None:
    log = log_of_a_failed_run(capfd, stack_traces=False)
    told = [i for i, line in enumerate(log) if line.endswith(f"SourceError: {ERROR}")]
    assert len(told) == 2  # the step's failure, and the run's
    assert all(log[i + 1].startswith("(VERBOSE=1 shows the stack trace here; the run's page in the Dagster UI")
               for i in told)
    assert any("STEP_FAILURE" in line for line in log)
    assert not any("Stack Trace" in line or 'File "' in line for line in log)


def test_asked_for_the_stack_trace_is_printed(capfd) -> None:
    log = "\n".join(log_of_a_failed_run(capfd, stack_traces=True))
    assert f"SourceError: {ERROR}" in log and "Stack Trace:" in log and "in broken_source" in log
    assert "VERBOSE=1 shows" not in log


@pytest.mark.parametrize("schedule", ["daily_sources_nightly", "ons_weekly"])
def test_a_scheduled_run_s_failure_is_one_line_in_the_service_log_pointing_at_the_ui(capfd, schedule: str) -> None:
    """A run the schedule starts at night prints to the service's log (make serve's, or make dev's terminal) with the
    config the schedule gives it: the failure's one line, then where its stack trace is (not VERBOSE=1, which the
    service's runs do not read), and none of Dagster's per-event DEBUG lines."""
    tick = datetime(2026, 7, 3, 22, 0, tzinfo=ZoneInfo("Europe/London"))
    [request] = build_definitions().resolve_schedule_def(schedule).evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)).run_requests
    log = log_of_a_failed_run(capfd, run_config=request.run_config)
    told = [i for i, line in enumerate(log) if line.endswith(f"SourceError: {ERROR}")]
    assert len(told) == 2 and all(log[i + 1] == "(the run's page in the Dagster UI has the stack trace)" for i in told)
    assert not any("Stack Trace" in line or 'File "' in line or "VERBOSE" in line for line in log)
    assert not any(" - DEBUG - " in line for line in log)
