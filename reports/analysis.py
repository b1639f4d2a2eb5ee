"""The numbers and judgements the cases report shows, as pure functions of the published tables.

Headline numbers to check against the official dashboard, plain-language warnings about suspicious data, source
freshness, and what changed since the previous report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from checks.geography import ENGLAND, LONDON_REGION
from checks.lookups import populations
from checks.published import AGE_SEX, BOROUGHS, HEALTHCARE, LONDON_ENGLAND, NHS_111, PUBLISHED


@dataclass(frozen=True)
class ReportSettings:
    """Thresholds for the warnings; the report asset's run config sets them (defaults documented in README)."""

    reporting_delay_days: int = 5
    jump_factor: float = 4.0
    jump_min_cases: int = 25
    zero_case_days: int = 3
    incomplete_ratio: float = 1 / 3


@dataclass(frozen=True)
class Headline:
    area_code: str
    area_name: str
    latest_date: date
    complete_day: date
    cases_on_day: int
    seven_day_total: int
    seven_day_rate: float
    previous_seven_day_total: int
    change: int
    change_pct: float | None
    provisional_from: date


@dataclass(frozen=True)
class Warning:
    kind: str
    table: str
    message: str


@dataclass(frozen=True)
class SourceStatus:
    source: str
    title: str
    rows: int
    latest_date: date | None
    fetched_at: str
    released: date | None
    changed: bool
    expected_lag_days: int
    remark: str = ""  # e.g. the series has ended, or has no live source

    @property
    def lag_days(self) -> int | None:
        reference = self.released or (date.fromisoformat(self.fetched_at[:10]) if self.fetched_at else None)
        if reference is None or self.latest_date is None:
            return None
        return (reference - self.latest_date).days

    @property
    def stale(self) -> bool:
        return self.lag_days is not None and self.lag_days > self.expected_lag_days

    @property
    def note(self) -> str:
        return f"{self.remark} {self._freshness}".strip() if self.remark else self._freshness

    @property
    def _freshness(self) -> str:
        if self.latest_date is None:
            return "no data"
        if self.stale:
            return (f"stale: the release of {self.released or self.fetched_at[:10]} has nothing after "
                    f"{self.latest_date:%d %b %Y} ({self.lag_days} days; expected within {self.expected_lag_days})")
        return "unchanged since the last fetch" if not self.changed else "new data"


@dataclass(frozen=True)
class TableChange:
    table: str
    previous_rows: int
    rows: int
    added: int
    removed: int
    revised: int
    largest: pd.DataFrame = field(repr=False)


def _day(value: object) -> date:
    return pd.Timestamp(value).date()


def headline(table: pd.DataFrame, area_code: str, settings: ReportSettings) -> Headline:
    """Cases on the latest complete day (the latest date less the reporting delay), the 7-day total ending then,
    its rate per 100,000 and the change against the 7 days before."""
    area = table[table["area_code"] == area_code].set_index("date").sort_index()
    latest = area.index.max()
    complete = latest - pd.Timedelta(days=settings.reporting_delay_days)
    cases = area["new_cases"]
    week = cases[(cases.index > complete - pd.Timedelta(days=7)) & (cases.index <= complete)]
    before = cases[(cases.index > complete - pd.Timedelta(days=14)) & (cases.index <= complete - pd.Timedelta(days=7))]
    total, previous = int(week.sum()), int(before.sum())
    return Headline(
        area_code=area_code,
        area_name=str(area["area_name"].iloc[0]),
        latest_date=_day(latest),
        complete_day=_day(complete),
        cases_on_day=int(cases.get(complete, 0)),
        seven_day_total=total,
        seven_day_rate=round(total / populations()[area_code] * 100_000, 1),
        previous_seven_day_total=previous,
        change=total - previous,
        change_pct=round((total - previous) / previous * 100, 1) if previous else None,
        provisional_from=_day(complete + pd.Timedelta(days=1)),
    )


