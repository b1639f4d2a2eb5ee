"""The settings an operator reads about are the settings the code reads: the table in docs/operations.md is the one
generated from resources/settings.py, and no module reads an environment variable that is not declared there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.commands.docs import OPERATIONS, with_settings_table
from resources import settings
from resources.errors import SettingError
from resources.settings import REPO_ROOT, SETTINGS

# How code names a setting: through the settings module, the environment, or Dagster's EnvVar; and the variables
# the instance configs and the Makefile hand to Dagster.
READS = re.compile(r"""(?:\b(?:text|number|flag|choice)\(|environ\.get\(|environ\[|EnvVar\(|getenv\()"""
                   r"""\s*["']([A-Z][A-Z0-9_]+)["']""")
CONFIG_READS = re.compile(r"\benv:\s*([A-Z][A-Z0-9_]+)")
MAKE_EXPORTS = re.compile(r"^export ([A-Z][A-Z0-9_]+)", re.M)


def project_files(*patterns: str) -> list[Path]:
    folders = ("assets", "pipelines", "resources", "checks", "reports", "bench")
    return [path for folder in folders for pattern in patterns for path in (REPO_ROOT / folder).rglob(pattern)]


def test_the_settings_table_in_the_docs_is_the_one_the_code_declares() -> None:
    document = OPERATIONS.read_text(encoding="utf-8")
    assert document == with_settings_table(document), "docs/operations.md is out of date: run `make docs`"
    for name in SETTINGS:
        assert f"| `{name}` |" in document


def test_nothing_reads_a_variable_the_settings_do_not_declare() -> None:
    read: dict[str, set[str]] = {}
    for path in project_files("*.py"):
        for name in READS.findall(path.read_text(encoding="utf-8")):
            read.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    for path in (REPO_ROOT / "config").glob("*.yaml"):
        for name in CONFIG_READS.findall(path.read_text(encoding="utf-8")):
            read.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    for name in MAKE_EXPORTS.findall((REPO_ROOT / "Makefile").read_text(encoding="utf-8")):
        read.setdefault(name, set()).add("Makefile")
    assert len(read) > 20  # the scan finds the reads it is meant to find
    undeclared = {name: sorted(where) for name, where in read.items() if name not in SETTINGS}
    assert not undeclared, f"read but not declared in resources/settings.py SETTINGS: {undeclared}"


@pytest.mark.parametrize("name", ["PIPELINE_DATA_DIR", "LDS_DRY_RUN_DIR"])
def test_a_folder_setting_that_is_a_file_is_refused_naming_the_setting(monkeypatch, tmp_path: Path,
                                                                         name: str) -> None:
    """Every write there would fail, the fetches' only after their retries (minutes): refused before anything runs."""
    read = {"PIPELINE_DATA_DIR": settings.data_dir, "LDS_DRY_RUN_DIR": settings.lds_dry_run_dir}[name]
    file = tmp_path / "storage.txt"
    file.write_text("not a folder")
    for setting in (file, file / "inside"):
        monkeypatch.setenv(name, str(setting))
        with pytest.raises(SettingError, match=rf"^{name}='{setting}' is not a folder: {file} is a file$"):
            read()
    monkeypatch.setenv(name, str(tmp_path / "new" / "storage"))  # made by the first write
    assert Path(read()) == tmp_path / "new" / "storage"


def test_a_blank_setting_means_its_default_and_a_bad_number_names_the_variable(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIPELINE_DATA_DIR", " ")
    monkeypatch.chdir(tmp_path)
    assert settings.data_dir() == REPO_ROOT / "storage"  # not the current folder
    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "five")
    with pytest.raises(ValueError, match="HTTP_MAX_ATTEMPTS='five' is not a whole number"):
        settings.http_max_attempts()
    monkeypatch.setenv("PIPELINE_MODE", "Live")
    assert settings.pipeline_mode() == "live"
    monkeypatch.setenv("PIPELINE_MODE", "production")
    with pytest.raises(ValueError, match="PIPELINE_MODE='production' is not one of sample, live, replay"):
        settings.pipeline_mode()


@pytest.mark.parametrize(("name", "value", "said"), [
    # Each would have run and failed far from the setting: no download attempted at all ("gave up after 0
    # attempts"), a deadline passed before the first byte, a retry policy Dagster rejects inside the step, a port
    # the operating system refuses only when a server binds it.
    ("HTTP_MAX_ATTEMPTS", "0", "is out of range: it must be at least 1"),
    ("HTTP_DEADLINE_S", "-5", "is out of range: it must be at least 1"),
    ("FETCH_STEP_RETRIES", "-1", "is out of range: it must be at least 0"),
    ("DOWNLOADS_PER_HOST", "0", "is out of range: it must be at least 1"),
    ("DAGSTER_PORT", "70000", "is out of range: it must be from 1 to 65535"),
    ("HTTP_DEADLINE_S", "nan", "is not a number"),
])
def test_a_number_out_of_its_range_is_refused_naming_the_setting(monkeypatch, name: str, value: str,
                                                                  said: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError, match=f"^{name}='{value}' {said}$"):
        settings.number(name)
    monkeypatch.setenv(name, str(SETTINGS[name].least))  # the end of the range is in it
    assert settings.number(name) == SETTINGS[name].least


def test_dagster_home_unset_or_not_a_folder_is_refused_naming_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(SettingError, match=r"^DAGSTER_HOME is not set: the make targets set it to \.dagster_home"):
        settings.dagster_home()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "absent"))
    with pytest.raises(SettingError, match=r"^DAGSTER_HOME='.*absent' is not a folder"):
        settings.dagster_home()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert settings.dagster_home() == tmp_path
