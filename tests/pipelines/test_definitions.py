"""The Dagster code location as the UI and CLI load it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg

from assets.sources import SOURCES
from pipelines.definitions import build_definitions
from resources.settings import REPO_ROOT

defs = build_definitions()


def test_source_assets_grouped_by_source_and_every_asset_described() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    sources = set(SOURCES) | {f"raw/{name}" for name in SOURCES}
    groups = {"datastore_tables": "publication", "cases_report": "publication", "datastore_publish": "publish"}
    assert keys == sources | set(groups)
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        expected_group = groups.get(key.to_user_string(), key.path[-1])
        assert node.group_name == expected_group
        assert node.description and len(node.description) > 80


def test_every_clean_asset_has_a_blocking_schema_check() -> None:
    graph = defs.resolve_asset_graph()
    for name in SOURCES:
        [check_key] = graph.get_check_keys_for_assets({dg.AssetKey(name)})
        assert check_key.name == "schema_valid"
        assert graph.get_check_spec(check_key).blocking


def test_nightly_and_one_job_per_source() -> None:
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"nightly", *(f"{name}_job" for name in SOURCES)} <= names
    single = defs.resolve_job_def("phe_healthcare_job")
    # One source, then the tables and report rebuilt from it and the others' stored tables.
    assert {key.to_user_string() for key in single.asset_layer.executable_asset_keys} == {
        "phe_healthcare", "raw/phe_healthcare", "datastore_tables", "cases_report"
    }


def test_workspace_yaml_loads_from_the_repo_root_and_elsewhere(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    for cwd in (REPO_ROOT, tmp_path):
        completed = subprocess.run(
            [str(dagster), "definitions", "validate", "-w", str(REPO_ROOT / "workspace.yaml")],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert "All code locations passed validation" in completed.stderr + completed.stdout


def test_pyproject_has_no_table_that_overrides_workspace_yaml() -> None:
    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]
    assert "dagster" not in tool and "dg" not in tool


def test_publish_runs_only_when_launched_with_an_approval() -> None:
    publish = defs.resolve_job_def("publish")
    assert {k.to_user_string() for k in publish.asset_layer.executable_asset_keys} == {"datastore_publish"}
    nightly = defs.resolve_job_def("nightly")
    assert dg.AssetKey("datastore_publish") not in nightly.asset_layer.executable_asset_keys
    # No schedule or sensor may target it, and it has no automation condition.
    assert all(schedule.job_name != "publish" for schedule in defs.schedules)
    for sensor in defs.sensors:
        targeted = [job.name for job in sensor.jobs] if sensor.targets else []  # a failure sensor targets none
        assert "publish" not in targeted
    assert defs.resolve_asset_graph().get(dg.AssetKey("datastore_publish")).automation_condition is None
    # The approval has no defaults: the Launchpad demands both fields.
    fields = publish.run_config_schema.config_type.fields["ops"].config_type.fields["datastore_publish"]
    config = fields.config_type.fields["config"].config_type.fields
    assert config["approved_by"].is_required and config["report_version"].is_required
