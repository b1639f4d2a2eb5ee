from __future__ import annotations

import pandas as pd

from assets.phe_cases_by_utla import SPEC, parse_cases_by_utla
from assets.source import RawFile
from checks.geography import LONDON_PHE_UTLA_CODES, fold_city_into_hackney
from checks.validation import validate_table
from tests.samples import csv_bytes, sample_files, sample_rows


def test_keeps_the_32_london_areas_with_the_file_total() -> None:
    table = parse_cases_by_utla(sample_files(SPEC))
    rows = sample_rows("phe_cases_by_utla", "utla_all.csv")
    london_rows = [r for r in rows if r["areaCode"].startswith("E09")]
    assert sorted(table["area_code"].unique()) == sorted(LONDON_PHE_UTLA_CODES)
    assert table["new_cases"].sum() == sum(int(r["newCasesBySpecimenDate"]) for r in london_rows)
    hackney = table.set_index("area_code").loc["E09000012"]
    assert hackney["area_name"] == "Hackney and City of London"
    assert validate_table(table, SPEC.schema).passed


def test_a_release_listing_city_of_london_separately_is_folded_into_hackney() -> None:
    rows = sample_rows("phe_cases_by_utla", "utla_all.csv")
    hackney = next(r for r in rows if r["areaCode"] == "E09000012")
    before = int(hackney["newCasesBySpecimenDate"])
    hackney["areaName"] = "Hackney"
    rows.append({**hackney, "areaCode": "E09000001", "areaName": "City of London", "newCasesBySpecimenDate": "3"})
    table = parse_cases_by_utla({"utla_all": RawFile("utla_all.csv", csv_bytes(rows))})
    assert "E09000001" not in set(table["area_code"])
    combined = table.set_index("area_code").loc["E09000012"]
    assert combined["new_cases"] == before + 3
    assert combined["area_name"] == "Hackney and City of London"
    assert validate_table(table, SPEC.schema).passed


def test_folding_keeps_a_missing_part_missing() -> None:
    frame = pd.DataFrame(
        {
            "area_code": ["E09000001", "E09000012"],
            "area_name": ["City of London", "Hackney"],
            "date": pd.to_datetime(["2021-04-12", "2021-04-12"]),
            "new_cases": pd.array([1, 2], dtype="Int64"),
            "cumulative_cases": pd.array([None, 500], dtype="Int64"),
        }
    )
    folded = fold_city_into_hackney(frame, ["new_cases", "cumulative_cases"])
    assert len(folded) == 1
    assert folded.loc[0, "new_cases"] == 3
    assert pd.isna(folded.loc[0, "cumulative_cases"])
