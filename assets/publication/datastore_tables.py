"""The files published to the London Datastore, built from the clean source tables.

Their names, columns and row order are the contract in checks/published.py: first the GLA's five files, in the
meanings the GLA's own copies show (data/reference/gla_published/), then our additional files. Rates are per
100,000 people (mid-2020 populations, as PHE and the GLA used). Case counts by specimen date are daily series in
which a day without a row had no cases, so those series are completed with zeros, as the GLA's files are; the
healthcare series are not (a day without a figure stays NA).
"""


from collections.abc import Callable, Mapping
from functools import partial

import dagster as dg
import numpy as np
import pandas as pd

from assets.ingest.factory import clean_key
from assets.sources import RETIRED, SOURCES
from checks.geography import ENGLAND, LONDON_NHS_REGION, LONDON_REGION
from checks.lookups import band_populations, populations
from checks.origin import SAMPLE, UNKNOWN, judge, obtained
from checks.published import (
    AGE_SEX,
    BOROUGH_RATES,
    GLA_ADMISSIONS_AGE,
    GLA_BOROUGHS,
    GLA_CASES_AGE,
    GLA_HEALTHCARE,
    GLA_LONDON_ENGLAND,
    HEALTHCARE,
    LONDON_ENGLAND_RATES,
    NHS_111,
    ONS_POSITIVITY,
    fingerprint,
    in_published_form,
    rest_of_england,
    validate_published,
)
from checks.schemas import GLA_HEALTHCARE_TYPES, gla_band
from checks.validation import without_attrs
from resources.errors import SourceError

# The clean healthcare columns behind the GLA's healthcare_type labels.
HEALTHCARE_TYPES = dict(zip(("new_admissions", "hospital_cases", "covid_occupied_mv_beds"), GLA_HEALTHCARE_TYPES,
                            strict=True))


