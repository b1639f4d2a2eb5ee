"""London and England: daily COVID-19 cases by specimen date, and the cumulative total.

One row per area and date. `area_code` is E12000007 (London region) or E92000001 (England); `new_cases` counts
people with a first positive test on that specimen date; `cumulative_cases` is the running total the source
publishes, or, where a release has none, the running total of `new_cases` over its whole daily history (the
metadata's notes say which). Recent days are incomplete for about five days while test results arrive. Source:
PHE coronavirus dashboard API (`areaType=region` and `areaType=nation`; a file of several regions or nations is
fine, London and England are kept), or the UKHSA data dashboard API in live mode.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.formats.phe_api import CASES_METRICS, each_file_by_area, fill_cumulative, phe_v2_url, read_cases
from assets.formats.reading import add_note, concat_noted
from assets.formats.ukhsa_api import CASES_BY_DAY, records, series_notes, ukhsa_requests, ukhsa_variant, wide
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Variant
from checks.geography import ENGLAND, LONDON_REGION
from checks.schemas import PheCasesByRegion


def build_requests(base_url: str) -> list[SourceRequest]:
    metrics = list(CASES_METRICS)
    return [
        SourceRequest("region_london", phe_v2_url(base_url, "region", metrics, "csv", LONDON_REGION), ".csv",
                      "region_london.csv"),
        SourceRequest("nation_england", phe_v2_url(base_url, "nation", metrics, "csv", ENGLAND), ".csv",
                      "nation_england.csv"),
    ]


def parse_cases_by_region(files: Mapping[str, RawFile]) -> pd.DataFrame:
    frames = [fill_cumulative(frame, file.name) for file, frame in each_file_by_area(
        files, read_cases, {LONDON_REGION: "London", ENGLAND: "England"}, area_types={"region", "nation"})]
    return concat_noted(frames).sort_values(["area_code", "date"], ignore_index=True)


def build_live_requests(base_url: str) -> list[SourceRequest]:
    return ukhsa_requests(base_url, [("london_cases", "Region", "London", CASES_BY_DAY),
                                     ("england_cases", "Nation", "England", CASES_BY_DAY)])


def parse_cases_by_region_live(files: Mapping[str, RawFile]) -> pd.DataFrame:
    """UKHSA pages -> the same table; the API has no cumulative count, so it is rebuilt where it can be."""
    table = wide(records(files), {CASES_BY_DAY: "new_cases"})
    table.insert(4, "cumulative_cases", pd.array([pd.NA] * len(table), dtype="Int64"))
    for note in series_notes(files, build_live_requests("")):
        add_note(table, note)
    return fill_cumulative(table, "the UKHSA API").sort_values(["area_code", "date"], ignore_index=True)


SOURCE = Source(
    name="phe_cases_by_region",
    presentation=Presentation(title="PHE cases by specimen date for London and England", description=__doc__),
    schema=PheCasesByRegion,
    variants=(
        ukhsa_variant(build_live_requests, parse_cases_by_region_live, parallel_requests=2),
        Variant(api="phe", build_requests=build_requests, parse=parse_cases_by_region, sample_release="2020-11-20"),
    ),
    areas={LONDON_REGION: "London", ENGLAND: "England"},
    freshness=Freshness(expected_lag_days=7),
)