def headlines(tables: Mapping[str, pd.DataFrame], settings: ReportSettings) -> list[Headline]:
    return [headline(tables[LONDON_ENGLAND], code, settings) for code in (LONDON_REGION, ENGLAND)]


# --- warnings ---------------------------------------------------------------------------------------------------


def zero_case_warnings(boroughs: pd.DataFrame, settings: ReportSettings) -> list[Warning]:
    days = sorted(boroughs["date"].unique())[-settings.zero_case_days:]
    recent = boroughs[boroughs["date"].isin(days)]
    totals = recent.groupby(["area_code", "area_name"])["new_cases"].sum()
    return [
        Warning("no_recent_cases", BOROUGHS,
                f"{name} ({code}) reported no cases on each of the latest {len(days)} days "
                f"({_day(days[0]):%d %b} to {_day(days[-1]):%d %b %Y}): check the source has this borough's data.")
        for (code, name), total in totals.items() if total == 0
    ]


def jump_warnings(table: pd.DataFrame, table_name: str, settings: ReportSettings) -> list[Warning]:
    warnings = []
    for (code, name), area in table.sort_values("date").groupby(["area_code", "area_name"]):
        cases = area.set_index("date")["new_cases"].astype("float64")
        previous = cases.shift(1, freq="D").reindex(cases.index)
        # Only rises: falls are what incomplete recent days and weekends look like, and have their own warning.
        jumped = (cases >= settings.jump_min_cases) & (cases > previous * settings.jump_factor)
        for day in cases.index[jumped.fillna(False)]:
            warnings.append(Warning(
                "day_on_day_jump", table_name,
                f"{name} ({code}): {int(previous[day])} cases on {_day(day - pd.Timedelta(days=1)):%d %b} then "
                f"{int(cases[day])} on {_day(day):%d %b %Y}, a change beyond {settings.jump_factor:g}x.",
            ))
    return warnings


def cumulative_warnings(table: pd.DataFrame, table_name: str, by: list[str], label) -> list[Warning]:
    warnings = []
    for key, group in table.sort_values("date").groupby(by):
        totals = group.set_index("date")["total_cases"].dropna()
        fell = totals.diff() < 0
        for day in totals.index[fell]:
            before = totals.shift(1)[day]
            warnings.append(Warning(
                "cumulative_decrease", table_name,
                f"{label(key)}: the cumulative total fell from {int(before)} to {int(totals[day])} on "
                f"{_day(day):%d %b %Y}; cumulative counts should never go down.",
            ))
    return warnings


