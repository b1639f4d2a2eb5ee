"""`make approve`'s entry point against the Datastore stand-in, after a real nightly run, in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checks.published import PUBLISHED
from resources.settings import REPO_ROOT
from tests.assets.test_datastore_publish import GLA_RESOURCES, preload_gla
from tests.datastore_standin import StandIn

KEY = "lds-approve-test-key-0b7d3e"


@pytest.fixture
def standin(make_standin) -> StandIn:
    return make_standin(KEY)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_approve_publishes_the_version_from_the_nightly_run(tmp_path: Path, standin: StandIn) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(tmp_path / "storage"),
           "PIPELINE_MODE": "sample", "LDS_URL": standin.url, "LDS_DATASET": standin.dataset}
    env.pop("LDS_API_KEY", None)
    nightly = run(env, "pipelines.run")
    assert nightly.returncode == 0, nightly.stderr[-2000:]
    version = nightly.stdout.strip().splitlines()[-1].removeprefix("report_version: ")

    no_key = run(env, "pipelines.approve", "--by", "Ana Analyst", "--version", version)
    assert no_key.returncode == 2 and "LDS_API_KEY is not set" in no_key.stderr
    env["LDS_API_KEY"] = KEY
    wrong = run(env, "pipelines.approve", "--by", "Ana Analyst", "--version", "000000000000")
    assert wrong.returncode == 1 and "Refusing to publish" in wrong.stdout + wrong.stderr
    assert standin.log == []

    preload_gla(standin)  # the dataset as the GLA left it: its five files, the boroughs' with an API table
    env |= {"LDS_TABLE_TIMEOUT_S": "5", "LDS_TABLE_POLL_S": "0.2"}
    approved = run(env, "pipelines.approve", "--by", "Ana Analyst", "--version", version)
    assert approved.returncode == 0, approved.stdout[-2000:] + approved.stderr[-2000:]
    assert f"published report version {version} approved by Ana Analyst" in approved.stdout
    assert KEY not in approved.stdout + approved.stderr

    # The dataset holds the GLA's files, replaced in place with the GLA's header lines, plus ours: no title twice.
    resources = standin.resources()
    assert sorted(r["title"] for r in resources.values()) == sorted(t.file_name for t in PUBLISHED.values())
    for title, (resource_id, _) in GLA_RESOURCES.items():
        real = (REPO_ROOT / "data" / "reference" / "gla_published" / title).read_bytes()
        sent = standin.content[(standin.dataset, resource_id)]
        assert resources[resource_id]["title"] == title
        assert sent.splitlines()[0] == real.splitlines()[0], title
    assert len(standin.table_rows("s8c9t_j4fs2")) == sent_rows(standin, "151e497c")

    uploads = len(standin.uploads())
    again = run(env, "pipelines.approve", "--by", "Ana Analyst", "--version", version)
    assert again.returncode == 0 and "0 file(s) sent" in again.stdout
    assert len(standin.uploads()) == uploads


def sent_rows(standin: StandIn, resource_id: str) -> int:
    return len(standin.content[(standin.dataset, resource_id)].splitlines()) - 1
