"""London: cumulative COVID-19 cases by sex and five-year age band, by specimen date.

One row per date, sex (female, male) and age band (00_04 ... 90+). `cumulative_cases` is the running total the
source publishes for that band; `cumulative_rate` is per 100,000 people where the source gives it. Cases with
unknown sex are not in these series. Source: PHE coronavirus dashboard API v2 `maleCases` / `femaleCases` for
the London region (nested metrics, each requested alone as JSON).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.formats.phe_api import nested_metric, phe_v2_url
from assets.formats.reading import concat_noted, drop_counted
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import LONDON_REGION
from checks.schemas import PHE_AGE_BANDS, PheCasesByAgeSex
from resources.errors import ParseError

SEXES = ("male", "female")


def build_requests(base_url: str) -> list[SourceRequest]:
    return [
        SourceRequest(f"{sex}_cases", phe_v2_url(base_url, "region", [f"{sex}Cases"], "json", LONDON_REGION),
                      ".json", f"{sex}_cases.json")
        for sex in SEXES
    ]


def parse_sex_file(file: RawFile, sex: str) -> pd.DataFrame:
    frame = nested_metric(file.content, file.name, f"{sex}Cases", {"value": "int", "rate": "float"},
                          (LONDON_REGION, "London", "region"))
    unknown = sorted(set(frame["age"]) - set(PHE_AGE_BANDS) - {"00_59", "60+", "unassigned"})
    if unknown:
        raise ParseError(file.name, f"unknown age band label(s) {unknown}")
    # 00_59 and 60+ are aggregates of the five-year bands (keeping them would double-count); cases of unknown age
    # are in no band of this table, which holds each band's series.
    aggregate = frame["age"].isin(["00_59", "60+"])
    frame = drop_counted(frame, ~aggregate, file.name, "rows of the bands 00_59 and 60+ (sums of the five-year bands)")
    frame = drop_counted(frame, frame["age"].isin(PHE_AGE_BANDS), file.name,
                         "rows of the band 'unassigned' (cases of unknown age, in no age band)")
    if frame["value"].isna().any():
        raise ParseError(file.name, f"'value' is missing for {int(frame['value'].isna().sum())} band(s)")
    table = pd.DataFrame(
        {
            "area_code": LONDON_REGION,
            "date": frame["date"],
            "sex": sex,
            "age_band": frame["age"],
            "cumulative_cases": frame["value"].astype("Int64"),
            "cumulative_rate": frame["rate"].astype("float64"),
        }
    )
    table.attrs = dict(frame.attrs)  # the notes on what was read
    return table


def parse_cases_by_age_sex(files: Mapping[str, RawFile]) -> pd.DataFrame:
    frames = [parse_sex_file(files[f"{sex}_cases"], sex) for sex in SEXES if f"{sex}_cases" in files]
    if not frames:
        raise ParseError(", ".join(f.name for f in files.values()), "holds neither maleCases nor femaleCases")
    table = concat_noted(frames)
    table["area_code"] = table["area_code"].astype(str)
    table["sex"] = table["sex"].astype(str)
    table["age_band"] = table["age_band"].astype(str)
    return table.sort_values(["date", "sex", "age_band"], ignore_index=True)


SOURCE = Source(
    name="phe_cases_by_age_sex",
    presentation=Presentation(title="PHE cases by age band and sex for London", description=__doc__),
    schema=PheCasesByAgeSex,
    variants=(
        Variant(api="phe", build_requests=build_requests, parse=parse_cases_by_age_sex, sample_release="2020-05-21"),
    ),
    freshness=Freshness(expected_lag_days=7),
    # Live mode keeps the last archived PHE release (or the shipped one) and the report says so.
    status=Status.RETIRED,
    status_note="The UKHSA API does not publish cumulative cases by sex and age band.",
)
