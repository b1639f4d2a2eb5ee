"""The Dagster code location as the UI and CLI load it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest

from assets.sources import SOURCES
from pipelines.definitions import build_definitions
from resources.errors import SettingError
from resources.settings import REPO_ROOT, SETTINGS

defs = build_definitions()
SNAPSHOT = Path(__file__).with_name("definitions.snapshot.txt")
SNAPSHOT_HEADER = (
    "# The Dagster definitions, as tests/pipelines/test_definitions.py describes them (defaults for every setting).\n"
    "# A change here is a change to the graph: review it. Regenerate: UPDATE_SNAPSHOT=1 .venv/bin/pytest "
    "tests/pipelines/test_definitions.py\n")


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


@pytest.mark.parametrize(("setting", "executor"), [("", "multiprocess"), ("in_process", "in_process"),
                                                   ("In_Process ", "in_process")])
def test_launched_runs_execute_as_dagster_executor_says(setting: str, executor: str, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_EXECUTOR", setting)
    nightly = build_definitions().resolve_job_def("nightly")
    assert nightly.executor_def.name == executor


def test_an_unknown_executor_is_named_when_the_code_loads(monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_EXECUTOR", "threads")
    with pytest.raises(SettingError, match=r"^DAGSTER_EXECUTOR='threads' is not one of multiprocess, in_process$"):
        build_definitions()


@pytest.mark.commands
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


def describe(definitions: dg.Definitions) -> str:
    """The graph as a reviewer reads it: every asset (group, kinds, what it reads, pool, retries, freshness), check,
    job (what it runs, its tags), schedule, sensor and run-config field, and the resources, one line each."""
    graph = definitions.resolve_asset_graph()
    lines = ["assets"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node, assets = graph.get(key), definitions.resolve_assets_def(key)
        parts = [f"  {key.to_user_string()}", f"group={node.group_name}", f"kinds={','.join(sorted(node.kinds))}",
                 f"reads={','.join(sorted(k.to_user_string() for k in node.parent_keys)) or '-'}"]
        if node.pools:
            parts.append(f"pool={','.join(sorted(node.pools))}")
        if assets.op.retry_policy:
            parts.append(f"retries={assets.op.retry_policy.max_retries}")
        if assets.op.tags:
            parts.append(f"op_tags={dict(sorted(assets.op.tags.items()))}")
        if node.freshness_policy:
            warn, fail = (window.days * 24 + window.seconds // 3600 for window in
                          (node.freshness_policy.warn_window, node.freshness_policy.fail_window))
            parts.append(f"freshness=warn after {warn} h, fail after {fail} h")
        lines.append("  ".join(parts))
        for check in sorted(node.check_keys, key=lambda c: c.name):
            spec = graph.get_check_spec(check)
            lines.append(f"    check {check.name}{'  blocking' if spec.blocking else ''}")
        config = getattr(assets.op.config_schema.config_type, "fields", {}) if assets.op.config_schema else {}
        for name, field in sorted(config.items()):
            default = f"default={field.default_value!r}" if field.default_provided else "required"
            lines.append(f"    config {name}  {default}")
    lines.append("jobs")
    for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's own implicit job
        keys = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
        tags = f"  tags={dict(sorted(job.tags.items()))}" if job.tags else ""
        lines.append(f"  {job.name}: {', '.join(keys)}{tags}")
    lines.append("schedules")
    for schedule in sorted(definitions.schedules, key=lambda s: s.name):
        lines.append(f"  {schedule.name}: {schedule.cron_schedule!r} {schedule.execution_timezone} -> "
                     f"{schedule.job_name}  {schedule.default_status.value}")
    lines.append("sensors")
    for sensor in sorted(definitions.sensors, key=lambda s: s.name):
        targets = ", ".join(job.name for job in sensor.jobs) if sensor.targets else "-"
        lines.append(f"  {sensor.name} ({type(sensor).__name__}, every {sensor.minimum_interval_seconds} s) -> "
                     f"{targets}  {sensor.default_status.value}")
    lines.append(f"resources: {', '.join(sorted(definitions.resources))}")
    return "\n".join(lines) + "\n"


def test_the_definitions_are_the_reviewed_snapshot(monkeypatch) -> None:
    """A change to the graph (an asset, check, job, schedule, sensor or config field added, removed or re-aimed)
    shows in review as a change to tests/pipelines/definitions.snapshot.txt. After a deliberate change:
    UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/pipelines/test_definitions.py, and commit the file with it."""
    for name in SETTINGS:  # the defaults, whatever this machine's environment says
        monkeypatch.delenv(name, raising=False)
    described = SNAPSHOT_HEADER + describe(build_definitions())
    if os.environ.get("UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(described)
    assert described == SNAPSHOT.read_text(), "the definitions changed: review, then UPDATE_SNAPSHOT=1 (see above)"
