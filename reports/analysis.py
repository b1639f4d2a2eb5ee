"""The numbers and judgements the cases report shows, as pure functions of the published tables.

Headline numbers to check against the official dashboard, plain-language warnings about suspicious data, source
freshness, and what changed since the previous report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from checks.geography import ENGLAND, LONDON_REGION
from checks.lookups import populations
from checks.published import (
    AGE_SEX,
    BOROUGH_RATES,
    GLA_BOROUGHS,
    GLA_CASES_AGE,
    GLA_LONDON_ENGLAND,
    HEALTHCARE,
    LONDON_ENGLAND_RATES,
    NHS_111,
    PUBLISHED,
    read_back,
    rest_of_england,
)
from reports import wording


class ReportSettings(BaseModel):
    """Thresholds for the warnings and cross-checks, declared once: the report asset's run config is made of these
    fields (the Launchpad shows each with its description and default)."""

    model_config = ConfigDict(frozen=True)

    reporting_delay_days: int = Field(5, description="Days at the end of a cases series still filling in: left out "
                                      "of the headline numbers and cross-checks (the source's own flags win).")
    jump_factor: float = Field(4.0, description="A day's cases beyond this many times both the day before and the "
                               "week before's daily average is a warning.")
    jump_min_cases: int = Field(25, description="...and only from this many cases (small numbers jump by chance).")
    zero_case_days: int = Field(3, description="A borough with no cases on each of this many latest days is a "
                                "warning.")
    # Cross-checks between tables of one release: a difference counts beyond both of these.
    cross_check_tolerance_pct: float = Field(5.0, description="Parts (boroughs, age bands) may differ from London's "
                                             "total by this much in percent...")
    cross_check_min_cases: int = Field(20, description="...or by this many cases a day, whichever is larger.")


# A "latest complete day" below this share of the same weekday a week before is probably still filling in.
INCOMPLETE_RATIO = 1 / 3


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
    notes: tuple[str, ...] = ()  # how its files were read (the parsers' notes): the report keeps them folded away

    @property
    def fetched(self) -> str:
        """When its files were fetched, as a person reads a time: `14 Nov 2020, 16:02` (UK time)."""
        if not self.fetched_at:
            return "never"
        return wording.moment(self.fetched_at)

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
        """The Status cell: what is special about the source (ended, retired), then how fresh it is."""
        if not self.remark:
            return self.freshness
        return f"{self.remark} {self.freshness[:1].upper()}{self.freshness[1:]}."

    @property
    def freshness(self) -> str:
        if self.latest_date is None:
            return "no data"
        if self.stale:
            release = self.released or date.fromisoformat(self.fetched_at[:10])
            return (f"out of date (the release of {wording.day(release)} has nothing after "
                    f"{wording.day(self.latest_date)}, {wording.count(self.lag_days, 'day')} earlier; its releases "
                    f"usually reach within {wording.count(self.expected_lag_days, 'day')} of their date)")
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
    return [headline(tables[LONDON_ENGLAND_RATES], code, settings) for code in (LONDON_REGION, ENGLAND)]


# --- warnings ---------------------------------------------------------------------------------------------------


def zero_case_warnings(boroughs: pd.DataFrame, settings: ReportSettings) -> list[Warning]:
    """Boroughs with no cases on each of the latest complete days: the days inside the reporting delay are left out,
    since in most releases they are nearly empty for every borough (replaying July 2020, counting them raised about
    nine of these warnings a night, none of them a missing borough)."""
    complete = boroughs["date"].max() - pd.Timedelta(days=settings.reporting_delay_days)
    days = sorted(day for day in boroughs["date"].unique() if day <= complete)[-settings.zero_case_days:]
    if not days:
        return []
    recent = boroughs[boroughs["date"].isin(days)]
    totals = recent.groupby(["area_code", "area_name"])["new_cases"].sum()
    return [
        Warning("no_recent_cases", BOROUGH_RATES,
                f"{name} ({code}) reported no cases on each of the latest {len(days)} days "
                f"({wording.day(days[0], year=False)} to {wording.day(days[-1])}): check the source has this "
                "borough's data.")
        for (code, name), total in totals.items() if total == 0
    ]


def _in_series_order(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows grouped by `by` (groups in sorted order, rows without a key left out) and in date order within each."""
    return table.dropna(subset=by).sort_values([*by, "date"], kind="stable", ignore_index=True)


