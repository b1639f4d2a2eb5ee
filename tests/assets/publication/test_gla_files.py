"""The GLA's five files, as existing Datastore users read them.

The expected header lines, line ends, quoting, missing-value marker and row order are read from the real copies of
the GLA's own published files (data/reference/gla_published/, provenance in data/PROVENANCE.md); the expected
values are computed here from the shipped release's raw files with the csv and json modules, never through the
pipeline's parsers or lookups.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise

import pytest

from assets.publication.datastore_tables import build_datastore_tables
from checks.published import GLA_FILES, PUBLISHED
from resources.settings import REPO_ROOT
from tests.samples import clean_sample_tables, sample_path, sample_rows

REAL = REPO_ROOT / "data" / "reference" / "gla_published"
LONDON_CODES = {f"E090000{n:02d}" for n in range(2, 34)}


@pytest.fixture(scope="module")
def published() -> dict[str, bytes]:
    tables = build_datastore_tables(clean_sample_tables())
    return {name: PUBLISHED[name].to_bytes(tables[name]) for name in GLA_FILES}


def real_bytes(name: str) -> bytes:
    return (REAL / f"{name}.csv").read_bytes()


def rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


def days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def test_the_gla_files_are_published_under_the_gla_names() -> None:
    assert sorted(f"{name}.csv" for name in GLA_FILES) == sorted(path.name for path in REAL.glob("*.csv"))
    ours = [table.file_name for table in PUBLISHED.values() if not table.gla]
    assert not set(ours) & {path.name for path in REAL.glob("*.csv")}


@pytest.mark.parametrize("name", GLA_FILES)
def test_header_line_ends_and_quoting_are_the_gla_copy_s(name: str, published: dict[str, bytes]) -> None:
    real, ours = real_bytes(name), published[name]
    real_end = b"\r\n" if real.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    assert ours.split(real_end, 1)[0] == real.split(real_end, 1)[0]  # the header line, byte for byte
    assert ours.endswith(real_end) and (b"\r\n" in ours) == (real_end == b"\r\n")
    real_first, ours_first = real.split(real_end)[1], ours.split(real_end)[1]
    # Quoted text where the GLA quoted it ("London" in the London/England file), bare elsewhere.
    assert (b'"' in real_first) == (b'"' in ours_first)


@pytest.mark.parametrize("name", ["phe_cases_age_london", "phe_healthcare"])
def test_missing_values_are_written_na_as_the_gla_did(name: str, published: dict[str, bytes]) -> None:
    assert b",NA" in real_bytes(name) and b",NA" in published[name] and b",," not in published[name]


def test_boroughs_are_the_release_s_32_areas_every_day_with_running_totals(published) -> None:
    raw = [r for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if r["areaCode"] in LONDON_CODES]
    cases = {(r["areaCode"], r["date"]): int(r["newCasesBySpecimenDate"]) for r in raw}
    names = {r["areaCode"]: r["areaName"] for r in raw}
    dates = days(min(r["date"] for r in raw), max(r["date"] for r in raw))
    expected, totals = [], defaultdict(int)
    for day in dates:  # the GLA's order: date, then area name
        for code in sorted(names, key=names.get):
            totals[code] += cases.get((code, day), 0)  # a day without a row had no cases
            expected.append({"area_name": names[code], "area_code": code, "date": day,
                             "new_cases": str(cases.get((code, day), 0)), "total_cases": str(totals[code])})
    assert rows(published["phe_cases_london_boroughs"]) == expected
    assert names["E09000012"] == "Hackney and City of London"
    # The real copy orders its rows the same way.
    real = rows(real_bytes("phe_cases_london_boroughs"))
    assert [(r["date"], r["area_name"]) for r in real] == sorted((r["date"], r["area_name"]) for r in real)


def test_london_and_the_rest_of_england_from_one_release(published) -> None:
    london = {r["date"]: int(r["newCasesBySpecimenDate"]) for r in sample_rows("phe_cases_by_region",
                                                                               "region_london.csv")}
    england = {r["date"]: int(r["newCasesBySpecimenDate"]) for r in sample_rows("phe_cases_by_region",
                                                                                "nation_england.csv")
               if r["areaName"] == "England"}
    dates = days(min(london | england), max(london | england))
    expected = []
    for area, daily in (("London", lambda d: london.get(d, 0)),
                        ("Rest of England", lambda d: england.get(d, 0) - london.get(d, 0))):
        total = 0
        for day in dates:
            total += daily(day)
            expected.append({"date": day, "area_name": area, "new_cases": str(daily(day)), "total_cases": str(total)})
    assert rows(published["phe_cases_london_england"]) == expected
    assert all(int(r["new_cases"]) >= 0 for r in expected)
    # The real copy: London's block, then Rest of England's, dates rising in each.
    real = rows(real_bytes("phe_cases_london_england"))
    assert [r["area_name"] for r in real] == sorted(r["area_name"] for r in real)


def test_cases_by_age_reproduce_the_gla_s_own_lines(published) -> None:
    """The age sample carries London's cases by age as the GLA published them; from the cases alone, our 7-day sums,
    rates, band labels, bounds and populations must give back the GLA's lines byte for byte, in the GLA's order."""
    last_day = max(r["date"] for r in sample_rows("phe_cases_by_age", "region_london_age.csv"))
    real = real_bytes("phe_cases_age_london").decode().split("\n")
    expected = [real[0], *(line for line in real[1:] if line and line.split(",")[2] <= last_day)]
    assert published["phe_cases_age_london"].decode().split("\n")[:-1] == expected


def test_healthcare_is_london_and_england_less_london_in_the_gla_s_long_format(published) -> None:
    measures = {"Patients admitted to Hospital": "newAdmissions", "Patients in Hospital": "hospitalCases",
                "Patients in mechanical ventilation beds": "covidOccupiedMVBeds"}
    london = {r["date"]: r for r in sample_rows("phe_healthcare", "nhs_region_london.csv")}
    england = {r["date"]: r for r in sample_rows("phe_healthcare", "nation_england.csv")}
    ours = rows(published["phe_healthcare"])
    assert {r["date"] for r in ours} == set(london) | set(england)
    for row in ours:
        metric = measures[row["healthcare_type"]]
        here = (london.get(row["date"]) or {}).get(metric) or None
        there = (england.get(row["date"]) or {}).get(metric) or None
        if row["area_name"] == "London":
            expected = here or "NA"
        else:
            expected = "NA" if here is None or there is None else str(int(there) - int(here))
        assert row["patients"] == expected, row
    # Within a day, the real copy's order of areas and measures.
    real = rows(real_bytes("phe_healthcare"))
    first_day = [(r["area_name"], r["healthcare_type"]) for r in real if r["date"] == real[0]["date"]]
    assert [(r["area_name"], r["healthcare_type"]) for r in ours if r["date"] == ours[0]["date"]] == first_day
    assert [r["date"] for r in ours] == sorted(r["date"] for r in ours)


def test_weekly_admissions_by_age_are_differences_of_the_cumulative_series(published) -> None:
    payload = json.loads(sample_path("phe_admissions_by_age", "nhsregion_cumAdmissionsByAge.json").read_text())
    london = {r["date"]: {band["age"]: band for band in r["cumAdmissionsByAge"]}
              for r in payload["data"] if r["areaName"] == "London"}
    latest, first = max(london), min(london)
    labels = {"0_to_5": "0 - 5 years", "6_to_17": "6 - 17 years", "18_to_64": "18 - 64 years",
              "65_to_84": "65 - 84 years", "85+": "85+ years"}
    ours = rows(published["phe_healthcare_admissions_age"])
    weeks = sorted({r["week_ending"] for r in ours}, reverse=True)
    assert weeks[0] == latest and all(
        date.fromisoformat(a) - date.fromisoformat(b) == timedelta(days=7) for a, b in pairwise(weeks))
    assert date.fromisoformat(weeks[-1]) - timedelta(days=7) < date.fromisoformat(first) <= date.fromisoformat(
        weeks[-1])
    for row in ours:
        band = next(key for key, label in labels.items() if label == row["age"])
        week = london[row["week_ending"]][band]
        before = london.get((date.fromisoformat(row["week_ending"]) - timedelta(days=7)).isoformat(), {}).get(
            band, {"value": 0, "rate": 0.0})
        assert int(row["weekly_admissions"]) == week["value"] - before["value"], row
        assert float(row["weekly_rate"]) == week["rate"] - before["rate"], row
    # The GLA's order (age label as text, newest week first) and number style (shortest round-trip text, so
    # floating-point tails such as 1.8999999999999986 show), as in the real copy.
    for copy in (ours, rows(real_bytes("phe_healthcare_admissions_age"))):
        assert [(r["age"], r["week_ending"]) for r in copy] == sorted(
            ((r["age"], r["week_ending"]) for r in copy), key=lambda k: (k[0], [-ord(c) for c in k[1]]))
        assert all(repr(float(r["weekly_rate"])).removesuffix(".0") == r["weekly_rate"] for r in copy)
    assert any(len(r["weekly_rate"].split(".")[-1]) > 3 for r in ours)
