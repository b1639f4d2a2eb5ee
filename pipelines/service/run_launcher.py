"""The run launcher of `make serve` (config/dagster-service.yaml): Dagster's default launcher, plus the health check
run monitoring needs to notice a run whose process died.

Dagster's `DefaultRunLauncher` starts each run in a process of the code server but cannot tell the daemon whether
that process is still alive, so a run killed by the operating system (out of memory, `kill -9`, a machine restart)
stays "Started" in the UI for ever and holds its queue and pool slots. Every run's process records its process id
in the run's first engine event ("Started process for run (pid: N)"); on one machine that is enough to check it.
A run launched by a launcher elsewhere (another machine, Kubernetes) is not this launcher's to judge: use that
platform's launcher there (deploy/).
"""

from __future__ import annotations

import psutil
from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus


def run_process_id(events: list) -> tuple[int, float] | None:
    """The process id the run's process recorded, and when: the last "Started process for run" engine event."""
    for event in reversed(events):
        dagster_event = event.dagster_event
        if dagster_event is None or dagster_event.event_type != DagsterEventType.ENGINE_EVENT:
            continue
        pid = dagster_event.engine_event_data.metadata.get("pid") if dagster_event.engine_event_data else None
        if pid is not None and (dagster_event.message or "").startswith("Started process for run"):
            return int(pid.value), event.timestamp
    return None


# How much later than the run said it started a process with the run's id may seem to have begun and still be taken
# for the run's own. A process's start time is read as the time since boot plus the boot time, and the boot time moves
# when the clock is set or the machine stalls (a virtual machine paused and resumed): a live publish was once marked
# failed by a 15 s stall with a margin of 1 s. Another program gets the id only after the kernel has handed out every
# other id (32,768 of them, or 4 million), far more processes than a machine starts in a minute; a restart is
# judged by the boot time itself.
PID_REUSE_MARGIN_S = 60.0


def process_health(pid: int, started_at: float) -> CheckRunHealthResult:
    """Whether the process `pid`, which said it started at `started_at` (a Unix time), still runs. A live process
    with that id is another program, given the id after the run's process ended, if the machine has booted since
    `started_at` or if it began more than PID_REUSE_MARGIN_S after it."""
    try:
        process = psutil.Process(pid)
        alive, created = process.status() != psutil.STATUS_ZOMBIE, process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        alive, created = False, 0.0
    if alive and psutil.boot_time() <= started_at and created <= started_at + PID_REUSE_MARGIN_S:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"the run's process (pid {pid}) is running")
    return CheckRunHealthResult(
        WorkerStatus.FAILED,
        f"the run's process (pid {pid}) is no longer running: it was stopped from outside (killed, out of memory, "
        "or the machine or the service restarted) before the run could finish. Re-execute it from failure.",
    )


class WatchedRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` that answers run monitoring's "is this run's process alive?" on this machine."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        recorded = run_process_id(self._instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT))
        if recorded is None:
            # Nothing to check yet (the process has not reported in): not a reason to fail a run.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run's process has not recorded its id yet")
        return process_health(*recorded)
