"""The code's shape: imports point one way, and settings are read when things are built, not when they load."""

from __future__ import annotations

import ast
import gc
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.definitions import build_definitions
from resources import build_resources
from resources.settings import CODE_LOCATION, REPO_ROOT

# The rooms from the bottom up: a module imports only from its own room and the rooms below it. So the parsers and
# the report run without Dagster's wiring, a source never depends on what is published from it, and the commands
# and the service sit on top of the wiring they run.
LAYERS = (
    ("resources",),
    ("checks",),
    ("reports",),
    ("assets.ingest",),
    ("assets.formats",),
    ("assets.sources",),
    ("assets.publication",),
    ("pipelines.definitions", "pipelines.jobs", "pipelines.automation"),
    ("pipelines.commands", "pipelines.service", "pipelines.preload"),
)
PACKAGES = ("pipelines", "assets", "resources", "checks", "reports")
# What a package's __init__ may import: the fork server's early start runs when the project is first imported in a
# run's process, and imports nothing of the project itself (it is outside the rooms, so checked to import nothing).
FIRST_IMPORTED = {"pipelines": {"pipelines.step_server"}}


def project_imports(path: Path) -> set[str]:
    # No garbage collection while parsing: on Python 3.11 a finalizer that a collection runs inside ast.parse (here,
    # an earlier test's Dagster instance closing its database connection) can fail it with "SystemError: AST
    # constructor recursion depth mismatch" (python/cpython#106905; seen once in a full run).
    gc.disable()
    try:
        tree = ast.parse(path.read_text())
    finally:
        gc.enable()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def layer(module: str) -> int | None:
    for number, rooms in enumerate(LAYERS):
        if any(module == room or module.startswith(f"{room}.") for room in rooms):
            return number
    return None


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_the_rooms(package: str) -> None:
    for path in (REPO_ROOT / package).rglob("*.py"):
        own = layer(module_name(path))
        if own is None:  # a package's own __init__ (assets, pipelines): a docstring only, or FIRST_IMPORTED
            assert project_imports(path) <= FIRST_IMPORTED.get(module_name(path), set()), path
            continue
        upward = [name for name in project_imports(path) if (layer(name) or 0) > own]
        assert not upward, f"{module_name(path)} imports {upward}, from a room above its own"


def test_every_room_is_installed() -> None:
    """The package list in pyproject.toml is every folder of the five packages: a new room left out would import
    in the editable checkout but not from an installed copy (the Docker image)."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(path.parent.relative_to(REPO_ROOT).parts) for package in PACKAGES
               for path in (REPO_ROOT / package).rglob("__init__.py")}
    assert folders <= listed and listed - folders == {"reports.templates"}


def test_no_test_module_imports_another() -> None:
    """What tests share lives in helper modules (tests/conftest.py, samples.py, publishing.py, ...), so a test file
    can be run, moved or deleted alone."""
    for path in (REPO_ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        others = [name for name in imported if name.startswith("tests.") and name.split(".")[-1].startswith("test_")]
        assert not others, f"{path} imports {others}"


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
