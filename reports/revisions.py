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

import numpy as np
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


@dataclass(frozen=True)
class _Grid:
    """Every day (rows) as every release held (columns) gave it: NaN where a release did not have the day. Each
    row's figures are computed at once, so a night's view costs about the same with a year of releases held as with
    a week (the per-day loops it replaces grew with days x releases)."""

    days: pd.DatetimeIndex
    releases: list[date]
    values: np.ndarray  # days x releases, float, NaN where absent

    @classmethod
    def of(cls, held: Mapping[date, pd.Series]) -> _Grid:
        releases = sorted(held)
        wide = pd.concat({release: held[release].astype("float64") for release in releases}, axis=1).sort_index()
        return cls(pd.DatetimeIndex(wide.index), releases, wide.to_numpy())

    def present(self) -> np.ndarray:
        return ~np.isnan(self.values)

    def first(self) -> np.ndarray:
        return self.present().argmax(axis=1)

    def last(self) -> np.ndarray:
        return self.values.shape[1] - 1 - self.present()[:, ::-1].argmax(axis=1)

    def settled_at(self) -> np.ndarray:
        """Per day, the release (column) from which its figure never changed again, or -1 where that is only the
        latest release holding it (or fewer than two hold it): settled_after, for every day at once."""
        present, rows = self.present(), np.arange(len(self.days))
        final = self.values[rows, self.last()]
        moved = present & (self.values != final[:, None])
        columns = np.arange(self.values.shape[1])
        last_moved = np.where(moved.any(axis=1), self.values.shape[1] - 1 - moved[:, ::-1].argmax(axis=1), -1)
        after = present & (columns[None, :] > last_moved[:, None])
        return np.where(after.sum(axis=1) >= 2, after.argmax(axis=1), -1)


def revisions(title: str, held: Mapping[date, pd.Series]) -> Revisions:
    """The revisions of one daily series, from each release's figures by day (`held`: release -> series)."""
    if not held:
        return Revisions(title, [], [], 0)
    grid = _Grid.of(held)
    present, rows = grid.present(), np.arange(len(grid.days))
    counts, first, last, settled = present.sum(axis=1), grid.first(), grid.last(), grid.settled_at()
    first_values, last_values = grid.values[rows, first], grid.values[rows, last]
    changed = (present & (grid.values != first_values[:, None])).any(axis=1)

    def day_of(row: int) -> date:
        return grid.days[row].date()

    revised = [DayRevision(day_of(row), grid.releases[first[row]], int(first_values[row]), grid.releases[last[row]],
                           int(last_values[row]), int(counts[row])) for row in np.flatnonzero(changed)]
    settle = [(grid.releases[settled[row]] - day_of(row)).days for row in np.flatnonzero(
        (counts > 0) & (first != 0) & (settled >= 0))]

    # The most recent days that more than one of the shown releases gave (a day in one release shows no revision);
    # the latest release's last days when there are none yet.
    shown = slice(max(0, len(grid.releases) - TRIANGLE_RELEASES), None)
    shown_counts = present[:, shown].sum(axis=1)
    recent = np.flatnonzero(shown_counts > 1)[-TRIANGLE_DAYS:]
    if not len(recent):
        recent = np.flatnonzero(present[:, -1])[-TRIANGLE_DAYS:]
    triangle = [(day_of(row), [None if np.isnan(value) else int(value) for value in grid.values[row, shown]],
                 (grid.releases[settled[row]] - day_of(row)).days if settled[row] >= 0 else None)
                for row in reversed(recent)]
    revised.sort(key=lambda r: r.day, reverse=True)
    return Revisions(title, grid.releases, revised[:LISTED_DAYS], len(revised), grid.releases[shown], triangle,
                     settle)
