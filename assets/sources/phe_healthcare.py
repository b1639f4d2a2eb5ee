"""London (NHS region E40000003) and England: COVID-19 hospital admissions, patients in hospital and patients in
mechanical ventilation beds, by day.

One row per area and date. `new_admissions` counts patients admitted with COVID-19 that day (including those
diagnosed in hospital); `hospital_cases` is the number of COVID-19 patients in hospital; `covid_occupied_mv_beds`
the number in beds capable of mechanical ventilation. Empty where the source has no figure for that day (a
measure a release lacks altogether is empty throughout, and the metadata's notes say so). England is there so the
Datastore file can give the rest of England (England less London). Source: PHE coronavirus dashboard API
(`areaType=nhsRegion` and `areaType=nation`), or the UKHSA data dashboard API in live mode, which has no
ventilation measure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from assets.formats.phe_api import each_file_by_area, parse_v2_csv, phe_v2_url
from assets.formats.reading import add_note, concat_noted
from assets.formats.ukhsa_api import (
    ADMISSIONS_BY_DAY,
    OCCUPIED_BEDS_BY_DAY,
    records,
    series_notes,
    ukhsa_requests,
    ukhsa_variant,
    wide,
)
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Variant
from checks.geography import ENGLAND, LONDON_NHS_REGION
from checks.schemas import PheHealthcare

HEALTHCARE_METRICS = {
    "newAdmissions": "new_admissions",
    "hospitalCases": "hospital_cases",
    "covidOccupiedMVBeds": "covid_occupied_mv_beds",
}


def build_requests(base_url: str) -> list[SourceRequest]:
    metrics = list(HEALTHCARE_METRICS)
    return [
        SourceRequest("nhs_region_london", phe_v2_url(base_url, "nhsRegion", metrics, "csv", LONDON_NHS_REGION),
                      ".csv", "nhs_region_london.csv"),
        SourceRequest("nation_england", phe_v2_url(base_url, "nation", metrics, "csv", ENGLAND), ".csv",
                      "nation_england.csv"),
    ]


def read_healthcare(content: bytes, file: str, areas: Collection[str], area_types: Collection[str]) -> pd.DataFrame:
    """One file's healthcare figures for `areas`; a measure the file lacks comes back empty."""
    return parse_v2_csv(content, file, HEALTHCARE_METRICS, areas=areas, optional=set(HEALTHCARE_METRICS),
                        area_types=area_types)


def parse_healthcare(files: Mapping[str, RawFile]) -> pd.DataFrame:
    frames = []
    for file, frame in each_file_by_area(files, read_healthcare,
                                         {LONDON_NHS_REGION: "NHS region London", ENGLAND: "England"},
                                         area_types={"nhsregion", "nation"}):
        for metric, column in HEALTHCARE_METRICS.items():
            if frame[column].isna().all():
                add_note(frame, f"{column} is empty: {file.name} has no {metric} figures")
        frames.append(frame.drop(columns=["area_name"]))
    return concat_noted(frames).sort_values(["area_code", "date"], ignore_index=True)


def build_live_requests(base_url: str) -> list[SourceRequest]:
    return ukhsa_requests(base_url, [
        ("london_admissions", "NHS Region", "London", ADMISSIONS_BY_DAY),
        ("london_beds", "NHS Region", "London", OCCUPIED_BEDS_BY_DAY),
        ("england_admissions", "Nation", "England", ADMISSIONS_BY_DAY),
        ("england_beds", "Nation", "England", OCCUPIED_BEDS_BY_DAY),
    ])


def parse_healthcare_live(files: Mapping[str, RawFile]) -> pd.DataFrame:
    """UKHSA pages -> the same table; the API has no ventilation metric, so that column stays empty."""
    table = wide(records(files), {ADMISSIONS_BY_DAY: "new_admissions", OCCUPIED_BEDS_BY_DAY: "hospital_cases"})
    table.insert(5, "covid_occupied_mv_beds", pd.array([pd.NA] * len(table), dtype="Int64"))
    table = table.drop(columns=["area_name"]).sort_values(["area_code", "date"], ignore_index=True)
    add_note(table, "covid_occupied_mv_beds is empty: the UKHSA API has no mechanical ventilation measure")
    for note in series_notes(files, build_live_requests("")):
        add_note(table, note)
    return table


SOURCE = Source(
    name="phe_healthcare",
    presentation=Presentation(title="PHE healthcare figures for the NHS London region and England",
                              description=__doc__),
    schema=PheHealthcare,
    variants=(
        ukhsa_variant(build_live_requests, parse_healthcare_live, parallel_requests=2),
        Variant(api="phe", build_requests=build_requests, parse=parse_healthcare, sample_release="2023-12-14"),
    ),
    areas={LONDON_NHS_REGION: "NHS region London", ENGLAND: "England"},
    freshness=Freshness(expected_lag_days=7),
    ended_measures={"covid_occupied_mv_beds": "the UKHSA API, which replaced PHE's dashboard, publishes no mechanical "
                                              "ventilation measure (PHE's covidOccupiedMVBeds)"},
)
