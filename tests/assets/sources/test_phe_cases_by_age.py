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
