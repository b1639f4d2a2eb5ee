from __future__ import annotations

import io

import pandas as pd
import pytest

from assets.publication.datastore_tables import build_datastore_tables
from checks.published import (
    BOROUGH_RATES,
    HEALTHCARE,
    LONDON_ENGLAND_RATES,
    PUBLISHED,
    fingerprint,
    to_csv_bytes,
    validate_published,
)
from tests.samples import clean_sample_tables, sample_populations, sample_rows


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return build_datastore_tables(clean_sample_tables())


def test_every_table_passes_its_model_with_the_documented_columns(tables) -> None:
    assert set(tables) == set(PUBLISHED)
    for name, outcome in validate_published(tables).items():
        assert outcome.passed, (name, outcome.summary())
        assert list(tables[name].columns) == list(PUBLISHED[name].model.to_schema().columns)


def test_borough_rates_and_rolling_sums_match_the_source_file(tables) -> None:
    rows = [r for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if r["areaCode"] == "E09000008"]
    by_date = {r["date"]: int(r["newCasesBySpecimenDate"]) for r in rows}
    week = [by_date[f"2020-05-{d:02d}"] for d in range(4, 11)]
    population = sample_populations()["E09000008"]
    rates = tables[BOROUGH_RATES]
    croydon = rates.set_index(["area_code", "date"]).loc[("E09000008", pd.Timestamp("2020-05-10"))]
    assert croydon["new_cases"] == by_date["2020-05-10"]
    assert croydon["new_cases_rate"] == round(by_date["2020-05-10"] / population * 100_000, 1)
    assert croydon["rolling_7day_cases"] == sum(week)
    assert croydon["rolling_7day_rate"] == round(sum(week) / population * 100_000, 1)
    # Croydon's series starts on its first row in the file: fewer than seven days of data are left empty.
    first_days = rates[(rates["area_code"] == "E09000008")].sort_values("date").head(6)
    assert first_days["rolling_7day_cases"].isna().all()
    assert str(first_days["date"].min().date()) == min(by_date)


def test_hackney_rate_uses_hackney_and_city_population(tables) -> None:
    population = sample_populations()["E09000012"]
    hackney = tables[BOROUGH_RATES][tables[BOROUGH_RATES]["area_code"] == "E09000012"].iloc[-1]
    assert hackney["area_name"] == "Hackney and City of London"
    assert hackney["new_cases_rate"] == round(hackney["new_cases"] / population * 100_000, 1)


def test_csv_is_utf8_without_index_with_iso_dates_and_blank_missing_values(tables) -> None:
    text = to_csv_bytes(tables[HEALTHCARE]).decode("utf-8")
    header, first = text.splitlines()[:2]
    assert header == (
        "date,area_name,area_code,new_admissions,rolling_7day_admissions,hospital_cases,covid_occupied_mv_beds"
    )
    [raw] = [r for r in sample_rows("phe_healthcare", "nhs_region_london.csv") if r["date"] == "2020-03-19"]
    assert raw["hospitalCases"] == raw["covidOccupiedMVBeds"] == ""  # the first day has admissions only
    assert first == f"2020-03-19,London,E40000003,{raw['newAdmissions']},,,"
    reread = pd.read_csv(io.StringIO(to_csv_bytes(tables[LONDON_ENGLAND_RATES]).decode()))
    assert len(reread) == len(tables[LONDON_ENGLAND_RATES])
    assert "Unnamed: 0" not in reread.columns


def test_fingerprint_is_stable_and_changes_with_any_value(tables) -> None:
    assert fingerprint(tables) == fingerprint(build_datastore_tables(clean_sample_tables()))
    changed = {name: table.copy() for name, table in tables.items()}
    changed[BOROUGH_RATES].loc[0, "new_cases"] += 1
    assert fingerprint(changed) != fingerprint(tables)
