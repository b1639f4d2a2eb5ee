"""pandera models for every clean table: what a valid release of each source looks like.

Counts are whole, non-negative numbers; area codes, age bands and site types come from fixed lists; each table
has a unique key; no date lies in the future; credible intervals are ordered lower <= estimate <= upper.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from checks.geography import ENGLAND, LONDON_NHS_REGION, LONDON_PHE_UTLA_CODES, LONDON_REGION
from checks.lookups import london_merged_ccgs
from resources.clock import london_today

# PHE's age bands for cases, zero-padded as the v2 API writes them.
PHE_AGE_BANDS = (
    "00_04", "05_09", "10_14", "15_19", "20_24", "25_29", "30_34", "35_39", "40_44", "45_49",
    "50_54", "55_59", "60_64", "65_69", "70_74", "75_79", "80_84", "85_89", "90+",
)
# PHE's age bands for hospital admissions (cumAdmissionsByAge), normalised the same way.
PHE_ADMISSION_AGE_BANDS = ("00_05", "06_17", "18_64", "65_84", "85+")
NHS_111_SITE_TYPES = ("111", "999", "online")
NHS_111_SEXES = ("female", "male", "unknown", "indeterminate")


class _DatedTable(pa.DataFrameModel):
    date: Series[pa.DateTime]

    @pa.check("date", name="not_in_future", error="date is in the future")
    def _not_in_future(cls, dates: Series[pa.DateTime]) -> Series[bool]:
        return dates <= pd.Timestamp(london_today())

    class Config:
        strict = True


class _DailyCases(_DatedTable):
    """Cases by specimen date per area and day; each source's model names the areas it may hold."""

    area_code: Series[str]
    area_name: Series[str]
    new_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    cumulative_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    # True while the day is inside the source's reporting delay (UKHSA's in_reporting_delay_period); empty where
    # the source does not say (the PHE API did not).
    provisional: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    class Config:
        unique = ["area_code", "date"]


class PheCasesByRegion(_DailyCases):
    area_code: Series[str] = pa.Field(isin=[LONDON_REGION, ENGLAND])


class PheCasesByUtla(_DailyCases):
    area_code: Series[str] = pa.Field(isin=list(LONDON_PHE_UTLA_CODES))


class PheCasesByAgeSex(_DatedTable):
    area_code: Series[str] = pa.Field(isin=[LONDON_REGION])
    sex: Series[str] = pa.Field(isin=["female", "male"])
    age_band: Series[str] = pa.Field(isin=list(PHE_AGE_BANDS))
    cumulative_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    cumulative_rate: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["date", "sex", "age_band"]


class PheCasesByAge(_DatedTable):
    area_code: Series[str] = pa.Field(isin=[LONDON_REGION])
    area_name: Series[str]
    age_band: Series[str] = pa.Field(isin=[*PHE_AGE_BANDS, "unassigned"])
    cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    rolling_sum: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    rolling_rate: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["date", "age_band"]


class PheAdmissionsByAge(_DatedTable):
    area_code: Series[str] = pa.Field(isin=[LONDON_NHS_REGION])
    age_band: Series[str] = pa.Field(isin=list(PHE_ADMISSION_AGE_BANDS))
    cumulative_admissions: Series[pd.Int64Dtype] = pa.Field(ge=0)
    cumulative_rate: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        unique = ["date", "age_band"]


class PheHealthcare(_DatedTable):
    area_code: Series[str] = pa.Field(isin=[LONDON_NHS_REGION, ENGLAND])
    new_admissions: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    hospital_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    covid_occupied_mv_beds: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    provisional: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    class Config:
        unique = ["area_code", "date"]


