"""London (NHS region E40000003): cumulative COVID-19 hospital admissions by age band, by day.

One row per date and age band (PHE's 00_05, 06_17, 18_64, 65_84 and 85+). `cumulative_admissions` is the running
total of patients admitted with COVID-19 that PHE published for the band, and `cumulative_rate` the same per
100,000 people of that age, as PHE published it. The weekly admissions the GLA published are differences of these
(see the Datastore table phe_healthcare_admissions_age.csv). Source: PHE coronavirus dashboard API, metric
`cumAdmissionsByAge` for NHS region London (v2 CSV or v1/v2 JSON; a file of every NHS region is fine, London's
rows are kept, by name where a release gives no area codes). The UKHSA API has no admissions by age, so live
mode keeps the last PHE release and says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.formats.phe_api import nested_metric, phe_v2_url
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import LONDON_NHS_REGION
from checks.schemas import PHE_ADMISSION_AGE_BANDS, PheAdmissionsByAge
from resources.errors import ParseError

METRIC = "cumAdmissionsByAge"


def build_requests(base_url: str) -> list[SourceRequest]:
    url = phe_v2_url(base_url, "nhsRegion", [METRIC], "json", LONDON_NHS_REGION)
    return [SourceRequest("nhs_region_london_admissions_age", url, ".json", "nhsregion_cumAdmissionsByAge.json")]


def parse_admissions_by_age(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["nhs_region_london_admissions_age"]
    frame = nested_metric(file.content, file.name, METRIC, {"value": "int", "rate": "float"},
                          (LONDON_NHS_REGION, "London", "nhsRegion"))
    unknown = sorted(set(frame["age"]) - set(PHE_ADMISSION_AGE_BANDS))
    if unknown:
        raise ParseError(file.name, f"unknown age band label(s) {unknown}")
    if frame["value"].isna().any():
        raise ParseError(file.name, f"'value' is empty for {int(frame['value'].isna().sum())} band(s)")
    table = pd.DataFrame({
        "area_code": LONDON_NHS_REGION,
        "date": frame["date"].astype("datetime64[ns]"),
        "age_band": frame["age"].astype(str),
        "cumulative_admissions": frame["value"].astype("Int64"),
        "cumulative_rate": frame["rate"].astype("float64"),
    })
    table.attrs = dict(frame.attrs)  # the notes on what was read
    return table.sort_values(["date", "age_band"], ignore_index=True)


SOURCE = Source(
    name="phe_admissions_by_age",
    presentation=Presentation(title="PHE hospital admissions by age band for the NHS London region",
                              description=__doc__),
    schema=PheAdmissionsByAge,
    variants=(
        Variant(api="phe", build_requests=build_requests, parse=parse_admissions_by_age,
                sample_release="2020-11-20"),
    ),
    freshness=Freshness(expected_lag_days=7),
    status=Status.RETIRED,
    status_note="The UKHSA API publishes no hospital admissions by age band.",
)
