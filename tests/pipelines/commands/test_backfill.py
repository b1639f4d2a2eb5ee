"""`make backfill`: past real releases (data/releases) into the archive and the vintages, oldest first, then a
nightly run whose report starts its revisions view with that history. Expected values come from the release files
read with csv and hashlib."""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.publication.cases_report import cases_report
from assets.publication.datastore_tables import datastore_tables
from resources.settings import REPO_ROOT
from tests.conftest import all_source_assets, failure_text, pipeline_resources
from tests.samples import sample_path

# Each runs the command as an analyst does, in a fresh process (make test-fast leaves these out).
pytestmark = pytest.mark.commands

RELEASES = REPO_ROOT / "data" / "releases"
SOURCE = "phe_cases_by_region"


def make_backfill(storage: Path, folder: Path, home: Path) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage), "DAGSTER_HOME": str(home)}
    return subprocess.run(["make", "-s", "backfill", f"FOLDER={folder}"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def august_pair(tmp_path: Path) -> Path:
    """The two consecutive August 2020 releases of London's cases, as a folder of their own."""
    folder = tmp_path / "releases"
    for day in ("2020-08-28", "2020-08-29"):
        shutil.copytree(RELEASES / day, folder / day)
    return folder


def test_past_releases_load_oldest_first_and_the_next_report_shows_their_revisions(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    releases = august_pair(tmp_path)
    done = make_backfill(storage, releases, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    days = sorted(path.name for path in releases.iterdir())
    loaded = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert loaded == days  # in release order
    for day in days:
        files = sorted((releases / day / SOURCE).iterdir())
        archived = sorted((storage / "raw" / SOURCE / f"backfill-{day}").glob("*.csv.gz"))
        assert sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in files) == sorted(
            hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest() for p in archived)
        vintage = pd.read_parquet(storage / "vintages" / SOURCE / f"{day}.parquet")
        assert len(vintage) == sum(len(rows(path)) for path in files)
    # Kept as the past, not as the latest download a nightly fetch compares with.
    assert not (storage / "raw" / SOURCE / "latest").exists()
    assert not (storage / "tables").exists()

    # A nightly run of the shipped release (20 November 2020) now has three releases of London's cases behind it.
    result = dg.materialize([*all_source_assets(), datastore_tables, cases_report],
                            resources=pipeline_resources(storage, "http://127.0.0.1:9/unused", mode="sample"),
                            raise_on_error=False)
    assert result.success, failure_text(result)
    [report] = (storage / "reports").glob("cases_report_*.html")
    text = re.sub(r"\s+", " ", report.read_text())
    first_day = date.fromisoformat(days[0])
    assert f"3 releases kept, {first_day.day} {first_day:%b %Y} to 20 Nov 2020" in text
    first = {r["Specimen date"]: int(r["Daily lab-confirmed cases"]) for r in rows(releases / days[0] / SOURCE /
                                                                                  "region_london.csv")}
    now = {r["date"]: int(r["newCasesBySpecimenDate"]) for r in rows(sample_path(SOURCE, "region_london.csv"))}
    day = max(d for d in first if d in now and first[d] != now[d])
    row = re.search(rf'data-testid="revised-day-{day}">(.*?)</tr>', report.read_text(), re.S)[1]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    written = {iso: f"{d.day} {d:%b %Y}" for iso in (day, days[0]) if (d := date.fromisoformat(iso))}
    assert cells[:5] == [written[day], written[days[0]], f"{first[day]:,}", "20 Nov 2020", f"{now[day]:,}"]


def test_a_bad_file_is_named_and_the_other_releases_still_load(tmp_path: Path) -> None:
    folder = august_pair(tmp_path)
    broken = folder / "2020-08-28" / SOURCE / "region_london.csv"
    broken.write_text(broken.read_text().replace("Specimen date", "Publish date", 1))
    storage = tmp_path / "storage"
    done = make_backfill(storage, folder, tmp_path / "home")
    assert done.returncode != 0
    [failure] = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert "2020-08-28" in failure and SOURCE in failure and "region_london" in failure
    assert sorted(p.stem for p in (storage / "vintages" / SOURCE).glob("*.parquet")) == ["2020-08-29"]


def test_a_storage_that_refuses_the_archive_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    """A file where the raw archive goes (as a full or read-only disk refuses it): one line naming the path and
    PIPELINE_DATA_DIR, as the nightly's steps say it (it was a traceback)."""
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / "raw").write_text("a file where the archive goes")
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage), "DAGSTER_HOME": str(tmp_path)}
    env.pop("VERBOSE", None)
    done = subprocess.run([sys.executable, "-m", "pipelines.commands.backfill", str(RELEASES)], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert line.startswith(f"the storage refused {storage / 'raw'}/") and line.endswith(
        f"(Not a directory): PIPELINE_DATA_DIR ({storage}) must be a folder this account can write, with room")
