"""Runs a killed command left behind, found and closed before a command starts a new one.

`make run` and `make approve` run their job in their own process (execute_in_process). Killed there (SIGKILL, out of
memory, a reboot), the run stays "Started" in the instance for ever and a publish keeps its `london_datastore` pool
slot, so every later publish would wait for it. Each such run is tagged with its process's id and start time
(`process_tags`); before a command starts a run, `close_dead_runs` marks the ones whose process is gone as failed,
frees their slots (and any slot held by a run that has ended), and says so in one line each. Runs launched by the
daemon or the UI are run monitoring's to judge (pipelines/service/run_launcher.py): they carry no such tag.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import dagster as dg
import psutil
from dagster._core.launcher.base import WorkerStatus

from assets.publication.datastore_publish import PUBLISH_POOL
from pipelines.service.run_launcher import process_health

PID_TAG = "london_covid/pid"
HOST_TAG = "london_covid/host"
STARTED_TAG = "london_covid/process_started"  # the process's start time (Unix), so a reused pid is not taken for it
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def process_tags() -> dict[str, str]:
    """The tags that let a later command tell whether this process still runs."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            STARTED_TAG: f"{psutil.Process().create_time():.3f}"}


def process_gone(run: dg.DagsterRun) -> bool:
    """True if the run was started by a command on this machine whose process no longer runs."""
    tags = run.tags
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return False  # launched by the daemon, the UI or another machine: not ours to judge
    health = process_health(int(tags[PID_TAG]), float(tags.get(STARTED_TAG, "inf")))
    return health.status != WorkerStatus.RUNNING


def _when(run_id: str, instance: dg.DagsterInstance) -> str:
    record = instance.get_run_record_by_id(run_id)
    started = record.start_time if record else None
    return f"started {datetime.fromtimestamp(started, UTC).astimezone():%d %b %H:%M}" if started else "not started"


def close_dead_runs(instance: dg.DagsterInstance, command: str) -> list[str]:
    """Mark failed every unfinished run whose command's process is gone and free every pool slot held by a run that
    cannot give it back (gone, ended, or deleted). Returns one line per run closed."""
    said = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        if process_gone(run):
            instance.report_run_failed(run, message=(
                f"The process that ran it (pid {run.tags[PID_TAG]}) ended before the run did (killed, out of memory, "
                f"or the machine restarted): marked failed by {command}, which freed its slots. Re-run it if it is "
                "still needed."))
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            said.append(f"run {run.run_id[:8]} ({run.job_name}, {_when(run.run_id, instance)}) was left unfinished by "
                        f"a process that is gone (pid {run.tags[PID_TAG]}): marked failed and its slots freed")
    for run_id in sorted(instance.event_log_storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            said.append(f"run {run_id[:8]} had ended without giving back its pool slot: freed")
    return said


def publish_running(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """A publish that is really running (or waiting for the publish slot), if there is one."""
    info = instance.event_log_storage.get_concurrency_info(PUBLISH_POOL)
    run_ids = [slot.run_id for slot in info.claimed_slots] + [step.run_id for step in info.pending_steps]
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            return run
    return None


def describe(run: dg.DagsterRun, instance: dg.DagsterInstance) -> str:
    """`run 1a2b3c4d (publish, approved by Ana Analyst, started 06 Dec 03:40)`."""
    config = run.run_config.get("ops", {}).get("datastore_publish", {}).get("config", {}) if run.run_config else {}
    by = f", approved by {config['approved_by']}" if config.get("approved_by") else ""
    return f"run {run.run_id[:8]} ({run.job_name}{by}, {_when(run.run_id, instance)})"
