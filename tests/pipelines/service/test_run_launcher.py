"""The run launcher's health check (pipelines/run_launcher.py) against real processes and a real instance's event
log: what run monitoring is told about a run whose process is alive, gone, or whose id now belongs to another."""

from __future__ import annotations

import subprocess
import sys
import time

import dagster as dg
import psutil
from dagster._core.events import EngineEventData
from dagster._core.launcher.base import WorkerStatus
from dagster._core.test_utils import create_run_for_test

from pipelines.service.run_launcher import WatchedRunLauncher, process_health, run_process_id


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_the_launcher_reads_the_pid_the_run_recorded_and_follows_that_process() -> None:
    with dg.instance_for_test(overrides={
        "run_launcher": {"module": "pipelines.service.run_launcher", "class": "WatchedRunLauncher"},
    }) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, WatchedRunLauncher) and launcher.supports_check_run_worker_health
        run = create_run_for_test(instance, job_name="nightly")
        # Before the run's process reports in, there is nothing to judge: never fail a run for that.
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        process = sleeper()
        try:
            instance.report_engine_event(f"Started process for run (pid: {process.pid}).", run,
                                         EngineEventData.in_process(process.pid))
            records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            assert run_process_id(records)[0] == process.pid
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        finally:
            process.kill()
            process.wait()
        health = launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.FAILED
        assert f"pid {process.pid}" in health.msg and "Re-execute it from failure" in health.msg


def test_a_process_that_began_after_the_run_recorded_its_pid_is_not_the_run() -> None:
    later = sleeper()
    try:
        # Same id, started two minutes after the run said it started: the run's process is gone and the id was
        # handed to another program.
        assert process_health(later.pid, time.time() - 120).status == WorkerStatus.FAILED
        assert process_health(later.pid, time.time()).status == WorkerStatus.RUNNING
    finally:
        later.kill()
        later.wait()


def test_a_run_s_process_seen_starting_seconds_late_is_still_the_run() -> None:
    """A machine that stalled, or had its clock set, moves every process's start time as psutil reads it: a live
    publish was marked failed after a 15 s stall (its run then succeeded, and the failure notice went out)."""
    process = sleeper()
    try:
        assert process_health(process.pid, time.time() - 15).status == WorkerStatus.RUNNING
    finally:
        process.kill()
        process.wait()


def test_a_run_that_started_before_the_machine_booted_is_not_running(monkeypatch) -> None:
    """After a restart the run's id may belong to a process of the new boot, started within the margin."""
    process = sleeper()
    try:
        recorded_at = time.time() - 5
        monkeypatch.setattr(psutil, "boot_time", lambda: recorded_at + 1)  # the machine booted after the run began
        assert process_health(process.pid, recorded_at).status == WorkerStatus.FAILED
    finally:
        process.kill()
        process.wait()
