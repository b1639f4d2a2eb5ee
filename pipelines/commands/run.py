"""`make run`: run the nightly job once against the local Dagster instance and say what it produced.

Runs in-process (one Python process, no daemon needed) and records the run in $DAGSTER_HOME, so it shows up in
the UI afterwards. Exits non-zero if any step failed, after printing which source failed and why.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import requests

from assets.sources import SOURCES
from pipelines.commands import exit_with, open_instance
from pipelines.commands.outcomes import StopRequests, interrupted, step_failures
from pipelines.commands.stale_runs import close_dead_runs, process_tags
from pipelines.definitions import build_definitions
from pipelines.jobs import IN_PROCESS_RUN_TAGS
from reports.approval import DRY_RUN_FOLDER, approve_command
from resources import settings
from resources.settings import data_dir, pipeline_mode, reports_url


def summarise(result: dg.ExecuteInProcessResult) -> list[str]:
    lines = []
    tables = data_dir() / "tables"
    for name, source in SOURCES.items():
        path = tables / f"{name}.parquet"
        if path.exists():
            frame = pd.read_parquet(path)
            date_column = source.presentation.date_column
            lines.append(
                f"  {name:<24} {len(frame):>7,} rows  {frame[date_column].min():%Y-%m-%d} .. "
                f"{frame[date_column].max():%Y-%m-%d}  {path}"
            )
        else:
            lines.append(f"  {name:<24} (no table stored yet)")
    lines += [f"FAILED {step}: {message}" for step, message in step_failures(result)]
    return lines


def served(url: str) -> bool:
    """Whether the report server (make dev) answers at `url`."""
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def next_steps(report: Path, version: str, live: bool) -> list[str]:
    """What the analyst does next, with the report's address and the exact approval command."""
    url = f"{reports_url()}/{report.name}"
    where = url if served(f"{reports_url()}/") else f"{report} (or, with make dev running, {url})"
    lines = ["", "next:", f"  1. open the report and check it: {where}"]
    if live:
        lines += [f"  2. approve it: {approve_command(version)}",
                  "     (or in the Dagster UI: the link at the end of the report opens the publish job's Launchpad)"]
    else:
        lines = [
            "",
            "THIS RUN USED THE SHIPPED SAMPLE DATA, NOT LIVE RELEASES: its report cannot be published to the London "
            "Datastore. For live data: PIPELINE_MODE=live make run",
            *lines[1:],
            f"  2. rehearse the approval (sends nothing): {approve_command(version, dry_run=DRY_RUN_FOLDER)}",
        ]
    return [*lines, ""]


def nightly_job() -> dg.JobDefinition:
    """Reconstructable entry point, so the benchmark can run the nightly job on the UI's multiprocess executor."""
    return build_definitions().resolve_job_def("nightly")


def step_compute_seconds(result) -> float:
    return sum(
        event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if (event.is_step_success or event.is_step_failure) and getattr(event.event_specific_data, "duration_ms", None)
    )


def main() -> int:
    # Step starts, warnings and failures; Dagster's per-event DEBUG chatter stays in the UI's run log.
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO", "stack_traces": settings.verbose()}}}}
    # In one process by default: for a run this size, one process per step would cost more than the steps.
    executor = settings.choice("PIPELINE_EXECUTOR", settings.EXECUTORS)
    started = time.perf_counter()
    tags = {**IN_PROCESS_RUN_TAGS, **process_tags()}
    # SIGTERM (`kill`, a supervisor) stops the run as Ctrl-C does (StopRequests): Dagster ends it as failed, where
    # the process would otherwise die with the run left open until the next command closes it.
    with open_instance() as instance, StopRequests() as stops:
        for line in close_dead_runs(instance, "make run"):
            print(f"note: {line}")
        try:
            if executor == "multiprocess":
                result = dg.execute_job(dg.reconstructable(nightly_job), instance=instance, run_config=run_config,
                                        raise_on_error=False, tags=tags)
            else:
                result = nightly_job().execute_in_process(instance=instance, raise_on_error=False,
                                                          run_config=run_config, tags=tags)
        except KeyboardInterrupt:  # stopped before Dagster took the run over
            result = None
        # A run that finished although a stop arrived (Dagster lost it) is reported as it ended.
        stopped = result is None or (not result.success and (interrupted(result) or stops.arrived()))
    elapsed = time.perf_counter() - started
    if stopped:
        # Not the interrupted steps as failures ("FAILED phe_cases_by_utla: DagsterExecutionInterruptedError"): the
        # sources did not fail, the run was stopped.
        print(f"make run stopped (Ctrl-C or SIGTERM) after {elapsed:.1f}s, before it finished: what a step had not "
              "finished was not stored, every source keeps its last good table, and the run is marked failed. Run "
              "make run again for the report.", file=sys.stderr)
        return 130
    if stats := settings.text("PIPELINE_RUN_STATS"):
        Path(stats).write_text(json.dumps({"run_wall_s": elapsed, "step_compute_s": step_compute_seconds(result),
                                           "executor": executor}))
    print(f"nightly run {result.run_id} ({pipeline_mode()} mode) {'succeeded' if result.success else 'FAILED'} "
          f"in {elapsed:.1f}s")
    print("\n".join(summarise(result)))
    print(f"raw archive: {data_dir() / 'raw'}")
    report = next(
        (event.materialization for event in result.get_asset_materialization_events()
         if event.materialization.asset_key == dg.AssetKey("cases_report")),
        None,
    )
    if report is None:
        print("report: not produced (see the failures above)")
        return 1
    metadata = report.metadata
    print(f"report warnings: {metadata['warnings'].value}; stale sources: {metadata['stale_sources'].value}")
    print("\n".join(next_steps(Path(metadata["path"].value), metadata["report_version"].value,
                               live=metadata["data"].value == "live")))
    # Scripts read these two lines (README, "Quick start"): keep them last and keep their wording.
    print(f"report: {metadata['path'].value}")
    print(f"report_version: {metadata['report_version'].value}")
    return 0 if result.success else 1


if __name__ == "__main__":
    exit_with(main)
