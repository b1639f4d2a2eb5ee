"""Faults a hostile world sends, with real processes: a publish killed part way, a publish stopped, two approvals at
once. Each asserts what the analyst sees, that nothing is lost, and that the next run works."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from resources.settings import REPO_ROOT
from tests.conftest import live_environment, serve_all_samples
from tests.processes import approve, fresh_environment, instance_at, nightly, one_message, run
from tests.publishing import SENT, preload_gla

pytestmark = pytest.mark.commands


@pytest.fixture
def approved_build(tmp_path: Path, standin: StandIn, httpserver: HTTPServer, built: str
                   ) -> tuple[dict[str, str], str]:
    """A live build from local servers, ready to approve, with the GLA's files on the stand-in and its key set. The
    build is a copy (tests.conftest `built`): these tests are about the publish, which runs in its own process."""
    env = fresh_environment(tmp_path, standin) | live_environment(serve_all_samples(httpserver))
    assert Path(env["PIPELINE_DATA_DIR"]).is_dir()  # the copy is where the commands look
    preload_gla(standin)
    env["LDS_API_KEY"] = KEY
    return env, built


def start_publish(env: dict[str, str], version: str, standin: StandIn, delay_s: float = 0.5) -> subprocess.Popen:
    """`make approve` in the background against a Datastore taking `delay_s` per request, returned once its first
    file has arrived."""
    standin.delay_s = delay_s
    process = subprocess.Popen([sys.executable, "-m", "pipelines.commands.approve", "--by", "Ana Analyst",
                                "--version", version], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not standin.uploads():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no upload arrived"
        time.sleep(0.1)
    return process


def runs(env: dict[str, str]) -> list[dg.DagsterRun]:
    with instance_at(env["DAGSTER_HOME"]) as instance:
        return instance.get_runs(filters=dg.RunsFilter(job_name="publish"))


def test_a_publish_killed_after_its_first_upload_does_not_block_the_next(approved_build, standin: StandIn) -> None:
    env, version = approved_build
    killed = start_publish(env, version, standin)
    killed.kill()  # SIGKILL: no handler runs, the run and its pool slot are left as they were
    killed.wait()
    standin.delay_s = 0.0

    again = approve(env, version)
    message = one_message(again)
    assert again.returncode == 0, message
    [dead] = [run for run in runs(env) if run.run_id != runs(env)[0].run_id]
    assert (f"note: run {dead.run_id[:8]} (publish, started" in message
            and "was left unfinished by a process that is gone" in message and "marked failed and its slots freed"
            in message)
    assert f"published report version {version} approved by Ana Analyst" in message
    assert dead.status == dg.DagsterRunStatus.FAILURE
    # Nothing lost: every file of the version is on the Datastore, each once.
    titles = [resource["title"] for resource in standin.resources().values()]
    assert all(titles.count(name) == 1 for name in SENT)


def test_a_second_approval_names_the_publish_running_and_a_stop_ends_it_cleanly(approved_build,
                                                                                standin: StandIn) -> None:
    env, version = approved_build
    # Slow enough (about 20 s for its requests) that the second approval and the stop come while it still runs,
    # however busy the machine (the second approval takes 2-5 s).
    first = start_publish(env, version, standin, delay_s=1.0)
    started = time.monotonic()
    second = approve(env, version)
    assert time.monotonic() - started < 60  # it does not wait for the slot
    message = one_message(second)
    [running] = runs(env)
    assert second.returncode == 1
    assert (f"another publish is running: run {running.run_id[:8]} (publish, approved by Ana Analyst, started"
            in message and "Nothing was sent" in message)

    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, out + err
    assert "publish stopped (Ctrl-C or SIGTERM) before it finished" in err and "Traceback" not in out + err
    [stopped] = runs(env)
    assert stopped.is_finished and stopped.status != dg.DagsterRunStatus.SUCCESS

    standin.delay_s = 0.0
    third = approve(env, version)
    assert third.returncode == 0, one_message(third)
    assert "left unfinished" not in third.stdout  # the stopped run closed itself
    assert f"published report version {version}" in third.stdout


def test_a_report_history_cut_short_is_named_and_moving_it_aside_mends_the_next_run(
        tmp_path: Path, standin: StandIn, built_from_samples: str) -> None:
    """history.json as a crash before atomic writes (or a full disk) left it: make run names the file and what to
    do; done, the next run works and the reports already built stay."""
    env = fresh_environment(tmp_path, standin)
    version = built_from_samples  # what make run leaves (a copy): the runs that follow are the subject
    history = Path(env["PIPELINE_DATA_DIR"]) / "reports" / "history.json"
    whole = history.read_bytes()
    history.write_bytes(whole[: len(whole) // 2])

    damaged = run(env, "pipelines.commands.run")
    assert damaged.returncode == 1
    [line] = [line for line in damaged.stdout.splitlines() if line.startswith("FAILED cases_report")]
    assert line.startswith(f"FAILED cases_report: {history} could not be read (")  # no class name before it
    assert "move it aside: the next run starts a new list" in line
    # Dagster's log above it tells the failure by its message, without the stack traces (VERBOSE=1 adds them).
    said = damaged.stdout + damaged.stderr
    assert f"DamagedFile: {history} could not be read (" in damaged.stderr
    assert "(VERBOSE=1 shows the stack trace here; the run's page in the Dagster UI has it)" in damaged.stderr
    assert "Stack Trace" not in said and 'File "' not in said and "Traceback" not in said

    history.rename(history.with_name("history.json.damaged"))
    _, again = nightly(env)
    assert again == version
    assert (history.parent / f"cases_report_{version}.html").is_file()
