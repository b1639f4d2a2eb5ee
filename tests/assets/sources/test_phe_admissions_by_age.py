"""Admissions by age for NHS region London, from the real 20 Nov 2020 v1 JSON release (every NHS region and England,
no area codes: London is found by name). Expected values are read from the file with the json module."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from assets.ingest.source import RawFile
from assets.sources.phe_admissions_by_age import SOURCE, parse_admissions_by_age
from checks.validation import validate_table
from resources.errors import ParseError
from tests.samples import sample_files, sample_json

FILE = "nhsregion_cumAdmissionsByAge.json"


def test_london_s_bands_are_read_and_other_regions_left_out() -> None:
    table = parse_admissions_by_age(sample_files(SOURCE))
    data = sample_json("phe_admissions_by_age", FILE)["data"]
    london = [r for r in data if r["areaName"] == "London"]
    assert len({r["areaName"] for r in data}) == 8  # England and the seven NHS regions
    assert len(table) == sum(len(r["cumAdmissionsByAge"]) for r in london)
    latest = max(london, key=lambda r: r["date"])
    got = table[table["date"] == pd.Timestamp(latest["date"])].set_index("age_band")
    expected = {band["age"]: (band["value"], band["rate"]) for band in latest["cumAdmissionsByAge"]}
    labels = {"0_to_5": "00_05", "6_to_17": "06_17", "18_to_64": "18_64", "65_to_84": "65_84", "85+": "85+"}
    assert {labels[k]: v for k, v in expected.items()} == {
        band: (row["cumulative_admissions"], row["cumulative_rate"]) for band, row in got.iterrows()}
    assert validate_table(table, SOURCE.schema).passed


def test_a_v2_release_with_codes_reads_the_same_and_a_swapped_code_is_recognised() -> None:
    data = sample_json("phe_admissions_by_age", FILE)["data"]
    london = [{**r, "areaCode": "nhsRegion", "areaType": "E40000003"} for r in data if r["areaName"] == "London"]
    v2 = RawFile("v2.json", json.dumps({"body": london}).encode())
    table = parse_admissions_by_age({"nhs_region_london_admissions_age": v2})
    assert table.equals(parse_admissions_by_age(sample_files(SOURCE)))


def test_a_file_without_london_says_so() -> None:
    data = [r for r in sample_json("phe_admissions_by_age", FILE)["data"] if r["areaName"] != "London"]
    with pytest.raises(ParseError, match=r"has no cumAdmissionsByAge records for London \(E40000003\)"):
        parse_admissions_by_age({"nhs_region_london_admissions_age": RawFile(
            "x.json", json.dumps({"data": data}).encode())})


def test_other_regions_records_are_counted_by_area_type() -> None:
    records = sample_json("phe_admissions_by_age", "nhsregion_cumAdmissionsByAge.json")["data"]
    others: dict[str, int] = {}
    for record in records:
        if record["areaName"] != "London":
            others[record["areaType"]] = others.get(record["areaType"], 0) + 1
    table = parse_admissions_by_age(sample_files(SOURCE))
    said = "; ".join(f"{count:,} records of other areas ({kind})" for kind, count in others.items())
    assert f"nhsregion_cumAdmissionsByAge.json: not read, as expected: {said}" in table.attrs["notes"]
