"""The code's shape: imports point one way, and settings are read when things are built, not when they load."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.definitions import build_definitions
from resources import build_resources
from resources.settings import CODE_LOCATION, REPO_ROOT

LOWER_LAYERS = ("reports", "checks")
UPPER_LAYERS = ("assets", "pipelines")


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_reports_and_checks_import_nothing_from_assets_or_pipelines(package: str) -> None:
    for path in (REPO_ROOT / package).rglob("*.py"):
        assert not project_imports(path) & set(UPPER_LAYERS), path


def test_no_module_edits_sys_path() -> None:
    """The project is installed (editable); nothing finds its own packages by editing the import path."""
    for package in ("pipelines", "assets", "resources", "checks", "reports", "tests", "bench", "data"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            uses = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)
                    and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys"]
            assert not uses, path


def test_settings_are_read_when_the_definitions_are_built(monkeypatch, tmp_path: Path) -> None:
    # Everything is imported already (above); settings changed now must still reach what is built next.
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("REPORTS_URL", "http://reports.example:8080")
    monkeypatch.setenv("ONS_URL", "http://127.0.0.1:9/ons.xlsx")
    monkeypatch.setenv("FETCH_STEP_RETRIES", "7")
    resources = build_resources()
    assert resources["archive"].data_dir == str(tmp_path / "elsewhere")
    assert resources["io_manager"].base_dir == str(tmp_path / "elsewhere")
    assert resources["reports"].base_url == "http://reports.example:8080"
    assert resources["upstreams"].base_url("ons") == "http://127.0.0.1:9/ons.xlsx"
    defs = build_definitions()
    raw = defs.resolve_assets_def(dg.AssetKey(["raw", "phe_healthcare"]))
    assert raw.op.retry_policy.max_retries == 7


def test_the_workspace_s_location_is_the_one_the_launchpad_links_name() -> None:
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    assert entry["python_module"]["location_name"] == CODE_LOCATION
