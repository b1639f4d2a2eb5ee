"""The tables published to the London Datastore, built from the clean source tables.

Their names, columns and sort order are the contract in checks/published.py. Rates are per 100,000 people
(mid-2020 populations, as PHE used). `rolling_7day_*` are sums over the seven days ending on `date`, left empty
until seven days exist.
"""


from collections.abc import Mapping

import dagster as dg
import pandas as pd

from assets import SOURCES
from assets.factory import clean_key
from checks.lookups import populations
from checks.published import (
    AGE_SEX,
    BOROUGHS,
    HEALTHCARE,
    LONDON_ENGLAND,
    NHS_111,
    ONS_POSITIVITY,
    fingerprint,
    in_published_form,
    validate_published,
)
from resources.errors import SourceError


def _rolling_7day(frame: pd.DataFrame, column: str, by: str | None) -> pd.Series:
    """Sum over the 7 calendar days ending on each row's date; empty unless all 7 days are present."""
    def window(group: pd.DataFrame) -> pd.Series:
        series = group.set_index("date")[column].astype("float64")
        sums = series.rolling("7D", min_periods=7).sum()
        spans = series.index.to_series().diff(6).dt.days  # 6 when the last 7 rows are 7 consecutive days
        sums[spans != 6] = float("nan")
        return pd.Series(sums.to_numpy(), index=group.index)

    groups = [frame] if by is None else [g for _, g in frame.groupby(by, sort=False)]
    return pd.concat([window(g.sort_values("date")) for g in groups]).reindex(frame.index).round().astype("Int64")


def _per_100k(values: pd.Series, area_codes: pd.Series) -> pd.Series:
    population = area_codes.map(populations())
    return (values.astype("float64") / population * 100_000).round(1)


def cases_table(name: str, clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.rename(columns={"cumulative_cases": "total_cases"}).copy()
    frame["new_cases_rate"] = _per_100k(frame["new_cases"], frame["area_code"])
    frame["rolling_7day_cases"] = _rolling_7day(frame, "new_cases", by="area_code")
    frame["rolling_7day_rate"] = _per_100k(frame["rolling_7day_cases"], frame["area_code"])
    return in_published_form(name, frame)


def age_sex_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.rename(columns={"cumulative_cases": "total_cases", "cumulative_rate": "total_cases_rate"})
    return in_published_form(AGE_SEX, frame)


def healthcare_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.copy()
    frame["area_name"] = "London"
    frame["rolling_7day_admissions"] = _rolling_7day(frame, "new_admissions", by=None)
    return in_published_form(HEALTHCARE, frame)


def build_datastore_tables(clean: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Pure: the clean source tables (by source name) in, the published tables (by table name) out."""
    return {
        BOROUGHS: cases_table(BOROUGHS, clean["phe_cases_by_utla"]),
        LONDON_ENGLAND: cases_table(LONDON_ENGLAND, clean["phe_cases_by_region"]),
        AGE_SEX: age_sex_table(clean["phe_cases_by_age_sex"]),
        HEALTHCARE: healthcare_table(clean["phe_healthcare"]),
        ONS_POSITIVITY: in_published_form(ONS_POSITIVITY, clean["ons_infection_survey"]),
        NHS_111: in_published_form(NHS_111, clean["nhs_111"]),
    }


@dg.asset(
    group_name="publication",
    ins={name: dg.AssetIn(key=clean_key(source)) for name, source in SOURCES.items()},
    kinds={"pandas", "parquet"},
)
def datastore_tables(context: dg.AssetExecutionContext, **clean_tables: pd.DataFrame) -> dg.Output:
    """The six tables published to the London Datastore, built from the clean source tables and each validated
    by its own pandera model before it is stored: London boroughs' daily and cumulative cases with rates per
    100,000 (`phe_cases_london_boroughs`), London and England (`phe_cases_london_england`), London cases by age
    band and sex (`phe_cases_age_sex_london`), London healthcare (`phe_healthcare_london`), ONS positivity
    (`ons_positivity_london`) and NHS 111/999/online triages for London (`nhs_111_999_online_london`). Columns are
    documented in the README. The metadata gives each table's rows and the fingerprint the report is versioned by.
    """
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
        },
    )
