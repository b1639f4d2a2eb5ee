"""The tables published to the London Datastore: names, columns, sort order and the exact bytes sent.

A contract that people's code reads, so it lives once, without Dagster: the tables are built to it
(assets/datastore_tables.py), the report reads and fingerprints it (reports/), and the publish step checks and sends
it (assets/datastore_publish.py). Each table's pandera model (checks/schemas.py) fixes its columns and their order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from checks import schemas
from checks.validation import ValidationOutcome, validate_table

BOROUGHS = "phe_cases_london_boroughs"
LONDON_ENGLAND = "phe_cases_london_england"
AGE_SEX = "phe_cases_age_sex_london"
HEALTHCARE = "phe_healthcare_london"
ONS_POSITIVITY = "ons_positivity_london"
NHS_111 = "nhs_111_999_online_london"


@dataclass(frozen=True)
class PublishedTable:
    name: str
    model: type[pa.DataFrameModel]  # its column order is the file's column order
    sort: tuple[str, ...]  # rows are published in this order; also the key "what changed" matches rows on
    main_value: str  # the column the report's "largest revisions" are measured on
    description: str  # the resource's description on the Datastore

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> list[str]:
        return list(self.model.to_schema().columns)


PUBLISHED: dict[str, PublishedTable] = {t.name: t for t in (
    PublishedTable(BOROUGHS, schemas.PublishedBoroughCases, ("area_code", "date"), "new_cases",
                   "Daily and cumulative lab-confirmed COVID-19 cases by specimen date for London's boroughs (City of "
                   "London with Hackney), with rates per 100,000."),
    PublishedTable(LONDON_ENGLAND, schemas.PublishedLondonEngland, ("area_code", "date"), "new_cases",
                   "Daily and cumulative COVID-19 cases by specimen date, London and England."),
    PublishedTable(AGE_SEX, schemas.PublishedAgeSex, ("date", "sex", "age_band"), "total_cases",
                   "Cumulative COVID-19 cases in London by sex and five-year age band."),
    PublishedTable(HEALTHCARE, schemas.PublishedHealthcare, ("date",), "new_admissions",
                   "COVID-19 hospital admissions, patients in hospital and on mechanical ventilation, NHS region "
                   "London."),
    PublishedTable(ONS_POSITIVITY, schemas.PublishedOnsPositivity, ("area_code", "estimate_kind", "period_end"),
                   "percent_positive",
                   "ONS COVID-19 Infection Survey: modelled % of people testing positive, with 95% credible "
                   "intervals."),
    PublishedTable(NHS_111, schemas.PublishedNhs111, ("date", "site_type", "ccg_code", "sex", "age_band"), "count",
                   "Potential COVID-19 triages (111 and 999 calls) and 111 online assessments for London's CCGs."),
)}


def in_published_form(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` cut to the table's columns, in its order, rows in its sort order."""
    table = PUBLISHED[name]
    return frame[table.columns].sort_values(list(table.sort), ignore_index=True)


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """Exactly the bytes published: UTF-8 CSV, no index, ISO dates, empty cells for missing values."""
    return table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode("utf-8")


def fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """The report version: a content hash of exactly these tables as they would be published."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode() + b"\n" + to_csv_bytes(tables[name]) + b"\n")
    return digest.hexdigest()[:12]


def validate_published(tables: Mapping[str, pd.DataFrame]) -> dict[str, ValidationOutcome]:
    """Run every published table's model; returns the outcomes by table name."""
    return {name: validate_table(tables[name], table.model) for name, table in PUBLISHED.items()}
