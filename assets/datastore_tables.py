"""The tables published to the London Datastore, built from the clean source tables.

Each table has stable column names and order (its pandera model in checks/schemas.py), ISO dates, a fixed sort
order, and is published as UTF-8 CSV without an index. Rates are per 100,000 people (mid-2020 populations, as
PHE used). `rolling_7day_*` are sums over the seven days ending on `date`, left empty until seven days exist.
"""


import hashlib
from collections.abc import Mapping

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from checks import schemas
from checks.lookups import populations
from checks.validation import validate_table
from resources.errors import SourceError

BOROUGHS = "phe_cases_london_boroughs"
LONDON_ENGLAND = "phe_cases_london_england"
AGE_SEX = "phe_cases_age_sex_london"
HEALTHCARE = "phe_healthcare_london"
ONS_POSITIVITY = "ons_positivity_london"
NHS_111 = "nhs_111_999_online_london"

# Published name -> (pandera model, sort order). The model's column order is the file's column order.
PUBLISHED: dict[str, tuple[type[pa.DataFrameModel], list[str]]] = {
    BOROUGHS: (schemas.PublishedBoroughCases, ["area_code", "date"]),
    LONDON_ENGLAND: (schemas.PublishedLondonEngland, ["area_code", "date"]),
    AGE_SEX: (schemas.PublishedAgeSex, ["date", "sex", "age_band"]),
    HEALTHCARE: (schemas.PublishedHealthcare, ["date"]),
    ONS_POSITIVITY: (schemas.PublishedOnsPositivity, ["area_code", "estimate_kind", "period_end"]),
    NHS_111: (schemas.PublishedNhs111, ["date", "site_type", "ccg_code", "sex", "age_band"]),
}
# The column each table's "largest revisions" are measured on in the report.
MAIN_VALUE = {
    BOROUGHS: "new_cases", LONDON_ENGLAND: "new_cases", AGE_SEX: "total_cases", HEALTHCARE: "new_admissions",
    ONS_POSITIVITY: "percent_positive", NHS_111: "count",
}
KEYS = {name: sort for name, (_, sort) in PUBLISHED.items()}


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


def _finish(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    model, sort = PUBLISHED[name]
    columns = list(model.to_schema().columns)
    return frame[columns].sort_values(sort, ignore_index=True)


def cases_table(name: str, clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.rename(columns={"cumulative_cases": "total_cases"}).copy()
    frame["new_cases_rate"] = _per_100k(frame["new_cases"], frame["area_code"])
    frame["rolling_7day_cases"] = _rolling_7day(frame, "new_cases", by="area_code")
    frame["rolling_7day_rate"] = _per_100k(frame["rolling_7day_cases"], frame["area_code"])
    return _finish(name, frame)


def age_sex_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.rename(columns={"cumulative_cases": "total_cases", "cumulative_rate": "total_cases_rate"})
    return _finish(AGE_SEX, frame)


def healthcare_table(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.copy()
    frame["area_name"] = "London"
    frame["rolling_7day_admissions"] = _rolling_7day(frame, "new_admissions", by=None)
    return _finish(HEALTHCARE, frame)


def build_datastore_tables(clean: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Pure: the clean source tables (by source name) in, the published tables (by file name) out."""
    return {
        BOROUGHS: cases_table(BOROUGHS, clean["phe_cases_by_utla"]),
        LONDON_ENGLAND: cases_table(LONDON_ENGLAND, clean["phe_cases_by_region"]),
        AGE_SEX: age_sex_table(clean["phe_cases_by_age_sex"]),
        HEALTHCARE: healthcare_table(clean["phe_healthcare"]),
        ONS_POSITIVITY: _finish(ONS_POSITIVITY, clean["ons_infection_survey"]),
        NHS_111: _finish(NHS_111, clean["nhs_111"]),
    }


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """Exactly the bytes published: UTF-8 CSV, no index, ISO dates, empty cells for missing values."""
    return table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode("utf-8")


def fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """The report version: a content hash of exactly these tables as they would be published."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode() + b"\n" + to_csv_bytes(tables[name]) + b"\n")
    return digest.hexdigest()[:12]


def validate_published(tables: Mapping[str, pd.DataFrame]) -> dict[str, object]:
    """Run every published table's model; returns the outcomes by table name."""
    return {name: validate_table(tables[name], PUBLISHED[name][0]) for name in PUBLISHED}


@dg.asset(
    group_name="publication",
    ins={name: dg.AssetIn(key=dg.AssetKey(name)) for name in (
        "phe_cases_by_region", "phe_cases_by_utla", "phe_cases_by_age_sex", "phe_healthcare",
        "ons_infection_survey", "nhs_111",
    )},
    kinds={"pandas", "parquet"},
)
def datastore_tables(
    context: dg.AssetExecutionContext,
    phe_cases_by_region: pd.DataFrame,
    phe_cases_by_utla: pd.DataFrame,
    phe_cases_by_age_sex: pd.DataFrame,
    phe_healthcare: pd.DataFrame,
    ons_infection_survey: pd.DataFrame,
    nhs_111: pd.DataFrame,
) -> dg.Output[dict[str, pd.DataFrame]]:
    """The six tables published to the London Datastore, built from the clean source tables and each validated
    by its own pandera model before it is stored: London boroughs' daily and cumulative cases with rates per
    100,000 (`phe_cases_london_boroughs`), London and England (`phe_cases_london_england`), London cases by age
    band and sex (`phe_cases_age_sex_london`), London healthcare (`phe_healthcare_london`), ONS positivity
    (`ons_positivity_london`) and NHS 111/999/online triages for London (`nhs_111_999_online_london`). Columns are
    documented in the README. The metadata gives each table's rows and the fingerprint the report is versioned by.
    """
    tables = build_datastore_tables({
        "phe_cases_by_region": phe_cases_by_region, "phe_cases_by_utla": phe_cases_by_utla,
        "phe_cases_by_age_sex": phe_cases_by_age_sex, "phe_healthcare": phe_healthcare,
        "ons_infection_survey": ons_infection_survey, "nhs_111": nhs_111,
    })
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
