"""The console log of a run started from a terminal (`make run`): a failed step is told by its one-line error, its
stack trace only when asked for (VERBOSE=1 sets `stack_traces`)."""

import dagster as dg

from pipelines.console import console
from resources.errors import SourceError

ERROR = SourceError("phe_cases_by_region", "region_london.csv", "missing column(s) 'newCasesBySpecimenDate'")


@dg.asset
def broken_source() -> None:
    raise ERROR


def log_of_a_failed_run(capfd, stack_traces: bool) -> list[str]:
    """What a run of a step raising ERROR prints, its console logger configured as `make run` configures it."""
    job = dg.Definitions(assets=[broken_source], jobs=[dg.define_asset_job("broken", [broken_source])],
                         loggers={"console": console}).resolve_job_def("broken")
    capfd.readouterr()
    result = job.execute_in_process(raise_on_error=False, run_config={"loggers": {"console": {"config": {
        "log_level": "INFO", "stack_traces": stack_traces}}}})
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
