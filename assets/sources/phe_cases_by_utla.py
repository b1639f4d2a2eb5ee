"""London boroughs: daily COVID-19 cases by specimen date for each upper-tier local authority.

One row per area and date for the 32 areas PHE reports in London, E09000002 to E09000033. City of London has no
row of its own: it is inside E09000012 "Hackney and City of London", as on the official dashboard. When a release
lists City of London separately, its counts are added to Hackney's so every release has the same 32 areas.
`cumulative_cases` is the source's running total or, where a release has none, the running total of `new_cases`
over its whole daily history (the metadata's notes say which). Source: PHE coronavirus dashboard API
(`areaType=utla`, all UK areas; London's are kept), or the UKHSA data dashboard API in live mode.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from assets.formats.phe_api import CASES_METRICS, fill_cumulative, phe_v2_url, read_cases
from assets.formats.reading import add_note
from assets.formats.ukhsa_api import CASES_BY_DAY, records, series_notes, ukhsa_requests, ukhsa_variant, wide
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Variant
from checks.geography import (
    CITY_OF_LONDON,
    LONDON_BOROUGH_CODES,
    LONDON_BOROUGH_NAMES,
    LONDON_PHE_UTLA_NAMES,
    fold_city_into_hackney,
)
from checks.schemas import PheCasesByUtla
from resources.errors import ParseError


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("utla_all", phe_v2_url(base_url, "utla", list(CASES_METRICS), "csv"), ".csv",
                          "utla_all.csv")]


def parse_cases_by_utla(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["utla_all"]
    london = read_cases(file.content, file.name, areas=LONDON_BOROUGH_CODES, area_types={"utla"})
    if london.empty:
        raise ParseError(file.name, "has no London areas (E09...): is this the upper-tier local authority file?")
    london = fold_city_into_hackney(london, list(CASES_METRICS.values()))
    return fill_cumulative(london, file.name).sort_values(["area_code", "date"], ignore_index=True)


def build_live_requests(base_url: str) -> list[SourceRequest]:
    """33 series. UKHSA's own data and code name E09000012 plain "Hackney" as an upper-tier authority and hold City
    of London (E09000001) as a lower-tier one: it is fetched as such and folded into Hackney, as PHE's series was.
    Each area is one series: one the API does not answer fails the source, naming it (series_notes)."""
    return ukhsa_requests(base_url, [
        (f"{code.lower()}_cases", "Lower Tier Local Authority" if code == CITY_OF_LONDON else
         "Upper Tier Local Authority", name, CASES_BY_DAY)
        for code, name in LONDON_BOROUGH_NAMES.items()
    ])


def parse_cases_by_utla_live(files: Mapping[str, RawFile]) -> pd.DataFrame:
    notes = series_notes(files, build_live_requests(""))
    table = wide(records(files), {CASES_BY_DAY: "new_cases"})
    table.insert(4, "cumulative_cases", pd.array([pd.NA] * len(table), dtype="Int64"))
    table = fold_city_into_hackney(table[table["area_code"].isin(LONDON_BOROUGH_CODES)], list(CASES_METRICS.values()))
    for note in notes:
        add_note(table, note)
    return fill_cumulative(table, "the UKHSA API").sort_values(["area_code", "date"], ignore_index=True)


SOURCE = Source(
    name="phe_cases_by_utla",
    presentation=Presentation(title="PHE cases by specimen date for London's upper-tier local authorities",
                              description=__doc__),
    schema=PheCasesByUtla,
    variants=(
        ukhsa_variant(build_live_requests, parse_cases_by_utla_live, parallel_requests=4),
        Variant(api="phe", build_requests=build_requests, parse=parse_cases_by_utla, sample_release="2020-11-20"),
    ),
    areas=LONDON_PHE_UTLA_NAMES,
    freshness=Freshness(expected_lag_days=7),
)
