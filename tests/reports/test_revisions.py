"""The revisions view's figures: the two real August 2020 releases read with csv, and a small hand-worked case for
how long figures take to settle."""

from __future__ import annotations

import csv
from datetime import date

import pandas as pd

from reports.revisions import revisions
from resources.settings import REPO_ROOT

RELEASES = REPO_ROOT / "data" / "releases"


def london(day: str) -> pd.Series:
    with (RELEASES / day / "phe_cases_by_region" / "region_london.csv").open(newline="") as handle:
        figures = {row["Specimen date"]: int(row["Daily lab-confirmed cases"]) for row in csv.DictReader(handle)}
    return pd.Series(figures.values(), index=pd.to_datetime(list(figures))).sort_index()


def test_every_day_the_second_release_changed_is_listed_with_both_figures() -> None:
    first, second = london("2020-08-28"), london("2020-08-29")
    view = revisions("London", {date(2020, 8, 28): first, date(2020, 8, 29): second})
    changed = sorted(day for day in first.index if first[day] != second[day])
    assert view.revised_count == len(changed) == 46
    listed = list(reversed(changed))[:30]  # most recent first
    assert [(r.day, r.first_value, r.latest_value, r.first_release, r.latest_release) for r in view.revised] == [
        (d.date(), first[d], second[d], date(2020, 8, 28), date(2020, 8, 29)) for d in listed]
    # Both releases ran to 28 August: every day was first published in the first release held, so how long figures
    # take to settle cannot be said yet.
    assert view.settle_days == [] and view.median_settle_days is None


def test_a_figure_settles_on_the_release_from_which_it_stops_changing() -> None:
    day = pd.Timestamp
    releases = {
        date(2020, 9, 2): pd.Series([10], index=[day("2020-09-01")]),
        date(2020, 9, 3): pd.Series([15, 3], index=[day("2020-09-01"), day("2020-09-02")]),
        date(2020, 9, 4): pd.Series([15, 7, 1], index=[day("2020-09-01"), day("2020-09-02"), day("2020-09-03")]),
        date(2020, 9, 5): pd.Series([15, 7, 4, 2], index=[day(f"2020-09-0{d}") for d in (1, 2, 3, 4)]),
    }
    view = revisions("London", releases)
    # 2 Sep: first 3 (release of 3 Sep), 7 from the release of 4 Sep on: settled 2 days after the day it counts.
    # 3 Sep changed in the latest release: not settled. 1 Sep was in the first release held: its first figure may
    # not be its first publication, so it is left out of the settling figures.
    assert view.settle_days == [2]
    triangle = {row[0]: (row[1], row[2]) for row in view.triangle}
    assert triangle[date(2020, 9, 1)] == ([10, 15, 15, 15], 2)
    assert triangle[date(2020, 9, 3)] == ([None, None, 1, 4], None)
    assert date(2020, 9, 4) not in triangle  # only the latest release has it: nothing to compare
