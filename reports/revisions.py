"""Revisions: how a daily figure changed from its first publication to now, read from the vintages held
(resources/vintages.py). Pure: each release's series in, the report's revisions view out.

PHE and UKHSA counted cases by specimen date and admissions by day of admission, so each new release added to
recent days as test results and hospital returns arrived: a day's first figure was rarely its last.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

# The days the triangle shows (the most recent given by two releases or more) and the releases it shows them in.
TRIANGLE_DAYS = 14
TRIANGLE_RELEASES = 7
# The revised days listed, most recent first.
LISTED_DAYS = 30


@dataclass(frozen=True)
class DayRevision:
    day: date
    first_release: date
    first_value: int
    latest_release: date
    latest_value: int
    releases: int  # in how many of the releases held the day appears

    @property
    def change(self) -> int:
        return self.latest_value - self.first_value


@dataclass(frozen=True)
class Revisions:
    title: str
    releases: list[date]  # every release held, oldest first
    revised: list[DayRevision]  # days whose figure changed, most recent first (at most LISTED_DAYS)
    revised_count: int  # every day whose figure changed
    triangle_releases: list[date] = field(default_factory=list)
    triangle: list[tuple[date, list[int | None], int | None]] = field(default_factory=list)  # day, values, settled
    settle_days: list[int] = field(default_factory=list)  # per day first published after the first release held

    @property
    def median_settle_days(self) -> float | None:
        return statistics.median(self.settle_days) if self.settle_days else None


def _value(series: pd.Series, day: pd.Timestamp) -> int | None:
    if day not in series.index or pd.isna(series[day]):
        return None
    return int(series[day])


def settled_after(day: pd.Timestamp, values: list[tuple[date, int | None]]) -> int | None:
    """Days from `day` to the first release from which its figure never changed again (among those held), or None
    when it changed in the latest release (it may not have settled yet)."""
    present = [(release, value) for release, value in values if value is not None]
    if len(present) < 2:
        return None
    final = present[-1][1]
    settled = len(present) - 1
    while settled > 0 and present[settled - 1][1] == final:
        settled -= 1
    if settled == len(present) - 1:
        return None  # only the latest release has this figure: it may still move
    return (present[settled][0] - day.date()).days


def revisions(title: str, held: Mapping[date, pd.Series]) -> Revisions:
    """The revisions of one daily series, from each release's figures by day (`held`: release -> series)."""
    releases = sorted(held)
    if not releases:
        return Revisions(title, [], [], 0)
    latest = releases[-1]
    days = sorted(set().union(*(held[r].index for r in releases)))
    revised, settle = [], []
    by_day: dict[pd.Timestamp, list[tuple[date, int | None]]] = {}
    for day in days:
        values = [(release, _value(held[release], day)) for release in releases]
        by_day[day] = values
        present = [(release, value) for release, value in values if value is not None]
        if not present:
            continue
        (first_release, first_value), (last_release, last_value) = present[0], present[-1]
        if any(value != first_value for _, value in present):
            revised.append(DayRevision(day.date(), first_release, first_value, last_release, last_value,
                                       len(present)))
        if first_release != releases[0] and (after := settled_after(day, values)) is not None:
            settle.append(after)
    shown_releases = releases[-TRIANGLE_RELEASES:]
    # The most recent days that more than one of the shown releases gave (a day in one release shows no revision);
    # the latest release's last days when there are none yet.
    def shown_in(day: pd.Timestamp) -> int:
        return sum(_value(held[release], day) is not None for release in shown_releases)

    recent = [day for day in days if shown_in(day) > 1][-TRIANGLE_DAYS:] or [
        day for day in days if _value(held[latest], day) is not None][-TRIANGLE_DAYS:]
    triangle = []
    for day in reversed(recent):
        row = [_value(held[release], day) for release in shown_releases]
        triangle.append((day.date(), row, settled_after(day, by_day[day])))
    revised.sort(key=lambda r: r.day, reverse=True)
    return Revisions(title, releases, revised[:LISTED_DAYS], len(revised), shown_releases, triangle, settle)
