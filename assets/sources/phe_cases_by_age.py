"""London: daily COVID-19 cases by specimen date in each five-year age band, with PHE's 7-day sum and rate.

One row per date and age band (00_04 ... 90+, and `unassigned` for cases whose age was not known). `cases` counts
people with a first positive test on that specimen date; `rolling_sum` is the sum over the 7 days ending on
`date` and `rolling_rate` that sum per 100,000 people, as PHE published them (empty where a release left them
out). PHE's aggregate bands 00_59 and 60+ are left out so no case is counted twice. Source: PHE coronavirus
dashboard API, metric `newCasesBySpecimenDateAgeDemographics` for region London (v2 CSV or v1/v2 JSON; the
dashboard's earlier all-areas download `specimenDate_ageDemographic-stacked.csv` reads too). The
UKHSA API has no case counts by age (only a rate), so live mode keeps the last PHE release and says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.formats.phe_api import nested_metric, phe_v2_url
from assets.formats.reading import drop_counted
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import LONDON_REGION
from checks.schemas import PHE_AGE_BANDS, PheCasesByAge
from resources.errors import ParseError

METRIC = "newCasesBySpecimenDateAgeDemographics"
FIELDS = {"cases": "int", "rollingSum": "int", "rollingRate": "float"}
# The dashboard's download before the v2 API (`downloads/demographic/cases/specimenDate_ageDemographic-stacked.csv`,
# to January 2021: every area type in one file, bands unpadded) named the fields after the metric.
LEGACY_HEADERS = {"newCasesBySpecimenDate": "cases", "newCasesBySpecimenDateRollingSum": "rollingSum",
                  "newCasesBySpecimenDateRollingRate": "rollingRate"}


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("region_london_age", phe_v2_url(base_url, "region", [METRIC], "csv", LONDON_REGION),
                          ".csv", "region_london_age.csv")]


def parse_cases_by_age(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["region_london_age"]
    frame = nested_metric(file.content, file.name, METRIC, FIELDS, (LONDON_REGION, "London", "region"), LEGACY_HEADERS)
    unknown = sorted(set(frame["age"]) - {*PHE_AGE_BANDS, "unassigned", "00_59", "60+"})
    if unknown:
        raise ParseError(file.name, f"unknown age band label(s) {unknown}")
    # 00_59 and 60+ sum the five-year bands (00_59 even includes `unassigned` in early 2021 files).
    frame = drop_counted(frame, frame["age"].isin([*PHE_AGE_BANDS, "unassigned"]), file.name,
                         "rows of the bands 00_59 and 60+ (sums of the five-year bands)")
    if frame["cases"].isna().any():
        bad = frame[frame["cases"].isna()].iloc[0]
        raise ParseError(file.name, f"'cases' is empty for {bad['age']} on {bad['date']:%Y-%m-%d}")
    table = pd.DataFrame({
        "area_code": LONDON_REGION,
        "area_name": "London",
        "date": frame["date"].astype("datetime64[ns]"),
        "age_band": frame["age"].astype(str),
        "cases": frame["cases"].astype("Int64"),
        "rolling_sum": frame["rollingSum"].astype("Int64"),
        "rolling_rate": frame["rollingRate"].astype("float64"),
    })
    table.attrs = dict(frame.attrs)  # the notes on what was read
    return table.sort_values(["date", "age_band"], ignore_index=True)


SOURCE = Source(
    name="phe_cases_by_age",
    presentation=Presentation(title="PHE cases by specimen date and age band for London", description=__doc__),
    schema=PheCasesByAge,
    variants=(
        Variant(api="phe", build_requests=build_requests, parse=parse_cases_by_age, sample_release="2020-11-20"),
    ),
    freshness=Freshness(expected_lag_days=7),
    status=Status.RETIRED,
    status_note="The UKHSA API publishes no case counts by age band for London, only a rate.",
)