def missing_date_warnings(table: pd.DataFrame, table_name: str, by: list[str] | None, label) -> list[Warning]:
    warnings = []
    groups = [((), table)] if not by else table.groupby(by)
    for key, group in groups:
        dates = pd.DatetimeIndex(group["date"].unique())
        expected = pd.date_range(dates.min(), dates.max(), freq="D")
        missing = expected.difference(dates)
        if len(missing):
            shown = ", ".join(f"{d:%d %b %Y}" for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.append(Warning(
                "missing_dates", table_name,
                f"{label(key)}: {len(missing)} day(s) missing between {dates.min():%d %b} and "
                f"{dates.max():%d %b %Y}: {shown}.",
            ))
    return warnings


def incomplete_day_warnings(table: pd.DataFrame, settings: ReportSettings) -> list[Warning]:
    """The headline's 'latest complete day' should be complete; if it is far below the same weekday a week
    earlier, recent days are probably still arriving and the reporting delay setting is too short."""
    warnings = []
    for code in (LONDON_REGION, ENGLAND):
        line = headline(table, code, settings)
        area = table[table["area_code"] == code].set_index("date")["new_cases"]
        week_before = area.get(pd.Timestamp(line.complete_day) - pd.Timedelta(days=7))
        if week_before and line.cases_on_day < week_before * settings.incomplete_ratio:
            warnings.append(Warning(
                "incomplete_recent_days", LONDON_ENGLAND,
                f"{line.area_name}: {line.cases_on_day} cases on {line.complete_day:%d %b %Y}, the latest day "
                f"counted as complete, against {int(week_before)} a week earlier. Recent days may still be "
                f"inside the reporting delay ({settings.reporting_delay_days} days assumed): treat as provisional.",
            ))
    return warnings


def find_warnings(tables: Mapping[str, pd.DataFrame], settings: ReportSettings) -> list[Warning]:
    boroughs, regions = tables[BOROUGHS], tables[LONDON_ENGLAND]
    names = pd.concat([boroughs, regions]).drop_duplicates("area_code").set_index("area_code")["area_name"]

    def by_area(key: tuple) -> str:
        code = key[0] if isinstance(key, tuple) else key
        return f"{names.get(code, code)} ({code})"

    def by_band(key: tuple) -> str:
        return f"London {key[0]} {key[1]}"

    return [
        *zero_case_warnings(boroughs, settings),
        *jump_warnings(regions, LONDON_ENGLAND, settings),
        *jump_warnings(boroughs, BOROUGHS, settings),
        *cumulative_warnings(regions, LONDON_ENGLAND, ["area_code"], by_area),
        *cumulative_warnings(boroughs, BOROUGHS, ["area_code"], by_area),
        *cumulative_warnings(tables[AGE_SEX], AGE_SEX, ["sex", "age_band"], by_band),
        *missing_date_warnings(regions, LONDON_ENGLAND, ["area_code"], by_area),
        *missing_date_warnings(boroughs, BOROUGHS, ["area_code"], by_area),
        *missing_date_warnings(tables[AGE_SEX], AGE_SEX, None, lambda key: "London cases by age and sex"),
        *missing_date_warnings(tables[HEALTHCARE], HEALTHCARE, None, lambda key: "London healthcare"),
        *missing_date_warnings(tables[NHS_111], NHS_111, None, lambda key: "NHS 111/999/online"),
        *incomplete_day_warnings(regions, settings),
    ]


# --- what changed ----------------------------------------------------------------------------------------------


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    # Compare as published text, so 1.0 vs 1 or <NA> vs NaN are not reported as revisions.
    return frame.astype("string").fillna("")


def compare_table(name: str, old: pd.DataFrame | None, new: pd.DataFrame, largest: int = 5) -> TableChange:
    keys, value = list(PUBLISHED[name].sort), PUBLISHED[name].main_value
    if old is None:
        return TableChange(name, 0, len(new), len(new), 0, 0, pd.DataFrame())
    merged = _comparable(old).merge(_comparable(new), on=keys, how="outer", suffixes=("_old", "_new"),
                                    indicator=True)
    both = merged[merged["_merge"] == "both"]
    values = [c for c in new.columns if c not in keys]
    differs = pd.Series(False, index=both.index)
    for column in values:
        if f"{column}_old" in both:
            differs |= both[f"{column}_old"] != both[f"{column}_new"]
    revised = both[differs]
    top = pd.DataFrame()
    if len(revised):
        before = pd.to_numeric(revised[f"{value}_old"], errors="coerce")
        after = pd.to_numeric(revised[f"{value}_new"], errors="coerce")
        top = revised[keys].assign(column=value, previous=before, now=after, change=after - before)
        top = top.reindex(top["change"].abs().sort_values(ascending=False).index).head(largest)
    return TableChange(
        table=name,
        previous_rows=len(old),
        rows=len(new),
        added=int((merged["_merge"] == "right_only").sum()),
        removed=int((merged["_merge"] == "left_only").sum()),
        revised=len(revised),
        largest=top.reset_index(drop=True),
    )


def compare_tables(old: Mapping[str, pd.DataFrame] | None, new: Mapping[str, pd.DataFrame]) -> list[TableChange]:
    return [compare_table(name, (old or {}).get(name), table) for name, table in new.items()]