def jump_warnings(table: pd.DataFrame, table_name: str, settings: ReportSettings) -> list[Warning]:
    keys = ["area_code", "area_name"]
    # One pass over all areas at once (a loop over the 33 areas took a fifth of the report's time).
    ordered = _in_series_order(table, keys)
    cases = ordered["new_cases"].astype("float64")
    day_before = ordered[[*keys, "date"]].assign(date=ordered["date"] + pd.Timedelta(days=1), previous=cases)
    previous = ordered[[*keys, "date"]].merge(day_before, on=[*keys, "date"], how="left")["previous"]
    # Against the previous day and the week before it: real series dip every weekend, and a Monday several
    # times a Sunday is how specimen dates look, not a fault. Only rises: falls are what incomplete recent
    # days look like, and have their own warning.
    # Each area's rows are consecutive, so the areas' rolling means, one after another, line up with the rows.
    week_mean = pd.Series(ordered[[*keys, "date"]].assign(cases=cases).groupby(keys, sort=False)
                          .rolling("7D", on="date", closed="left")["cases"].mean().to_numpy(), index=ordered.index)
    baseline = pd.concat([previous, week_mean], axis=1).max(axis=1)
    jumped = ((cases >= settings.jump_min_cases) & (cases > baseline * settings.jump_factor)).fillna(False)
    # A day missing from the series (the report's input tables fill them, a hand-made one may not) has no count.
    day_before_text = previous.map(lambda count: "no figure" if pd.isna(count) else f"{int(count)} cases")
    return [
        Warning(
            "day_on_day_jump", table_name,
            f"{ordered.at[row, 'area_name']} ({ordered.at[row, 'area_code']}): {day_before_text[row]} on "
            f"{wording.day(day - pd.Timedelta(days=1), year=False)} (a daily average of {week_mean[row]:.0f} "
            f"over the week before) then {int(cases[row])} on {wording.day(day)}, a rise beyond "
            f"{settings.jump_factor:g}x.",
        )
        for row, day in ordered.loc[jumped, "date"].items()
    ]


def cumulative_warnings(table: pd.DataFrame, table_name: str, by: list[str], label) -> list[Warning]:
    ordered = _in_series_order(table.dropna(subset=["total_cases"]), by)
    before = ordered.groupby(by, sort=False)["total_cases"].shift(1)
    fell = (ordered["total_cases"] < before).fillna(False)
    return [
        Warning(
            "cumulative_decrease", table_name,
            f"{label(tuple(ordered.loc[row, by]))}: the cumulative total fell from {int(before[row])} to "
            f"{int(ordered.at[row, 'total_cases'])} on {wording.day(ordered.at[row, 'date'])}; cumulative counts "
            "should never go down.",
        )
        for row in ordered.index[fell]
    ]