def complete_daily(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Every key (area, age band) on every date from the first date in `frame` to the last, `value` 0 where the
    source had no row: a day missing from a cases-by-specimen-date series had no cases."""
    dates = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D")
    groups = frame[keys].drop_duplicates()
    grid = groups.merge(pd.DataFrame({"date": dates}), how="cross")
    completed = grid.merge(frame[[*keys, "date", value]], on=[*keys, "date"], how="left")
    completed[value] = completed[value].fillna(0).astype("Int64")
    return completed


def gla_boroughs(utla: pd.DataFrame) -> pd.DataFrame:
    """The 32 areas' daily cases from the first date of the release, `total_cases` their running total."""
    names = utla.sort_values("date").groupby("area_code")["area_name"].last()
    frame = complete_daily(utla, ["area_code"], "new_cases").sort_values(["area_code", "date"], ignore_index=True)
    frame["area_name"] = frame["area_code"].map(names)
    frame["total_cases"] = frame.groupby("area_code")["new_cases"].cumsum().astype("Int64")
    return in_published_form(GLA_BOROUGHS, frame)


def rest_of_england_cases(region: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """London's and England's daily cases over every date of the release, with England less London, and the
    dates on which that would have been negative."""
    completed = complete_daily(region, ["area_code"], "new_cases")
    wide = completed.pivot(index="date", columns="area_code", values="new_cases")
    london, england = wide[LONDON_REGION].astype("Int64"), wide[ENGLAND].astype("Int64")
    rest_new, negative_new = rest_of_england(england, london)
    rest_total, negative_total = rest_of_england(england.cumsum(), london.cumsum())
    frame = pd.concat([
        pd.DataFrame({"date": wide.index, "area_name": "London", "new_cases": london.array,
                      "total_cases": london.cumsum().array}),
        pd.DataFrame({"date": wide.index, "area_name": "Rest of England", "new_cases": rest_new.array,
                      "total_cases": rest_total.array}),
    ], ignore_index=True)
    return frame, sorted(set(negative_new) | set(negative_total))


def gla_london_england(region: pd.DataFrame) -> pd.DataFrame:
    """London and Rest of England (England less London, from the same release), daily and running totals."""
    return in_published_form(GLA_LONDON_ENGLAND, rest_of_england_cases(region)[0])


def gla_cases_age(by_age: pd.DataFrame) -> pd.DataFrame:
    """London's daily cases per age band; `rolling_sum` the 7 days ending on `date` (0 until the series has
    seven days, as the GLA wrote it), `rolling_rate` = round(rolling_sum / population x 100,000, 1) with the
    mid-2020 populations (0 for `unassigned`, which has no population)."""
    frame = complete_daily(by_age, ["age_band"], "cases").sort_values(["age_band", "date"], ignore_index=True)
    sums = frame.groupby("age_band")["cases"].transform(
        lambda cases: cases.astype("float64").rolling(7, min_periods=7).sum())
    frame["rolling_sum"] = sums.fillna(0).astype("Int64")
    population = band_populations(LONDON_REGION)
    frame["population"] = frame["age_band"].map(population).astype("Int64")
    rate = (frame["rolling_sum"].astype("float64") / frame["population"].astype("float64") * 100_000).round(1)
    frame["rolling_rate"] = rate.fillna(0.0)
    labels = frame["age_band"].map(gla_band)
    frame["age_band"] = labels.str[0]
    frame["age_lower"] = pd.array(labels.str[1].tolist(), dtype="Int64")
    frame["age_higher"] = pd.array(labels.str[2].tolist(), dtype="Int64")
    frame["area_name"], frame["area_code"] = "London", LONDON_REGION
    return in_published_form(GLA_CASES_AGE, frame)


def gla_healthcare(healthcare: pd.DataFrame) -> pd.DataFrame:
    """Long format: London (NHS region) and Rest of England (England less London, same release) x the three
    measures, on every date either area has a figure; NA where there is none."""
    dates = pd.DatetimeIndex(sorted(healthcare["date"].unique()), name="date")

    def area(code: str) -> pd.DataFrame:
        return healthcare[healthcare["area_code"] == code].set_index("date").reindex(dates)

    london, england = area(LONDON_NHS_REGION), area(ENGLAND)
    rows = []
    for column, label in HEALTHCARE_TYPES.items():
        values = {"London": london[column].astype("Int64"),
                  "Rest of England": rest_of_england(england[column], london[column])[0]}
        for name, series in values.items():
            rows.append(pd.DataFrame({"date": dates, "area_name": name, "healthcare_type": label,
                                      "patients": series.array}))
    return in_published_form(GLA_HEALTHCARE, pd.concat(rows, ignore_index=True))


def gla_admissions_age(admissions: pd.DataFrame) -> pd.DataFrame:
    """Weekly admissions per age band, for weeks ending on the latest date of the release and every 7 days back:
    the difference of PHE's cumulative count over the week (the count itself for the first, partial week), and
    `weekly_rate` the difference of PHE's cumulative rate (two 1-decimal figures, so the GLA's files show their
    floating-point difference, e.g. 8.100000000000023)."""
    value = admissions.pivot(index="date", columns="age_band", values="cumulative_admissions")
    rate = admissions.pivot(index="date", columns="age_band", values="cumulative_rate")
    first, latest = value.index.min(), value.index.max()
    rows = []
    for week_end in pd.date_range(end=latest, periods=(latest - first).days // 7 + 1, freq="7D"):
        before = week_end - pd.Timedelta(days=7)
        for band in value.columns:
            label, low, high = gla_band(band)
            previous_value = value.at[before, band] if before >= first else 0
            previous_rate = rate.at[before, band] if before >= first else 0.0
            rows.append({"age": label, "age_lower": low, "age_higher": high, "week_ending": week_end,
                         "weekly_admissions": value.at[week_end, band] - previous_value,
                         "weekly_rate": float(rate.at[week_end, band]) - float(previous_rate)})
    frame = pd.DataFrame(rows)
    frame["area_name"], frame["area_code"] = "London", LONDON_NHS_REGION
    for column in ("age_lower", "age_higher", "weekly_admissions"):
        frame[column] = frame[column].astype("Int64")
    frame["week_ending"] = frame["week_ending"].astype("datetime64[ns]")
    return in_published_form(GLA_ADMISSIONS_AGE, frame)


def _rolling_7day(frame: pd.DataFrame, column: str, by: str | None) -> pd.Series:
    """Sum over the 7 calendar days ending on each row's date; empty unless all 7 days are present."""
    keys = ["date"] if by is None else [by, "date"]
    ordered = frame[[*keys, column]].dropna(subset=keys).sort_values(keys, kind="stable")
    ordered[column] = ordered[column].astype("float64")
    # All areas in one pass, not a loop of areas; grouped, an area's windows never reach into the next. The sums come
    # in the rows' order (each area's rows together, areas A-Z), so they are placed back by position.
    grouped = ordered.groupby(by, sort=False) if by else ordered
    sums = grouped.rolling("7D", on="date", min_periods=7)[column].sum().to_numpy(copy=True)
    spans = grouped["date"].diff(6).dt.days.to_numpy()
    sums[spans != 6] = float("nan")  # 6 when the last 7 rows are 7 consecutive days
    return pd.Series(sums, index=ordered.index).reindex(frame.index).round().astype("Int64")


def _per_100k(values: pd.Series, area_codes: pd.Series) -> pd.Series:
    population = area_codes.map(populations())
    return (values.astype("float64") / population * 100_000).round(1)


def with_days_without_cases(clean: pd.DataFrame) -> pd.DataFrame:
    """Each area's cases with the days its release left out between the area's first and last day: a day missing
    from a cases-by-specimen-date series had no cases (the 2020 downloads left such days out), so its count is 0 and
    its running total the day before's. Without them the 7-day sums of the days around would be empty."""
    if clean.empty:
        return clean
    # Every area's days from its first to its last, built for all areas at once (areas in the order they come).
    spans = clean.groupby("area_code", sort=False)["date"].agg(["min", "max"])
    lengths = ((spans["max"] - spans["min"]).dt.days + 1).to_numpy()
    day = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    days = pd.MultiIndex.from_arrays(
        [np.repeat(spans.index.to_numpy(), lengths),
         np.repeat(spans["min"].to_numpy(), lengths) + day * np.timedelta64(1, "D")], names=["area_code", "date"])
    full = clean.set_index(["area_code", "date"]).reindex(days).reset_index()
    full["new_cases"] = full["new_cases"].fillna(0).astype("Int64")
    by_area = full.groupby("area_code", sort=False)
    full["area_name"] = by_area["area_name"].ffill()
    full["cumulative_cases"] = by_area["cumulative_cases"].ffill().astype("Int64")
    return full


def cases_rates_table(name: str, clean: pd.DataFrame) -> pd.DataFrame:
    frame = with_days_without_cases(clean).rename(columns={"cumulative_cases": "total_cases"})
    frame["new_cases_rate"] = _per_100k(frame["new_cases"], frame["area_code"])
    frame["rolling_7day_cases"] = _rolling_7day(frame, "new_cases", by="area_code")
    frame["rolling_7day_rate"] = _per_100k(frame["rolling_7day_cases"], frame["area_code"])
    return in_published_form(name, frame)


def age_sex_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.rename(columns={"cumulative_cases": "total_cases", "cumulative_rate": "total_cases_rate"})
    return in_published_form(AGE_SEX, frame)


def healthcare_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean[clean["area_code"] == LONDON_NHS_REGION].copy()
    frame["area_name"] = "London"
    frame["rolling_7day_admissions"] = _rolling_7day(frame, "new_admissions", by=None)
    return in_published_form(HEALTHCARE, frame)


# Each published file and the one source it is built from: a file's data are only as live as its source's.
BUILDERS: dict[str, tuple[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    GLA_BOROUGHS: ("phe_cases_by_utla", gla_boroughs),
    GLA_LONDON_ENGLAND: ("phe_cases_by_region", gla_london_england),
    GLA_CASES_AGE: ("phe_cases_by_age", gla_cases_age),
    GLA_HEALTHCARE: ("phe_healthcare", gla_healthcare),
    GLA_ADMISSIONS_AGE: ("phe_admissions_by_age", gla_admissions_age),
    BOROUGH_RATES: ("phe_cases_by_utla", partial(cases_rates_table, BOROUGH_RATES)),
    LONDON_ENGLAND_RATES: ("phe_cases_by_region", partial(cases_rates_table, LONDON_ENGLAND_RATES)),
    AGE_SEX: ("phe_cases_by_age_sex", age_sex_table),
    HEALTHCARE: ("phe_healthcare", healthcare_table),
    ONS_POSITIVITY: ("ons_infection_survey", partial(in_published_form, ONS_POSITIVITY)),
    NHS_111: ("nhs_111", partial(in_published_form, NHS_111)),
}


def build_datastore_tables(clean: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Pure: the clean source tables (by source name) in, the published tables (by table name) out, each
    recording where its source's data came from (checks/origin.py) and the release and raw files it was read
    from (reports/provenance.py)."""
    tables = {}
    for name, (source, build) in BUILDERS.items():
        table = build(without_attrs(clean[source]))
        attrs = clean[source].attrs
        table.attrs = {"obtained": {source: attrs.get("origin", UNKNOWN)},
                       # The release and raw files behind the table: the report version's provenance manifest.
                       "derived_from": {source: {"release_date": attrs.get("release_date"),
                                                 "raw_files": attrs.get("raw_files", [])}}}
        tables[name] = table
    return tables


def origin_markdown(tables: Mapping[str, pd.DataFrame]) -> str:
    verdict = judge(tables, retired=RETIRED)
    lines = ["| file | source | data from |", "|---|---|---|"]
    for name, table in tables.items():
        for source, origin in obtained(table).items():
            shown = "**shipped sample**" if origin == SAMPLE else origin
            lines.append(f"| {name} | {source} | {shown} |")
    if verdict.samples:
        lines.insert(0, f"**Built from shipped sample data ({', '.join(verdict.samples)}): cannot be published to "
                        "the London Datastore.**\n")
    elif verdict.held_back:
        lines.insert(0, f"Held back at publication (their retired source has only a shipped sample): "
                        f"{', '.join(verdict.held_back)}.\n")
    return "\n".join(lines)


@dg.asset(
    group_name="publication",
    ins={name: dg.AssetIn(key=clean_key(source)) for name, source in SOURCES.items()},
    kinds={"pandas", "parquet"},
)
def datastore_tables(context: dg.AssetExecutionContext, **clean_tables: pd.DataFrame) -> dg.Output:
    """The files published to the London Datastore, each validated by its own pandera model before it is stored:
    the GLA's five (`phe_cases_london_boroughs`, `phe_cases_london_england`, `phe_cases_age_london`,
    `phe_healthcare`, `phe_healthcare_admissions_age`: the names, columns and meanings existing users read) and our
    six additional ones (rates, age and sex, healthcare, ONS positivity, NHS 111). Columns are documented in
    docs/analyst.md. The metadata gives each table's rows, the fingerprint the report is versioned by, and where each
    source's data came from (a version built from shipped samples can never be published)."""
    tables = build_datastore_tables(clean_tables)
    failed = {name: outcome for name, outcome in validate_published(tables).items() if not outcome.passed}
    if failed:
        problems = "; ".join(f"{name}: {outcome.summary()}" for name, outcome in failed.items())
        raise SourceError("datastore_tables", ", ".join(failed), f"failed validation: {problems}")
    lines = ["| table | rows | columns |", "|---|---:|---|"]
    lines += [f"| {name}.csv | {len(t):,} | {', '.join(t.columns)} |" for name, t in tables.items()]
    context.log.info(f"datastore tables built: {', '.join(f'{n} ({len(t)} rows)' for n, t in tables.items())}")
    return dg.Output(
        tables,
        metadata={
            "fingerprint": dg.MetadataValue.text(fingerprint(tables)),
            "tables": dg.MetadataValue.md("\n".join(lines)),
            "dagster/row_count": dg.MetadataValue.int(sum(len(t) for t in tables.values())),
            "data_origin": dg.MetadataValue.md(origin_markdown(tables)),
        },
    )
