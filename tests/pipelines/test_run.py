"""`make run`'s entry point, run the way make runs it: a fresh process, a fresh instance, the shipped samples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from assets import SOURCES
from resources.settings import REPO_ROOT


def test_nightly_run_on_samples_leaves_six_tables_and_the_raw_archive(tmp_path: Path) -> None:
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(storage), "PIPELINE_MODE": "sample"}
    for name in ("PHE_API_URL", "ONS_URL", "NHS111_URL", "UKHSA_API_URL"):
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "pipelines.run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
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
