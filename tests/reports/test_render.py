"""The renderer is a pure function: tables and findings in, one self-contained page out."""

from __future__ import annotations

import re
from datetime import date

import pytest

from assets.datastore_tables import build_datastore_tables
from checks.published import BOROUGH_RATES, PUBLISHED, fingerprint, validate_published
from reports.analysis import ReportSettings, SourceStatus, Warning, compare_tables, cross_checks, headlines
from reports.render import ReportInputs, render_report
from tests.samples import clean_sample_tables


@pytest.fixture(scope="module")
def page() -> str:
    tables = build_datastore_tables(clean_sample_tables())
    settings = ReportSettings()
    changed = {name: table.copy() for name, table in tables.items()}
    changed[BOROUGH_RATES].loc[3, "new_cases"] += 7
    return render_report(ReportInputs(
        version=fingerprint(tables), run_id="run-123", generated_at="24 Nov 2026 18:00 UTC", mode="sample",
        tables=tables, headlines=headlines(tables, settings),
        sources=[
            SourceStatus("phe_healthcare", "PHE healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                         date(2020, 7, 1), False, 7),
            SourceStatus("nhs_111", "NHS 111", 10, date(2021, 5, 26), "2026-11-24T18:00:00+00:00",
                         date(2021, 5, 27), True, 3),
        ],
        warnings=[Warning("missing_dates", "phe_healthcare_london", "London healthcare: 1 day(s) missing")],
        cross_checks=cross_checks(changed, settings),
        changes=compare_tables(changed, tables), previous_version="abc123abc123",
        validations=validate_published(tables), reporting_delay_days=settings.reporting_delay_days,
    ))


def test_page_is_self_contained(page: str) -> None:
    # plotly.js carries one banner line: the library is embedded, and only once for all the charts.
    assert len(re.findall(r"plotly\.js v\d+\.\d+\.\d+", page)) == 1
    assert not re.search(r"<script[^>]+src=", page), "no script may be fetched from elsewhere"
    assert page.count("Plotly.newPlot") == len(CHARTS)


def test_version_run_and_stale_source_are_visible(page: str) -> None:
    assert 'data-testid="report-version">' in page and "run-123" in page
    stale_row = re.search(r'<tr class="stale" data-testid="source-phe_healthcare">', page)
    assert stale_row, "the stale source's row carries the red 'stale' class"
    assert '<tr class="" data-testid="source-nhs_111">' in page


def test_warnings_changes_and_validation_are_listed(page: str) -> None:
    assert "Warnings (1)" in page and "London healthcare: 1 day(s) missing" in page
    assert "Compared with report <code>abc123abc123</code>" in page
    assert "Largest revisions in phe_cases_rates_london_boroughs.csv" in page
    assert page.count(">passed<") == len(PUBLISHED)


def test_cross_checks_are_listed_with_their_results(page: str) -> None:
    # The page was rendered for tables with one borough's count raised by 7: within the tolerance, so all agree.
    for check in ("boroughs_vs_london", "age_bands_vs_london", "rest_of_england_not_negative", "totals_never_fall"):
        row = re.search(rf'data-testid="cross-check-{check}"><td>(.*?)</td>\s*<td class="(\w+)">(.*?)</td>', page)
        assert row and row[2] == "ok" and row[3] == "agrees", check


CHARTS = ("london_england_rate", "borough_heatmap", "age_band_heatmap", "age_sex_heatmap", "healthcare",
          "ons_positivity", "nhs_111")


def test_every_chart_is_there_with_axis_titles(page: str) -> None:
    for chart in CHARTS:
        assert f'data-testid="chart-{chart}"' in page
    assert page.count('"title":{"text":"Specimen date"}') >= 3
