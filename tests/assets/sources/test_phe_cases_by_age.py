"""London's cases by age band: the shipped sample and a real early-2021 v2 file of another layout (a `metric`
column, quoted dates and bands, rollingRate before rollingSum, PHE's 00_59 and 60+ aggregates). Expected values are
read from the raw files with the csv module."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from assets.formats.phe_api import nested_metric
from assets.ingest.source import RawFile
from assets.sources.phe_cases_by_age import FIELDS, METRIC, SOURCE, parse_cases_by_age
from checks.validation import validate_table
from resources.errors import ParseError
from resources.settings import REPO_ROOT
from tests.samples import csv_bytes, sample_files, sample_rows

EARLY_ENGLAND = REPO_ROOT / "data" / "reference" / "phe" / (
    "v2_csv_EARLY_nested_with_metric_column_nation_England_age_EXCERPT_2021-01-02.csv")
# The dashboard's download before the v2 API, real (UK rows of 16 and 17 January 2021, re-saved by pandas with an
# index column): the only real copy of that layout here holds no London rows.
LEGACY_UK = REPO_ROOT / "data" / "reference" / "phe" / (
    "legacy_download_specimenDate_ageDemographic-stacked_UK_CUT_2021-01-16_17.csv")


def test_every_band_and_day_of_the_sample_is_read() -> None:
    table = parse_cases_by_age(sample_files(SOURCE))
    rows = sample_rows("phe_cases_by_age", "region_london_age.csv")
    assert len(table) == len(rows)
    assert table["cases"].sum() == sum(int(r["cases"]) for r in rows)
    day = [r for r in rows if r["date"] == "2020-10-01"]
    got = table[table["date"] == pd.Timestamp("2020-10-01")].set_index("age_band")
    assert {r["age"]: int(r["cases"]) for r in day} == got["cases"].to_dict()
    assert validate_table(table, SOURCE.schema).passed


def test_a_real_early_2021_layout_reads_and_drops_the_aggregate_bands() -> None:
    content = EARLY_ENGLAND.read_bytes()
    frame = nested_metric(content, EARLY_ENGLAND.name, METRIC, FIELDS, ("E92000001", "England", "nation"))
    raw = list(csv.DictReader(content.decode().splitlines()))
    assert len(frame) == len(raw)
    first = raw[0]
    row = frame.iloc[0]
    assert (f"{row['date']:%Y-%m-%d}", row["age"], row["cases"], row["rollingSum"], row["rollingRate"]) == (
        first["date"], first["age"], int(first["cases"]), int(first["rollingSum"]), float(first["rollingRate"]))
    # The London parser keeps the five-year bands and `unassigned`, never 00_59 or 60+ (they would count twice).
    london = bytes(content.replace(b"E92000001,England", b"E12000007,London").replace(b"nation,", b"region,"))
    table = parse_cases_by_age({"region_london_age": RawFile("early.csv", london)})
    day = [r for r in raw if r["date"] == "2021-01-02"]
    kept = [r for r in day if r["age"] not in ("00_59", "60+")]
    assert len(table[table["date"] == pd.Timestamp("2021-01-02")]) == len(kept) == 20
    assert table.loc[table["date"] == pd.Timestamp("2021-01-02"), "cases"].sum() == sum(int(r["cases"]) for r in kept)


def padded(band: str) -> str:
    """`0_4` -> `00_04`, as the v2 API and the published files write the bands (`90+`, `unassigned` as they are)."""
    low, _, high = band.partition("_")
    return f"{int(low):02d}_{int(high):02d}" if high.isdigit() else band


def test_the_dashboards_download_before_the_v2_api_reads_its_fields_and_unpadded_bands() -> None:
    content = LEGACY_UK.read_bytes()
    raw = list(csv.DictReader(content.decode().splitlines()))
    # Its only real copy holds the UK's rows: a London table from it is refused for that, not for its columns.
    with pytest.raises(ParseError, match=rf"has no rows for London \(E12000007\); it holds {len(raw)} rows of other "
                                         r"areas \(overview\)$"):
        parse_cases_by_age({"region_london_age": RawFile(LEGACY_UK.name, content)})
    # The same rows as London's (areaType, code and name relabelled here; figures and bands as published).
    london = content.replace(b"overview,K02000001,United Kingdom", b"region,E12000007,London")
    table = parse_cases_by_age({"region_london_age": RawFile(LEGACY_UK.name, london)})
    five_year = [r for r in raw if r["age"] not in ("0_59", "60+")]
    assert len(table) == len(five_year) == 2 * 20
    expected = {(r["date"], padded(r["age"])): (int(r["newCasesBySpecimenDate"]),
                                                int(r["newCasesBySpecimenDateRollingSum"]),
                                                float(r["newCasesBySpecimenDateRollingRate"] or "nan"))
                for r in five_year}
    got = {(f"{row.date:%Y-%m-%d}", row.age_band): (row.cases, row.rolling_sum, row.rolling_rate)
           for row in table.itertuples()}
    assert got.keys() == expected.keys()
    for key, (cases, rolling_sum, rolling_rate) in expected.items():
        assert got[key][:2] == (cases, rolling_sum), key
        assert got[key][2] == pytest.approx(rolling_rate, nan_ok=True), key
    assert (f"{LEGACY_UK.name}: not read, as expected: 4 rows of the bands 00_59 and 60+ (sums of the five-year "
            "bands)") in table.attrs["notes"]


def test_a_json_release_reads_like_the_csv() -> None:
    rows = [r for r in sample_rows("phe_cases_by_age", "region_london_age.csv") if r["date"] >= "2020-11-10"]
    by_date: dict[str, list] = {}
    for r in rows:
        by_date.setdefault(r["date"], []).append({"age": r["age"], "cases": int(r["cases"]),
                                                  "rollingSum": int(r["rollingSum"]), "rollingRate": None})
    body = [{"areaType": "region", "areaCode": "E12000007", "areaName": "London", "date": d, METRIC: bands}
            for d, bands in by_date.items()]
    table = parse_cases_by_age({"region_london_age": RawFile("age.json", json.dumps({"body": body}).encode())})
    assert len(table) == len(rows) and table["cases"].sum() == sum(int(r["cases"]) for r in rows)


def test_an_unknown_band_is_named() -> None:
    rows = sample_rows("phe_cases_by_age", "region_london_age.csv")
    rows[0]["age"] = "95_99"
    with pytest.raises(ParseError, match=r"unknown age band label\(s\) \['95_99'\]"):
        parse_cases_by_age({"region_london_age": RawFile("age.csv", csv_bytes(rows))})


def test_the_bands_that_sum_others_are_counted_not_read() -> None:
    """Early 2021 files added 00_59 and 60+ (sums of the five-year bands); made by adding them to one day."""
    rows = sample_rows("phe_cases_by_age", "region_london_age.csv")
    day = [r for r in rows if r["date"] == rows[0]["date"]]
    sums = [{**day[0], "age": band, "cases": "1"} for band in ("00_59", "60+")]
    table = parse_cases_by_age({"region_london_age": RawFile("region_london_age.csv", csv_bytes(rows + sums))})
    assert len(table) == len(rows)
    assert ("region_london_age.csv: not read, as expected: 2 rows of the bands 00_59 and 60+ (sums of the five-year "
            "bands)") in table.attrs["notes"]