class OnsInfectionSurvey(pa.DataFrameModel):
    area_code: Series[str] = pa.Field(str_matches=r"^[EKNSW]\d{8}$")
    area_name: Series[str]
    estimate_kind: Series[str] = pa.Field(isin=["official_weekly", "modelled_daily", "regional_estimate"])
    period_start: Series[pa.DateTime]
    period_end: Series[pa.DateTime]
    percent_positive: Series[float] = pa.Field(ge=0, le=100)
    percent_lower: Series[float] = pa.Field(ge=0, le=100)
    percent_upper: Series[float] = pa.Field(ge=0, le=100)
    people_positive: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    people_lower: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    people_upper: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)

    @pa.dataframe_check(name="interval_ordered", error="credible interval not ordered lower <= estimate <= upper")
    def _interval_ordered(cls, frame: pd.DataFrame) -> Series[bool]:
        return (frame["percent_lower"] <= frame["percent_positive"]) & (
            frame["percent_positive"] <= frame["percent_upper"]
        )

    @pa.dataframe_check(name="period_ordered", error="period ends before it starts")
    def _period_ordered(cls, frame: pd.DataFrame) -> Series[bool]:
        return frame["period_start"] <= frame["period_end"]

    @pa.check("period_end", name="not_in_future", error="period ends in the future")
    def _not_in_future(cls, dates: Series[pa.DateTime]) -> Series[bool]:
        return dates <= pd.Timestamp(london_today())

    class Config:
        strict = True
        unique = ["area_code", "estimate_kind", "period_start", "period_end"]


class Nhs111Triages(_DatedTable):
    site_type: Series[str] = pa.Field(isin=list(NHS_111_SITE_TYPES))
    sex: Series[str] = pa.Field(isin=list(NHS_111_SEXES))
    age_band: Series[str]
    # The CCG as the release published it (ONS E38 code, or an NHS ODS code), and the April 2021 London CCG it is in.
    ccg_code: Series[str] = pa.Field(str_matches=r"^(E38\d{6}|[0-9A-Z]{3,5})$")
    ccg_name: Series[str]
    merged_ccg_code: Series[str] = pa.Field(isin=sorted(london_merged_ccgs()))
    merged_ccg_name: Series[str]
    count: Series[pd.Int64Dtype] = pa.Field(ge=0)

    class Config:
        unique = ["date", "site_type", "sex", "age_band", "ccg_code"]


# --- The published London Datastore tables (built by assets/datastore_tables.py) -----------------------------------
# Column order is part of the contract: `strict="filter"` is not used, and `ordered = True` makes a reordered
# column fail validation before anything is published.


class _PublishedCases(pa.DataFrameModel):
    area_name: Series[str]
    area_code: Series[str]
    date: Series[pa.DateTime]
    new_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    total_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    new_cases_rate: Series[float] = pa.Field(ge=0)
    rolling_7day_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    rolling_7day_rate: Series[float] = pa.Field(ge=0, nullable=True)

    @pa.check("date", name="not_in_future", error="date is in the future")
    def _not_in_future(cls, dates: Series[pa.DateTime]) -> Series[bool]:
        return dates <= pd.Timestamp(london_today())

    class Config:
        strict = True
        ordered = True
        unique = ["area_code", "date"]


class PublishedBoroughCases(_PublishedCases):
    area_code: Series[str] = pa.Field(isin=list(LONDON_PHE_UTLA_CODES))


class PublishedLondonEngland(_PublishedCases):
    area_code: Series[str] = pa.Field(isin=[LONDON_REGION, ENGLAND])


class PublishedAgeSex(_DatedTable):
    sex: Series[str] = pa.Field(isin=["female", "male"])
    age_band: Series[str] = pa.Field(isin=list(PHE_AGE_BANDS))
    total_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    total_cases_rate: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        ordered = True
        unique = ["date", "sex", "age_band"]


class PublishedHealthcare(_DatedTable):
    area_name: Series[str]
    area_code: Series[str] = pa.Field(isin=[LONDON_NHS_REGION])
    new_admissions: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    rolling_7day_admissions: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    hospital_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    covid_occupied_mv_beds: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)

    class Config:
        ordered = True
        unique = ["date"]


