"""Headline numbers, warnings, freshness and "what changed", computed from the shipped samples and from crafted
bad data. Expected values are computed here straight from the sample CSVs, not from the pipeline."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from assets.publication.datastore_tables import build_datastore_tables
from checks.published import (
    AGE_SEX,
    BOROUGH_RATES,
    GLA_BOROUGHS,
    GLA_CASES_AGE,
    HEALTHCARE,
    LONDON_ENGLAND_RATES,
    published_bytes,
)
from reports.analysis import (
    ReportSettings,
    SourceStatus,
    compare_published,
    cross_checks,
    find_warnings,
    headline,
)
from tests.samples import clean_sample_tables, expected_headline

SETTINGS = ReportSettings()


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pd.DataFrame]:
    return build_datastore_tables(clean_sample_tables())


@pytest.fixture
def tables(sample_tables) -> dict[str, pd.DataFrame]:
    """The tables built from the samples, a copy for each test: tests damage them."""
    return {name: table.copy() for name, table in sample_tables.items()}


@pytest.mark.parametrize("file", ["region_london.csv", "nation_england.csv"])
def test_headline_numbers_match_the_sample_file(file: str, tables) -> None:
    expected = expected_headline(file, SETTINGS.reporting_delay_days)
    line = headline(tables[LONDON_ENGLAND_RATES], expected["area_code"], SETTINGS)
    for field, value in expected.items():
        assert getattr(line, field) == value, field


def test_no_warnings_on_the_shipped_samples(tables) -> None:
    assert find_warnings(tables, SETTINGS) == []


def kinds(tables) -> list[str]:
    return kinds_with(tables, SETTINGS)


def kinds_with(tables, settings: ReportSettings) -> list[str]:
    return [w.kind for w in find_warnings(tables, settings)]


def test_borough_without_cases_for_three_complete_days(tables) -> None:
    boroughs = tables[BOROUGH_RATES]
    complete = boroughs["date"].max() - pd.Timedelta(days=SETTINGS.reporting_delay_days)
    days = sorted(day for day in boroughs["date"].unique() if day <= complete)[-3:]
    boroughs.loc[(boroughs["area_code"] == "E09000007") & boroughs["date"].isin(days), "new_cases"] = 0
    [warning] = [w for w in find_warnings(tables, SETTINGS) if w.kind == "no_recent_cases"]
    assert "Camden (E09000007)" in warning.message
    assert f"{pd.Timestamp(days[0]):%d %b} to {pd.Timestamp(days[-1]):%d %b %Y}" in warning.message


def test_no_cases_on_the_days_still_inside_the_reporting_delay_is_no_warning(tables) -> None:
    """Those days are nearly empty for every borough in most releases (July 2020, replayed): not a missing one."""
    boroughs = tables[BOROUGH_RATES]
    last_days = sorted(boroughs["date"].unique())[-3:]
    boroughs.loc[(boroughs["area_code"] == "E09000007") & boroughs["date"].isin(last_days), "new_cases"] = 0
    assert find_warnings(tables, SETTINGS) == []


def test_day_on_day_jump_beyond_the_configured_factor(tables) -> None:
    boroughs = tables[BOROUGH_RATES]
    row = boroughs[(boroughs["area_code"] == "E09000019") & (boroughs["date"] == "2020-05-03")].index[0]
    before = boroughs.loc[row - 1, "new_cases"]
    boroughs.loc[row, "new_cases"] = before * 10 + 30
    # The boroughs no longer add up to London either: that cross-check fires too.
    assert sorted(kinds(tables)) == ["boroughs_vs_london", "day_on_day_jump"]
    [warning] = [w for w in find_warnings(tables, SETTINGS) if w.kind == "day_on_day_jump"]
    assert "Islington" in warning.message and "3 May 2020" in warning.message
    relaxed = ReportSettings(jump_factor=1000.0)
    assert kinds_with(tables, relaxed) == ["boroughs_vs_london"]


def test_a_jump_after_a_missing_day_says_the_day_had_no_figure(tables) -> None:
    """A hand-made or damaged table can lack the day before a jump: the warning says so (it used to stop the report
    with "cannot convert float NaN to integer")."""
    boroughs = tables[BOROUGH_RATES]
    islington = boroughs["area_code"] == "E09000019"
    # The 7 days before 3 May, less 2 May (taken out below).
    week_before = boroughs[islington & boroughs["date"].between("2020-04-26", "2020-05-01")]["new_cases"]
    assert len(week_before) == 6
    jump = boroughs.index[islington & (boroughs["date"] == "2020-05-03")][0]
    boroughs.loc[jump, "new_cases"] = int(week_before.max()) * 10 + 30
    tables[BOROUGH_RATES] = boroughs[~(islington & (boroughs["date"] == "2020-05-02"))]
    [warning] = [w for w in find_warnings(tables, SETTINGS) if w.kind == "day_on_day_jump"]
    assert warning.message.startswith("Islington (E09000019): no figure on 2 May (a daily average of "
                                      f"{week_before.mean():.0f} over the week before) then "
                                      f"{int(week_before.max()) * 10 + 30} on 3 May 2020")
    assert "missing_dates" in kinds(tables)


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
    regions = tables[LONDON_ENGLAND_RATES]
    complete = regions["date"].max() - pd.Timedelta(days=SETTINGS.reporting_delay_days)
    regions.loc[(regions["area_code"] == "E12000007") & (regions["date"] == complete), "new_cases"] = 2
    # The boroughs and the age bands no longer add up to London on that (complete) day: both cross-checks fire.
    assert sorted(kinds(tables)) == ["age_bands_vs_london", "boroughs_vs_london", "incomplete_recent_days"]
    [warning] = [w for w in find_warnings(tables, SETTINGS) if w.kind == "incomplete_recent_days"]
    assert "London" in warning.message


def test_what_changed_counts_added_and_revised_rows(tables) -> None:
    new = {name: table.copy() for name, table in tables.items()}
    boroughs = new[BOROUGH_RATES]
    target = boroughs[(boroughs["area_code"] == "E09000022") & (boroughs["date"] == "2020-05-01")].index[0]
    boroughs.loc[target, "new_cases"] = boroughs.loc[target, "new_cases"] + 40
    old_regions = tables[LONDON_ENGLAND_RATES]
    tables[LONDON_ENGLAND_RATES] = old_regions[old_regions["date"] < old_regions["date"].max()]
    changes = {c.table: c for c in compare_published(published_bytes(tables), published_bytes(new))}
    assert changes[BOROUGH_RATES].revised == 1 and changes[BOROUGH_RATES].added == 0
    top = changes[BOROUGH_RATES].largest.iloc[0]
    assert (top["area_code"], top["date"], top["change"]) == ("E09000022", "2020-05-01", 40)
    assert changes[LONDON_ENGLAND_RATES].added == 2 and changes[LONDON_ENGLAND_RATES].revised == 0
    assert all(c.revised == 0 for name, c in changes.items() if name not in (BOROUGH_RATES,))


def test_a_release_with_nothing_recent_is_stale() -> None:
    status = SourceStatus("phe_healthcare", "healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                          date(2020, 6, 20), False, 7)
    assert status.stale and "out of date" in status.note and "21 days" in status.note
    fresh = SourceStatus("phe_healthcare", "healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                         date(2020, 5, 31), True, 7)
    assert not fresh.stale


# --- cross-checks between the files of one release (each silent on the samples, above) -------------------------


def cross_check_results(tables) -> dict[str, list[str]]:
    return {check.name: [w.message for w in check.warnings] for check in cross_checks(tables, SETTINGS)}


def test_every_cross_check_runs_and_agrees_on_the_shipped_samples(tables) -> None:
    assert cross_check_results(tables) == {"boroughs_vs_london": [], "age_bands_vs_london": [],
                                           "rest_of_england_not_negative": [], "totals_never_fall": []}


def test_boroughs_that_do_not_add_up_to_london(tables) -> None:
    boroughs = tables[BOROUGH_RATES]
    day = boroughs["area_code"].eq("E09000008") & boroughs["date"].eq(pd.Timestamp("2020-10-01"))
    boroughs.loc[day, "new_cases"] += 200  # Croydon gains 200 cases London never had
    [message] = cross_check_results(tables)["boroughs_vs_london"]
    assert "1 Oct 2020" in message and "on 1 day " in message


def test_age_bands_that_do_not_add_up_to_london(tables) -> None:
    by_age = tables[GLA_CASES_AGE]
    day = by_age["date"].eq(pd.Timestamp("2020-09-15"))
    by_age.loc[day, "cases"] *= 2  # a day counted twice
    [message] = cross_check_results(tables)["age_bands_vs_london"]
    assert "15 Sep 2020" in message


def test_london_above_england_is_named_not_clipped(tables) -> None:
    regions = tables[LONDON_ENGLAND_RATES]
    day = regions["area_code"].eq("E92000001") & regions["date"].eq(pd.Timestamp("2020-06-01"))
    regions.loc[day, "new_cases"] = 1
    [message] = cross_check_results(tables)["rest_of_england_not_negative"]
    assert "1 Jun 2020" in message and "left empty" in message


def test_a_total_that_falls_in_a_gla_file(tables) -> None:
    boroughs = tables[GLA_BOROUGHS]
    row = boroughs.index[boroughs["area_code"].eq("E09000033") & boroughs["date"].eq(pd.Timestamp("2020-08-01"))][0]
    boroughs.loc[row, "total_cases"] = boroughs.loc[row, "total_cases"] - 50
    [message] = cross_check_results(tables)["totals_never_fall"]
    assert "Westminster" in message and "1 Aug 2020" in message
