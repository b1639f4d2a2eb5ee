"""The commands as an analyst runs them, each in a fresh process, against a new Dagster home and storage: shared by
the command and fault tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import dagster as dg

from pipelines.commands.datastore_standin import StandIn
from resources.settings import REPO_ROOT


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def approve(env: dict[str, str], version: str, *extra: str) -> subprocess.CompletedProcess:
    return run(env, "pipelines.commands.approve", "--by", "Ana Analyst", "--version", version, *extra)


@contextmanager
def instance_at(home: Path | str) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance a command recorded its runs in, opened as the commands open it: with DAGSTER_HOME set
    (config/dagster.yaml's event log storage reads it)."""
    with mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home)}), dg.DagsterInstance.get() as instance:
        yield instance


def fresh_environment(tmp_path: Path, standin: StandIn) -> dict[str, str]:
    """A new Dagster home and storage, sample mode, the stand-in as the Datastore, no key. The stand-in's API tables
    that follow a file do so as it arrives; the GLA's healthcare table never does, and every publish sending that
    file waits the whole LDS_TABLE_TIMEOUT_S for it (1 s here, 2 min as shipped)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(tmp_path / "storage"),
           "PIPELINE_MODE": "sample", "LDS_URL": standin.url, "LDS_DATASET": standin.dataset,
           "LDS_TABLE_TIMEOUT_S": "1", "LDS_TABLE_POLL_S": "0.2"}
    for name in ("LDS_API_KEY", "LDS_DRY_RUN_DIR", "LDS_REHEARSAL", "VERBOSE"):
        env.pop(name, None)
    return env


def nightly(env: dict[str, str]) -> tuple[str, str]:
    """Run `make run`'s entry point; returns its output and the report version from its last line."""
    result = run(env, "pipelines.commands.run")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stdout.strip().splitlines()[-1].removeprefix("report_version: ")


def one_message(result: subprocess.CompletedProcess) -> str:
    """What the analyst reads: one plain message, no stack trace, no Dagster step log."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "STEP_FAILURE" not in output and "dagster - " not in output, output
    return output