class PublishedOnsPositivity(OnsInfectionSurvey):
    class Config:
        ordered = True


class PublishedNhs111(Nhs111Triages):
    class Config:
        ordered = True


# --- The GLA's own files (the contract existing Datastore users read; see checks/published.py) ----------------------
# Labels as the GLA wrote them, in the GLA's order.
GLA_AGE_BANDS = (*(f"{low} - {low + 4} years" for low in range(0, 90, 5)), "90+ years", "unassigned")
GLA_ADMISSION_AGE_BANDS = ("0 - 5 years", "6 - 17 years", "18 - 64 years", "65 - 84 years", "85+ years")


def gla_band(band: str) -> tuple[str, int | None, int | None]:
    """PHE's band label -> the GLA's label, age_lower and age_higher ('00_04' -> '0 - 4 years', 0, 4; '90+' ->
    '90+ years', 90, 90; 'unassigned' stays, with no bounds). The GLA's style is the one analysts read everywhere:
    its files, and the report's charts."""
    if band == "unassigned":
        return band, None, None
    if band.endswith("+"):
        low = int(band[:-1])
        return f"{low}+ years", low, low
    low, high = (int(part) for part in band.split("_"))
    return f"{low} - {high} years", low, high


GLA_HEALTHCARE_TYPES = (
    "Patients admitted to Hospital", "Patients in Hospital", "Patients in mechanical ventilation beds",
)
LONDON_AND_REST = ("London", "Rest of England")


class GlaBoroughCases(pa.DataFrameModel):
    area_name: Series[str]
    area_code: Series[str] = pa.Field(isin=list(LONDON_PHE_UTLA_CODES))
    date: Series[pa.DateTime]
    new_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    total_cases: Series[pd.Int64Dtype] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        unique = ["area_code", "date"]


class GlaLondonEngland(pa.DataFrameModel):
    date: Series[pa.DateTime]
    area_name: Series[str] = pa.Field(isin=list(LONDON_AND_REST))
    # Empty only where Rest of England would be negative (England and London disagree): the report says where.
    new_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    total_cases: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["area_name", "date"]


class GlaCasesAge(pa.DataFrameModel):
    area_name: Series[str] = pa.Field(isin=["London"])
    area_code: Series[str] = pa.Field(isin=[LONDON_REGION])
    date: Series[pa.DateTime]
    cases: Series[pd.Int64Dtype] = pa.Field(ge=0)
    rolling_sum: Series[pd.Int64Dtype] = pa.Field(ge=0)
    rolling_rate: Series[float] = pa.Field(ge=0)
    age_band: Series[str] = pa.Field(isin=list(GLA_AGE_BANDS))
    # Empty for `unassigned` only.
    age_lower: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    age_higher: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    population: Series[pd.Int64Dtype] = pa.Field(gt=0, nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["date", "age_band"]


class GlaHealthcare(pa.DataFrameModel):
    date: Series[pa.DateTime]
    area_name: Series[str] = pa.Field(isin=list(LONDON_AND_REST))
    healthcare_type: Series[str] = pa.Field(isin=list(GLA_HEALTHCARE_TYPES))
    patients: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["date", "area_name", "healthcare_type"]


class GlaAdmissionsAge(pa.DataFrameModel):
    area_name: Series[str] = pa.Field(isin=["London"])
    area_code: Series[str] = pa.Field(isin=[LONDON_NHS_REGION])
    age: Series[str] = pa.Field(isin=list(GLA_ADMISSION_AGE_BANDS))
    age_lower: Series[pd.Int64Dtype] = pa.Field(ge=0)
    age_higher: Series[pd.Int64Dtype] = pa.Field(ge=0)
    week_ending: Series[pa.DateTime]
    weekly_admissions: Series[pd.Int64Dtype] = pa.Field(ge=0)
    weekly_rate: Series[float] = pa.Field(ge=0, nullable=True)

    class Config:
        strict = True
        ordered = True
        unique = ["age", "week_ending"]