def missing_date_warnings(table: pd.DataFrame, table_name: str, by: list[str] | None, label) -> list[Warning]:
    warnings = []
    groups = [((), table)] if not by else table.groupby(by)
    for key, group in groups:
        dates = pd.DatetimeIndex(group["date"].unique())
        expected = pd.date_range(dates.min(), dates.max(), freq="D")
        missing = expected.difference(dates)
        if len(missing):
            shown = ", ".join(wording.day(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.append(Warning(
                "missing_dates", table_name,
                f"{label(key)}: {wording.count(len(missing), 'day')} missing between "
                f"{wording.day(dates.min(), year=False)} and {wording.day(dates.max())}: {shown}.",
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
        if week_before and line.cases_on_day < week_before * INCOMPLETE_RATIO:
            warnings.append(Warning(
                "incomplete_recent_days", LONDON_ENGLAND_RATES,
                f"{line.area_name}: {line.cases_on_day} cases on {wording.day(line.complete_day)}, the latest day "
                f"counted as complete, against {int(week_before)} a week earlier. Recent days may still be "
                f"inside the reporting delay ({settings.reporting_delay_days} days assumed): treat as provisional.",
            ))
    return warnings


# --- cross-checks between tables of the same release -------------------------------------------------------------


def _sum_mismatch_warnings(parts: pd.Series, whole: pd.Series, kind: str, table: str, what: str,
                           settings: ReportSettings) -> list[Warning]:
    """Days (outside the reporting delay) on which a sum of parts differs from the whole it should add up to by
    more than the tolerance; one warning listing them."""
    both = pd.concat({"parts": parts, "whole": whole}, axis=1).dropna()
    if both.empty:
        return []
    settled = both[both.index <= both.index.max() - pd.Timedelta(days=settings.reporting_delay_days)]
    difference = settled["parts"] - settled["whole"]
    beyond = (difference.abs() > settings.cross_check_min_cases) & (
        difference.abs() > settled["whole"].abs() * settings.cross_check_tolerance_pct / 100)
    days = settled.index[beyond]
    if not len(days):
        return []
    shown = ", ".join(f"{wording.day(day)} ({int(settled.at[day, 'parts']):,} against "
                      f"{int(settled.at[day, 'whole']):,})" for day in days[:5]) + (" ..." if len(days) > 5 else "")
    return [Warning(kind, table, f"{what} on {wording.count(len(days), 'day')} outside the reporting delay, by "
                                 f"more than {settings.cross_check_tolerance_pct:g}% and "
                                 f"{settings.cross_check_min_cases} cases: {shown}. Check both come from the same "
                                 "release.")]


def london_total(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    regions = tables[LONDON_ENGLAND_RATES]
    return regions[regions["area_code"] == LONDON_REGION].set_index("date")["new_cases"].astype("float64")


@dataclass(frozen=True)
class CrossCheck:
    """One comparison between published tables of the same release, shown in the report whether it passed or not."""

    name: str
    description: str
    warnings: list[Warning]

    @property
    def passed(self) -> bool:
        return not self.warnings


def cross_checks(tables: Mapping[str, pd.DataFrame], settings: ReportSettings) -> list[CrossCheck]:
    """The published files of one release should agree: the 32 boroughs add up to London, the age bands add up to
    London, London never exceeds England (Rest of England would be negative), and the GLA files' cumulative
    totals never fall."""
    boroughs = tables[BOROUGH_RATES].groupby("date")["new_cases"].sum().astype("float64")
    by_age = tables[GLA_CASES_AGE].groupby("date")["cases"].sum().astype("float64")
    london = london_total(tables)
    tolerance = (f"within {settings.cross_check_tolerance_pct:g}% or {settings.cross_check_min_cases} cases a day, "
                 f"outside the {settings.reporting_delay_days}-day reporting delay")
    return [
        CrossCheck("boroughs_vs_london", f"The 32 boroughs add up to London ({tolerance})",
                   _sum_mismatch_warnings(boroughs, london, "boroughs_vs_london", GLA_BOROUGHS,
                                          "The 32 boroughs' cases do not add up to London's", settings)),
        CrossCheck("age_bands_vs_london", f"London's age bands add up to London ({tolerance})",
                   _sum_mismatch_warnings(by_age, london, "age_bands_vs_london", GLA_CASES_AGE,
                                          "London's cases by age band do not add up to London's cases", settings)),
        CrossCheck("rest_of_england_not_negative", "England has at least London's cases, daily and cumulative",
                   rest_of_england_warnings(tables[LONDON_ENGLAND_RATES])),
        CrossCheck("totals_never_fall", ("The cumulative count of cases never falls, in the boroughs' "
                                         "file or the London and England file"), [
            *cumulative_warnings(tables[GLA_BOROUGHS], GLA_BOROUGHS, ["area_name"], _first),
            *cumulative_warnings(tables[GLA_LONDON_ENGLAND], GLA_LONDON_ENGLAND, ["area_name"], _first),
        ]),
    ]


def _first(key: tuple | str) -> str:
    return key[0] if isinstance(key, tuple) else key


def rest_of_england_warnings(regions: pd.DataFrame) -> list[Warning]:
    """Days on which London has more cases (daily or cumulative) than England: Rest of England would be negative,
    so phe_cases_london_england.csv leaves it empty there."""
    wide = regions.pivot(index="date", columns="area_code", values="new_cases")
    if LONDON_REGION not in wide or ENGLAND not in wide:
        return []
    _, daily = rest_of_england(wide[ENGLAND], wide[LONDON_REGION])
    totals = regions.pivot(index="date", columns="area_code", values="total_cases")
    _, cumulative = rest_of_england(totals[ENGLAND], totals[LONDON_REGION])
    days = sorted(set(daily) | set(cumulative))
    if not days:
        return []
    shown = ", ".join(wording.day(day) for day in days[:5]) + (" ..." if len(days) > 5 else "")
    return [Warning("rest_of_england_negative", GLA_LONDON_ENGLAND,
                    f"London has more cases than England on {wording.count(len(days), 'day')} ({shown}): England "
                    "and London disagree in this release. Rest of England is left empty on those days rather than "
                    "set to zero; check the source before approving.")]


def find_warnings(tables: Mapping[str, pd.DataFrame], settings: ReportSettings,
                  checks: Sequence[CrossCheck] | None = None) -> list[Warning]:
    """Every warning the report shows, the failed cross-checks' among them (`checks`: cross_checks already run on
    these tables)."""
    boroughs, regions = tables[BOROUGH_RATES], tables[LONDON_ENGLAND_RATES]
    names = pd.concat([boroughs, regions]).drop_duplicates("area_code").set_index("area_code")["area_name"]

    def by_area(key: tuple) -> str:
        code = key[0] if isinstance(key, tuple) else key
        return f"{names.get(code, code)} ({code})"

    def by_band(key: tuple) -> str:
        return f"London {key[0]} {key[1]}"

    return [
        *zero_case_warnings(boroughs, settings),
        *jump_warnings(regions, LONDON_ENGLAND_RATES, settings),
        *jump_warnings(boroughs, BOROUGH_RATES, settings),
        *cumulative_warnings(regions, LONDON_ENGLAND_RATES, ["area_code"], by_area),
        *cumulative_warnings(boroughs, BOROUGH_RATES, ["area_code"], by_area),
        *cumulative_warnings(tables[AGE_SEX], AGE_SEX, ["sex", "age_band"], by_band),
        *missing_date_warnings(regions, LONDON_ENGLAND_RATES, ["area_code"], by_area),
        *missing_date_warnings(boroughs, BOROUGH_RATES, ["area_code"], by_area),
        *missing_date_warnings(tables[AGE_SEX], AGE_SEX, None, lambda key: "London cases by age and sex"),
        *missing_date_warnings(tables[HEALTHCARE], HEALTHCARE, None, lambda key: "London healthcare"),
        *missing_date_warnings(tables[NHS_111], NHS_111, None, lambda key: "NHS 111/999/online"),
        *incomplete_day_warnings(regions, settings),
        *(warning for check in (cross_checks(tables, settings) if checks is None else checks)
          for warning in check.warnings),
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


def compare_published(old: Mapping[str, bytes] | None, new: Mapping[str, bytes]) -> list[TableChange]:
    """What changed from one version to the next, table by table (table name -> its file's bytes as published),
    compared as the files' text: an earlier version is kept as its published files, not as tables."""
    return [compare_table(name, read_back(old[name]) if old and name in old else None, read_back(content))
            for name, content in new.items()]
