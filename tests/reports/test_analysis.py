"""Headline numbers, warnings, freshness and "what changed", computed from the shipped samples and from crafted
bad data. Expected values are computed here straight from the sample CSVs, not from the pipeline."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from assets.datastore_tables import build_datastore_tables
from checks.published import AGE_SEX, BOROUGHS, HEALTHCARE, LONDON_ENGLAND
from reports.analysis import (
    ReportSettings,
    SourceStatus,
    compare_tables,
    find_warnings,
    headline,
)
from tests.samples import clean_sample_tables, expected_headline

SETTINGS = ReportSettings()


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return build_datastore_tables(clean_sample_tables())


@pytest.mark.parametrize("file", ["region_london.csv", "nation_england.csv"])
def test_headline_numbers_match_the_sample_file(file: str, tables) -> None:
    expected = expected_headline(file, SETTINGS.reporting_delay_days)
    line = headline(tables[LONDON_ENGLAND], expected["area_code"], SETTINGS)
    for field, value in expected.items():
        assert getattr(line, field) == value, field


def test_no_warnings_on_the_shipped_samples(tables) -> None:
    assert find_warnings(tables, SETTINGS) == []


def kinds(tables) -> list[str]:
    return [w.kind for w in find_warnings(tables, SETTINGS)]


def test_borough_without_cases_for_three_days(tables) -> None:
    boroughs = tables[BOROUGHS]
    last_days = sorted(boroughs["date"].unique())[-3:]
    boroughs.loc[(boroughs["area_code"] == "E09000007") & boroughs["date"].isin(last_days), "new_cases"] = 0
    [warning] = find_warnings(tables, SETTINGS)
    assert warning.kind == "no_recent_cases" and "Camden (E09000007)" in warning.message


def test_day_on_day_jump_beyond_the_configured_factor(tables) -> None:
    boroughs = tables[BOROUGHS]
    row = boroughs[(boroughs["area_code"] == "E09000019") & (boroughs["date"] == "2020-05-03")].index[0]
    before = boroughs.loc[row - 1, "new_cases"]
    boroughs.loc[row, "new_cases"] = before * 10 + 30
    [warning] = find_warnings(tables, SETTINGS)
    assert warning.kind == "day_on_day_jump" and "Islington" in warning.message and "03 May 2020" in warning.message
    relaxed = ReportSettings(jump_factor=1000.0)
    assert find_warnings(tables, relaxed) == []


def test_cumulative_total_that_decreases(tables) -> None:
    age_sex = tables[AGE_SEX]
    row = age_sex[(age_sex["sex"] == "female") & (age_sex["age_band"] == "40_44")].index[10]
    age_sex.loc[row, "total_cases"] = age_sex.loc[row, "total_cases"] - 500
    assert "cumulative_decrease" in kinds(tables)


def test_missing_dates(tables) -> None:
    healthcare = tables[HEALTHCARE]
    tables[HEALTHCARE] = healthcare[healthcare["date"] != pd.Timestamp("2020-04-10")]
    [warning] = find_warnings(tables, SETTINGS)
    assert warning.kind == "missing_dates" and "10 Apr 2020" in warning.message


def test_incomplete_latest_complete_day(tables) -> None:
    regions = tables[LONDON_ENGLAND]
    complete = regions["date"].max() - pd.Timedelta(days=SETTINGS.reporting_delay_days)
    regions.loc[(regions["area_code"] == "E12000007") & (regions["date"] == complete), "new_cases"] = 2
    [warning] = find_warnings(tables, SETTINGS)
    assert warning.kind == "incomplete_recent_days" and "London" in warning.message


def test_what_changed_counts_added_and_revised_rows(tables) -> None:
    new = {name: table.copy() for name, table in tables.items()}
    boroughs = new[BOROUGHS]
    target = boroughs[(boroughs["area_code"] == "E09000022") & (boroughs["date"] == "2020-05-01")].index[0]
    boroughs.loc[target, "new_cases"] = boroughs.loc[target, "new_cases"] + 40
    old_regions = tables[LONDON_ENGLAND]
    tables[LONDON_ENGLAND] = old_regions[old_regions["date"] < old_regions["date"].max()]
    changes = {c.table: c for c in compare_tables(tables, new)}
    assert changes[BOROUGHS].revised == 1 and changes[BOROUGHS].added == 0
    top = changes[BOROUGHS].largest.iloc[0]
    assert (top["area_code"], top["date"], top["change"]) == ("E09000022", "2020-05-01", 40)
    assert changes[LONDON_ENGLAND].added == 2 and changes[LONDON_ENGLAND].revised == 0
    assert all(c.revised == 0 for name, c in changes.items() if name not in (BOROUGHS,))


def test_a_release_with_nothing_recent_is_stale() -> None:
    status = SourceStatus("phe_healthcare", "healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                          date(2020, 6, 20), False, 7)
    assert status.stale and "stale" in status.note and "21 days" in status.note
    fresh = SourceStatus("phe_healthcare", "healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                         date(2020, 5, 31), True, 7)
    assert not fresh.stale
