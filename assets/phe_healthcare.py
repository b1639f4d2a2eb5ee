"""London (NHS region E40000003): COVID-19 hospital admissions, patients in hospital and patients on mechanical
ventilation, by day.

One row per date. `new_admissions` counts patients admitted with COVID-19 that day (including those diagnosed in
hospital); `hospital_cases` is the number of COVID-19 patients in hospital; `covid_occupied_mv_beds` the number
in beds capable of mechanical ventilation. Empty where the source has no figure for that day. Source: PHE
coronavirus dashboard API v2 (`areaType=nhsRegion`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.phe_api import parse_v2_csv, phe_v2_url
from assets.source import Freshness, Presentation, RawFile, Source, SourceRequest, Variant
from assets.ukhsa_api import ADMISSIONS_BY_DAY, OCCUPIED_BEDS_BY_DAY, records, ukhsa_requests, ukhsa_variant, wide
from checks.geography import LONDON_NHS_REGION
from checks.schemas import PheHealthcare

HEALTHCARE_METRICS = {
    "newAdmissions": "new_admissions",
    "hospitalCases": "hospital_cases",
    "covidOccupiedMVBeds": "covid_occupied_mv_beds",
}


def build_requests(base_url: str) -> list[SourceRequest]:
    url = phe_v2_url(base_url, "nhsRegion", list(HEALTHCARE_METRICS), "csv", LONDON_NHS_REGION)
    return [SourceRequest("nhs_region_london", url, ".csv", "nhs_region_london.csv")]


def parse_healthcare(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["nhs_region_london"]
    frame = parse_v2_csv(file.content, file.name, HEALTHCARE_METRICS).drop(columns=["area_name"])
    return frame.sort_values("date", ignore_index=True)


def build_live_requests(base_url: str) -> list[SourceRequest]:
    return ukhsa_requests(base_url, [
        ("london_admissions", "NHS Region", "London", ADMISSIONS_BY_DAY),
        ("london_beds", "NHS Region", "London", OCCUPIED_BEDS_BY_DAY),
    ])


def parse_healthcare_live(files: Mapping[str, RawFile]) -> pd.DataFrame:
    """UKHSA pages -> the same table; the API has no ventilation metric, so that column stays empty."""
    table = wide(records(files), {ADMISSIONS_BY_DAY: "new_admissions", OCCUPIED_BEDS_BY_DAY: "hospital_cases"})
    table.insert(5, "covid_occupied_mv_beds", pd.array([pd.NA] * len(table), dtype="Int64"))
    return table.drop(columns=["area_name"]).sort_values("date", ignore_index=True)


SOURCE = Source(
    name="phe_healthcare",
    presentation=Presentation(title="PHE healthcare figures for the NHS London region", description=__doc__),
    schema=PheHealthcare,
    variants=(
        ukhsa_variant(build_live_requests, parse_healthcare_live, parallel_requests=2),
        Variant(api="phe", build_requests=build_requests, parse=parse_healthcare, sample_release="2020-05-31"),
    ),
    freshness=Freshness(expected_lag_days=7),
)
