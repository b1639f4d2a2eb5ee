from __future__ import annotations

import csv

import pandas as pd
import pytest

from assets.ingest.source import RawFile
from assets.sources.phe_cases_by_region import SOURCE, parse_cases_by_region
from checks.validation import validate_table
from resources.errors import ParseError
from resources.settings import REPO_ROOT
from tests.samples import csv_bytes, sample_files, sample_rows


def test_london_and_england_totals_match_the_sample_files() -> None:
    table = parse_cases_by_region(sample_files(SOURCE))
    london_file = sample_rows("phe_cases_by_region", "region_london.csv")
    # The release's nation file holds the four nations: only England is kept.
    england_file = [r for r in sample_rows("phe_cases_by_region", "nation_england.csv") if r["areaName"] == "England"]

    london = table[table.area_code == "E12000007"]
    england = table[table.area_code == "E92000001"]
    assert set(table.area_code) == {"E12000007", "E92000001"}
    assert london["new_cases"].sum() == sum(int(r["newCasesBySpecimenDate"]) for r in london_file)
    assert england["new_cases"].sum() == sum(int(r["newCasesBySpecimenDate"]) for r in england_file)
    peak = next(r for r in london_file if r["date"] == "2020-04-02")
    assert london.set_index("date").loc[pd.Timestamp("2020-04-02"), "new_cases"] == int(peak["newCasesBySpecimenDate"])
    # England's cumulative count is the one the release published.
    latest = max(england_file, key=lambda r: r["date"])
    assert england.set_index("date").loc[pd.Timestamp(latest["date"]), "cumulative_cases"] == int(
        latest["cumCasesBySpecimenDate"])
    assert validate_table(table, SOURCE.schema).passed


def test_a_cumulative_count_the_release_lacks_is_rebuilt_from_its_whole_history_and_said_so() -> None:
    table = parse_cases_by_region(sample_files(SOURCE))
    london_file = sorted(sample_rows("phe_cases_by_region", "region_london.csv"), key=lambda r: r["date"])
    assert "cumCasesBySpecimenDate" not in london_file[0]
    running, expected = 0, {}
    for row in london_file:
        running += int(row["newCasesBySpecimenDate"])
        expected[pd.Timestamp(row["date"])] = running
    london = table[table.area_code == "E12000007"].set_index("date")["cumulative_cases"]
    assert london.to_dict() == expected
    assert any("The cumulative count is the running total of daily cases since" in note
               and "region_london.csv has no cumulative column" in note for note in table.attrs["notes"])


def test_a_window_too_late_to_rebuild_a_cumulative_count_leaves_it_empty_and_says_so() -> None:
    rows = [r for r in sample_rows("phe_cases_by_region", "region_london.csv") if r["date"] >= "2020-10-01"]
    files = sample_files(SOURCE) | {"region_london": RawFile("region_london.csv", csv_bytes(rows))}
    table = parse_cases_by_region(files)
    assert table.loc[table.area_code == "E12000007", "cumulative_cases"].isna().all()
    assert any(note.startswith("No cumulative count") and "01 Oct 2020, too late to rebuild one" in note
               for note in table.attrs["notes"])
    assert validate_table(table, SOURCE.schema).passed


def test_table_is_sorted_typed_and_iso_dated() -> None:
    table = parse_cases_by_region(sample_files(SOURCE))
    assert list(table.columns) == ["area_code", "area_name", "date", "new_cases", "cumulative_cases", "provisional"]
    assert str(table["date"].dtype) == "datetime64[ns]"
    assert str(table["new_cases"].dtype) == "Int64"
    assert table.equals(table.sort_values(["area_code", "date"], ignore_index=True))


def test_renamed_column_is_named_in_the_error() -> None:
    rows = sample_rows("phe_cases_by_region", "region_london.csv")
    for row in rows:
        row["newCases"] = row.pop("newCasesBySpecimenDate")
    files = sample_files(SOURCE) | {"region_london": RawFile("region_london.csv", csv_bytes(rows))}
    with pytest.raises(ParseError, match=r"region_london\.csv: missing column\(s\) 'newCasesBySpecimenDate'"):
        parse_cases_by_region(files)


def test_text_in_a_count_column_is_reported_with_its_line() -> None:
    rows = sample_rows("phe_cases_by_region", "region_london.csv")
    rows[3]["newCasesBySpecimenDate"] = "n/a"
    files = sample_files(SOURCE) | {"region_london": RawFile("region_london.csv", csv_bytes(rows))}
    with pytest.raises(ParseError, match=r"not whole numbers \(line 5: 'n/a'\)"):
        parse_cases_by_region(files)


def test_negative_and_duplicate_rows_fail_validation() -> None:
    rows = sample_rows("phe_cases_by_region", "region_london.csv")
    rows[0]["newCasesBySpecimenDate"] = "-5"
    rows.append(dict(rows[1]))
    files = sample_files(SOURCE) | {"region_london": RawFile("region_london.csv", csv_bytes(rows))}
    outcome = validate_table(parse_cases_by_region(files), SOURCE.schema)
    assert not outcome.passed
    summary = outcome.summary()
    assert "new_cases" in summary and "-5" in summary
    assert "unique" in summary.lower() or "duplicate" in summary.lower()


def test_rows_not_read_are_counted_by_kind_and_a_row_with_no_area_is_named() -> None:
    nations = [r for r in sample_rows("phe_cases_by_region", "nation_england.csv") if r["areaName"] != "England"]
    london = sample_rows("phe_cases_by_region", "region_london.csv")
    london.insert(3, {**london[3], "areaCode": ""})  # line 5 of the file: no area code
    table = parse_cases_by_region({"region_london": RawFile("region_london.csv", csv_bytes(london)),
                                   "nation_england": sample_files(SOURCE)["nation_england"]})
    assert {r["areaType"] for r in nations} == {"nation"} and len(nations) > 500
    assert f"nation_england.csv: not read, as expected: {len(nations):,} rows of other areas (nation)" in (
        table.attrs["notes"])
    assert table.attrs["left_out"] == [{"file": "region_london.csv", "where": "line 5", "label": "London",
                                        "why": "no area code"}]
    assert any("region_london.csv: 1 row(s) that look like data were left out: line 5 'London': no area code" in note
               for note in table.attrs["notes"])


def test_a_file_without_london_or_england_says_what_it_holds() -> None:
    """A real download of another area given as the region's file (the 2020 dashboard's, Hackney and City of London
    as upper-tier authorities): refused, naming what it holds, counted here with the csv module."""
    path = REPO_ROOT / "data" / "reference" / "phe" / "dashboard_download_2020-07-01_utla_Hackney_and_City_CUT.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["Area type"] for row in rows} == {"Upper tier local authority"}
    files = sample_files(SOURCE)
    files["region_london"] = RawFile(path.name, path.read_bytes())
    with pytest.raises(ParseError) as caught:
        parse_cases_by_region(files)
    assert str(caught.value) == (f"{path.name}: has no rows for London (E12000007) or England (E92000001); it holds "
                                 f"{len(rows)} rows of other areas (utla)")
