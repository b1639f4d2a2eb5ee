"""`make run`'s entry point, run the way make runs it: a fresh process, a fresh instance, the shipped samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import psutil
import pytest

from assets.sources import SOURCES
from checks.published import PUBLISHED
from resources.settings import REPO_ROOT
from tests.processes import instance_at

# Each runs the command as an analyst does, in a fresh process (make test-fast leaves these out).
pytestmark = pytest.mark.commands


def test_nightly_run_on_samples_leaves_tables_archive_and_report(tmp_path: Path) -> None:
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(storage), "PIPELINE_MODE": "sample"}
    for name in ("PHE_API_URL", "ONS_URL", "NHS111_URL", "UKHSA_API_URL"):
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.commands.run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "succeeded" in completed.stdout
    for name in SOURCES:
        table = pd.read_parquet(storage / "tables" / f"{name}.parquet")
        assert len(table) > 0
        assert f"{name}" in completed.stdout
    assert len(list((storage / "raw").rglob("*.json"))) >= len(SOURCES)
    # The run is recorded in the instance, so it is in the UI's run history afterwards.
    assert any((home / "history").rglob("*.db"))
    # Other tools read the last two lines (README, "Quick start").
    report_line, version_line = completed.stdout.strip().splitlines()[-2:]
    assert report_line.startswith("report: ") and version_line.startswith("report_version: ")
    report = Path(report_line.removeprefix("report: "))
    version = version_line.removeprefix("report_version: ")
    assert report.exists() and report.parent == storage / "reports" and version in report.name
    published = {p.stem for p in (storage / "tables" / "datastore_tables").glob("*.parquet")}
    assert published == set(PUBLISHED)


def run_with_home(home: Path, storage: Path) -> subprocess.CompletedProcess:
    """`make run`'s command with DAGSTER_HOME `home`, as an analyst runs it (no VERBOSE)."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(storage)}
    env.pop("VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "pipelines.commands.run"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("wrong", ["a file", "no folder"])
def test_a_dagster_home_that_is_not_a_folder_is_named_in_one_line(tmp_path: Path, wrong: str) -> None:
    """Dagster's own refusal is a 15-line traceback naming Windows' syntax for setting it; the storage is untouched."""
    home = tmp_path / "dagster_home"
    if wrong == "a file":
        home.write_text("not a folder")
    completed = run_with_home(home, tmp_path / "storage")
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        f"DAGSTER_HOME='{home}' is not a folder: make creates its default, .dagster_home, with config/dagster.yaml; "
        "create this one the same way: fix the setting (docs/operations.md, \"Settings\") and run the command again."]
    assert not (tmp_path / "storage").exists()


@pytest.mark.parametrize(("content", "said"), [
    ("run_launcher:\n  class: [DefaultRunLauncher\n", "while parsing a flow sequence"),  # not YAML
    ("telemetry:\n  enabled: maybe\n", 'Value "maybe" of type'),  # YAML, not Dagster's configuration
], ids=["not YAML", "not Dagster's"])
def test_a_dagster_yaml_dagster_cannot_read_is_named_in_one_line(tmp_path: Path, content: str, said: str) -> None:
    """An instance configuration edited by hand and left broken: Dagster's traceback (its error lists every key it
    knows) becomes one line naming DAGSTER_HOME, what is wrong and what to do; nothing is stored."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(content)
    completed = run_with_home(home, tmp_path / "storage")
    assert completed.returncode == 1
    [line] = completed.stderr.splitlines()
    assert line.startswith(f"DAGSTER_HOME='{home}': Dagster cannot read its dagster.yaml (") and said in line
    assert "compare it with config/dagster.yaml, or delete it and make writes it again" in line
    assert not (tmp_path / "storage").exists()


# A database SQLite refuses to grow (SQLITE_FULL, what a full disk gives): max_page_count stands in for the disk.
FULL_DATABASE = """
import sys
import sqlalchemy

import pipelines.commands  # what every command imports first

with sqlalchemy.create_engine(f"sqlite:///{sys.argv[1]}").begin() as connection:
    connection.exec_driver_sql("PRAGMA max_page_count = 2")
    connection.exec_driver_sql("CREATE TABLE runs (body)")
    connection.exec_driver_sql("INSERT INTO runs VALUES (randomblob(100000))")
