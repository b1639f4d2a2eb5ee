"""The fork server a run's steps start from is started when the run's own process first imports the project
(pipelines/step_server.py), and in no other process that imports it. Checked from the outside: whether the process
has a child running multiprocessing's fork server."""

import contextlib
import multiprocessing
import os
import subprocess
import sys
import time

import psutil
import pytest

# Imported by reference in the spawned process below: nothing of the project at the top of this module, so the
# project is first imported inside the run's function, as in Dagster's own run process.


def fork_server_running(timeout_s: float = 10) -> bool:
    """Whether this process has a child running multiprocessing's fork server. A child just started may not show
    its own command line yet (the parent's until it starts its program, none while it does): while this process has
    a child that is not the fork server, it is looked at again, for at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = []
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.NoSuchProcess):
                lines.append(" ".join(child.cmdline()))
        if any("multiprocessing.forkserver import main" in line for line in lines):
            return True
        # multiprocessing's resource tracker, started beside the fork server or by a Queue, is neither.
        if not [line for line in lines if "multiprocessing.resource_tracker" not in line] or (
                time.monotonic() > deadline):
            return False
        time.sleep(0.05)


def start_run_in_subprocess(answers: multiprocessing.Queue) -> None:
    """Named as the function Dagster's code server runs a launched run in (checked below)."""
    import pipelines  # noqa: F401  (as the run's process imports the project to load the job)

    answers.put(fork_server_running())


@pytest.mark.parametrize(("executor", "starts"), [("", True), ("multiprocess", True), ("in_process", False)])
def test_a_run_s_own_process_starts_the_fork_server_when_it_imports_the_project(executor, starts,
                                                                                 monkeypatch) -> None:
    """Unless its steps run in the run's own process (DAGSTER_EXECUTOR=in_process), where none would use it."""
    from dagster._grpc import impl

    from pipelines.step_server import DAGSTER_RUN_PROCESS

    # The name looked for is still Dagster's (a rename would silently lose the early start).
    assert impl.start_run_in_subprocess.__name__ == DAGSTER_RUN_PROCESS == start_run_in_subprocess.__name__
    monkeypatch.setenv("DAGSTER_EXECUTOR", executor)
    context = multiprocessing.get_context("spawn")  # as Dagster's code server starts a run's process
    answers = context.Queue()
    process = context.Process(target=start_run_in_subprocess, args=(answers,))
    process.start()
    try:
        assert answers.get(timeout=60) is starts
    finally:
        process.join(timeout=60)
    assert process.exitcode == 0


def test_other_processes_that_load_the_project_start_none() -> None:
    """The code server, the webserver, a test: they load the definitions but run no steps."""
    # No child process at all: a fork server just started may not show its own command line yet.
    check = "import pipelines.definitions, psutil; print(psutil.Process().children())"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PIPELINE_EXECUTOR": "multiprocess"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    assert not fork_server_running()  # nor this test's process, which imported the project too
