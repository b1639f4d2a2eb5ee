"""`make parse`: one real file through a source's parser, in a fresh process, touching nothing stored."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from pytest_httpserver import HTTPServer

from resources.settings import REPO_ROOT
from tests.samples import sample_path

# Each runs the command as an analyst does, in a fresh process (make test-fast leaves these out).
pytestmark = pytest.mark.commands


def parse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.commands.parse", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


LEGACY = REPO_ROOT / "data" / "reference" / "phe" / (
    "legacy_csv_coronavirus-cases_2020-04-28_LONDON_CUT_first_date_only.csv")


def test_a_real_file_is_summarised_with_london_s_latest_values() -> None:
    path = LEGACY
    before = sorted(REPO_ROOT.glob("storage/**/*"))
    done = parse("phe_cases_by_utla", str(path))
    assert done.returncode == 0, done.stderr
    with path.open(newline="") as handle:
        upper = [r for r in csv.DictReader(handle) if r["Area type"] == "Upper tier local authority"]
    assert f"phe_cases_by_utla: 32 rows, {upper[0]['Specimen date']} .. {upper[0]['Specimen date']}" in done.stdout
    camden = next(r for r in upper if r["Area code"] == "E09000007")
    line = next(line for line in done.stdout.splitlines() if "E09000007" in line)
    assert line.split()[-3:-1] == [camden["Daily lab-confirmed cases"], camden["Cumulative lab-confirmed cases"]]
    assert "validation (PheCasesByUtla): passed" in done.stdout
    assert sorted(REPO_ROOT.glob("storage/**/*")) == before  # nothing stored


def test_files_with_spaces_named_for_their_requests_and_a_url(httpserver: HTTPServer) -> None:
    pathways = sample_path("nhs_111", "NHS Pathways Covid-19 data CCG mapped.csv")
    online = sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv")
    httpserver.expect_request("/online.csv").respond_with_data(online.read_bytes())
    done = parse("nhs_111", f'pathways="{pathways}" online={httpserver.url_for("/online.csv")}')
    assert done.returncode == 0, done.stderr
    assert "nhs_111: 111 rows, 2020-03-18 .. 2020-03-18" in done.stdout
    assert "note: NHS Pathways Covid-19 data CCG mapped.csv: 55 London rows kept" in done.stdout


def test_a_file_that_cannot_be_read_says_why_and_fails() -> None:
    done = parse("ons_infection_survey", str(REPO_ROOT / "README.md"))
    assert done.returncode == 1
    assert "ons_infection_survey could not read it: README.md: could not be opened as an Excel workbook" in done.stderr


def test_what_was_read_and_left_out_is_printed() -> None:
    """The 2020 download lists every borough twice (upper- and lower-tier): the copies are counted, as the csv module
    counts them; an early ONS workbook says which sheets it read and the period label it corrected."""
    with LEGACY.open(newline="") as handle:
        lower = [r for r in csv.DictReader(handle) if r["Area type"] == "Lower tier local authority"]
    done = parse("phe_cases_by_utla", str(LEGACY))
    assert (f"not read, as expected: 1 row of other areas (region); {len(lower)} rows of the same areas under another "
            "area type (ltla)") in done.stdout
    early = REPO_ROOT / "data" / "reference" / "ons" / "covid19infectionsurveydatasets2021012928012021212458.xlsx"
    done = parse("ons_infection_survey", str(early))
    assert done.returncode == 0, done.stderr
    for said in ("note: official weekly for England: sheet '1a', 38 rows",
                 "note: modelled daily for London: sheet '1f', 42 rows",
                 "note: period label corrected: sheet '1a' row 44: '3 January 2012 to 9 January 2021' read as",
                 "not read, as expected: 8 rows of other regions (sheet '1e')",
                 "validation (OnsInfectionSurvey): passed"):
        assert said in done.stdout