"""


@pytest.mark.parametrize("verbose", ["", "1"])
def test_dagster_s_database_on_a_full_disk_is_one_line_saying_where(tmp_path: Path, verbose: str) -> None:
    """SQLAlchemy's error for a full disk under DAGSTER_HOME is a 60-line traceback in any command (it filled in
    `make run` as the run started, or while it stored its events); the disk is named in one line, and VERBOSE=1
    still shows the traceback."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VERBOSE": verbose}
    completed = subprocess.run([sys.executable, "-c", FULL_DATABASE, str(tmp_path / "runs.db")], cwd=REPO_ROOT,
                               env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1
    if verbose:
        assert "Traceback" in completed.stderr and "database or disk is full" in completed.stderr
    else:
        assert completed.stderr.splitlines() == [
            f"Dagster's database in DAGSTER_HOME ({tmp_path}) could not be written: the database or disk is full. "
            "Free space on that disk (make prune removes old runs) and run the command again."]


def test_a_ctrl_c_while_a_command_is_still_loading_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C in a command's first second, while it imports Dagster and pandas: one line naming the command, where it
    was a traceback of 30-80 lines through whichever module was being imported; nothing stored, no run recorded."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(tmp_path / "storage")}
    env.pop("VERBOSE", None)
    starting = subprocess.Popen([sys.executable, "-m", "pipelines.commands.run"], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Loading takes it from about 10 MB to about 190 MB before anything runs: 60 MB is well inside the imports.
        loading, deadline = psutil.Process(starting.pid), time.monotonic() + 60
        while loading.memory_info().rss < 60 * 2**20:
            assert starting.poll() is None and time.monotonic() < deadline, starting.communicate()
            time.sleep(0.005)
        starting.send_signal(signal.SIGINT)
        out, err = starting.communicate(timeout=60)
    finally:
        starting.kill()
    assert starting.returncode == -signal.SIGINT and out == ""
    assert err == "make run stopped (Ctrl-C) while starting, before it did anything.\n"
    assert not (tmp_path / "storage").exists() and sorted(p.name for p in home.iterdir()) == ["dagster.yaml"]


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_stopped_run_says_it_was_stopped_not_that_its_sources_failed(tmp_path: Path, executor: str) -> None:
    """SIGTERM (`kill`; Ctrl-C is the same to it) once the first download is under way: the run ends at once, in one
    line saying it was stopped, exit 130, the run marked failed. A stop during a download used to be taken by Dagster
    as a failure to retry: the run waited the retry's minute, downloaded again and went on (this test then timed
    out); a stop elsewhere listed each step it cut short as a failed source ("FAILED phe_cases_by_utla:
    dagster._core.errors.DagsterExecutionInterruptedError"), and with a process per step (PIPELINE_EXECUTOR) every
    source as "no table stored yet" and "report: not produced". Dagster now and then loses a stop that lands while
    Python runs a finalizer, and the run finishes: a user stops it again, as this test does."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    # Unbuffered: its lines reach the test as they are written, not at its end.
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(tmp_path / "storage"),
           "PYTHONUNBUFFERED": "1", "PIPELINE_EXECUTOR": executor}
    env.pop("VERBOSE", None)
    for _attempt in range(3):
        running = subprocess.Popen([sys.executable, "-m", "pipelines.commands.run"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in running.stdout:  # Dagster's log lines, on stderr
                if " - raw__" in line:  # a fetch step has started
                    break
            running.send_signal(signal.SIGTERM)
            output = running.communicate(timeout=60)[0]
        finally:
            running.kill()
        if running.returncode != 0:
            break
    assert running.returncode == 130, output[-3000:]
    last = output.splitlines()[-1]
    assert last.startswith("make run stopped (Ctrl-C or SIGTERM) after "), output[-3000:]
    assert "FAILED" not in output and "DagsterExecutionInterruptedError" not in last
    with instance_at(home) as instance:
        assert instance.get_runs(limit=1)[0].status == dg.DagsterRunStatus.FAILURE
