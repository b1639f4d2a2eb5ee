from __future__ import annotations

import pandas as pd
import pytest

from assets.ingest.source import RawFile
from assets.sources.phe_cases_by_utla import SOURCE, parse_cases_by_utla
from checks.geography import LONDON_PHE_UTLA_CODES, fold_city_into_hackney
from checks.validation import validate_table
from resources.errors import ParseError
from tests.samples import csv_bytes, sample_files, sample_rows


def london_rows() -> list[dict[str, str]]:
    """The London areas' rows of the real release (it holds every UK upper-tier area), read with the csv module."""
    return [r for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if r["areaCode"].startswith("E09")]


def test_borough_totals_match_the_file() -> None:
    table = parse_cases_by_utla(sample_files(SOURCE))
    rows = london_rows()
    assert sorted(table["area_code"].unique()) == sorted(LONDON_PHE_UTLA_CODES)
    assert len(table) == len(rows)
    on_day = [r for r in rows if r["date"] == "2020-05-06"]
    got = table[table["date"] == pd.Timestamp("2020-05-06")]
    assert got["new_cases"].sum() == sum(int(r["newCasesBySpecimenDate"]) for r in on_day)
    # The release has no cumulative column: Croydon's is its running total from the start of the file's history.
    croydon = got.set_index("area_code").loc["E09000008"]
    assert croydon["cumulative_cases"] == sum(
        int(r["newCasesBySpecimenDate"]) for r in rows if r["areaCode"] == "E09000008" and r["date"] <= "2020-05-06")
    assert set(table.loc[table["area_code"] == "E09000012", "area_name"]) == {"Hackney and City of London"}
    assert validate_table(table, SOURCE.schema).passed


def test_areas_outside_london_are_dropped() -> None:
    table = parse_cases_by_utla(sample_files(SOURCE))
    everything = sample_rows("phe_cases_by_utla", "utla_all.csv")
    assert {r["areaCode"][0] for r in everything} == {"E", "N", "W"}  # the release's areas beyond London
    assert set(table["area_code"]) == set(LONDON_PHE_UTLA_CODES)
    assert len(table) == len(london_rows())


def test_a_release_listing_city_of_london_separately_is_folded_into_hackney() -> None:
    rows = sample_rows("phe_cases_by_utla", "utla_all.csv")
    # A release that reports City of London on its own, and Hackney without it.
    for row in rows:
        if row["areaCode"] == "E09000012":
            row["areaName"] = "Hackney"
    hackney = next(r for r in rows if r["areaCode"] == "E09000012")
    before = int(hackney["newCasesBySpecimenDate"])
    rows.append({**hackney, "areaCode": "E09000001", "areaName": "City of London", "newCasesBySpecimenDate": "3"})
    table = parse_cases_by_utla({"utla_all": RawFile("utla_all.csv", csv_bytes(rows))})
    assert "E09000001" not in set(table["area_code"])
    hackney_rows = table[table["area_code"] == "E09000012"].set_index("date")
    assert hackney_rows.loc[pd.Timestamp(hackney["date"]), "new_cases"] == before + 3
    assert set(hackney_rows["area_name"]) == {"Hackney and City of London"}
    assert validate_table(table, SOURCE.schema).passed


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


def test_every_row_outside_london_is_counted_in_the_notes() -> None:
    """The release holds every UK upper-tier area: the rows not read are counted, as the csv module counts them."""
    table = parse_cases_by_utla(sample_files(SOURCE))
    others = [r for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if not r["areaCode"].startswith("E09")]
    assert len(others) > 30_000
    assert f"utla_all.csv: not read, as expected: {len(others):,} rows of other areas" in table.attrs["notes"]
    assert "left_out" not in table.attrs


def _utla_lines() -> tuple[RawFile, list[str]]:
    [file] = sample_files(SOURCE).values()
    return file, file.content.decode("utf-8").split("\n")


def test_counts_written_as_decimals_are_the_same_counts_in_the_same_rows() -> None:
    """Counts written `5.0` (some 2020 downloads) take the careful path after London's rows are kept: each count must
    stay in its own row."""
    file, lines = _utla_lines()
    decimals = [lines[0]] + [",".join(f"{cell}.0" if i == 3 and cell else cell
                                      for i, cell in enumerate(line.split(","))) for line in lines[1:]]
    pd.testing.assert_frame_equal(
        parse_cases_by_utla({"utla_all": RawFile(file.name, "\n".join(decimals).encode("utf-8"))}),
        parse_cases_by_utla({"utla_all": file}))


def test_text_in_a_count_names_its_file_line_past_blank_lines_and_repeated_headers() -> None:
    file, lines = _utla_lines()
    lines[100:100] = ["", lines[0]]  # a blank line and the header again, as concatenated v1 downloads have
    index = next(i for i, line in enumerate(lines) if ",E09000007," in line)
    cells = lines[index].split(",")
    cells[3] = "abc"
    lines[index] = ",".join(cells)
    with pytest.raises(ParseError, match=rf"column 'newCasesBySpecimenDate' .* \(line {index + 1}: 'abc'\)"):
        parse_cases_by_utla({"utla_all": RawFile(file.name, "\n".join(lines).encode("utf-8"))})
