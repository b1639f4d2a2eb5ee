"""The renderer is a pure function: tables and findings in, one self-contained page out."""

from __future__ import annotations

import html
import re
import urllib.parse
from datetime import date
from pathlib import Path

import pytest
import yaml

from assets.publication.datastore_tables import build_datastore_tables
from assets.sources import RETIRED, SOURCES
from checks.origin import judge
from checks.published import BOROUGH_RATES, PUBLISHED, fingerprint, published_bytes, validate_published
from reports.analysis import ReportSettings, SourceStatus, Warning, compare_published, cross_checks, headlines
from reports.approval import approval_for
from reports.inputs import ReportInputs
from reports.render import plotly_bundle, render_report
from tests.samples import clean_sample_tables

UI = "http://127.0.0.1:3999"


def every_source(listed: list[SourceStatus]) -> list[SourceStatus]:
    """The sources listed, then every other source with fresh data, as a nightly report has them all."""
    named = {status.source for status in listed}
    return listed + [SourceStatus(name, source.title, 100, date(2021, 5, 26), "2026-11-24T18:00:00+00:00",
                                  date(2021, 5, 27), True, 3) for name, source in SOURCES.items() if name not in named]


def render(clean: dict, sources: list[SourceStatus] | None = None, previous_version: str | None = "abc123abc123",
           warnings: list[Warning] | None = None) -> str:
    tables = build_datastore_tables(clean)
    settings = ReportSettings()
    changed = {name: table.copy() for name, table in tables.items()}
    changed[BOROUGH_RATES].loc[3, "new_cases"] += 7
    version = fingerprint(tables)
    verdict = judge(tables, retired=RETIRED)
    return render_report(ReportInputs(
        version=version, run_id="run-123", generated_at="24 Nov 2026, 18:00", mode="sample",
        tables=tables, headlines=headlines(tables, settings),
        sources=sources if sources is not None else every_source([
            SourceStatus("phe_healthcare", "PHE healthcare", 72, date(2020, 5, 30), "2026-11-24T18:00:00+00:00",
                         date(2020, 7, 1), False, 7),
            SourceStatus("nhs_111", "NHS 111", 10, date(2021, 5, 26), "2026-11-24T18:00:00+00:00",
                         date(2021, 5, 27), True, 3),
        ]),
        warnings=[Warning("missing_dates", "phe_healthcare_london", "London healthcare: 1 day missing"),
                  *(warnings or [])],
        cross_checks=cross_checks(changed, settings),
        changes=compare_published(published_bytes(changed) if previous_version else None, published_bytes(tables)),
        previous_version=previous_version,
        validations={f"{name}.csv": outcome for name, outcome in validate_published(tables).items()},
        reporting_delay_days=settings.reporting_delay_days,
        origin=verdict, approval=approval_for(version, verdict.publishable, UI),
        files={t.file_name: f"files/{version}/{t.file_name}" for t in PUBLISHED.values()},
    ))


@pytest.fixture(scope="module")
def page() -> str:
    return render(clean_sample_tables("sample"))


@pytest.fixture(scope="module")
def live_page() -> str:
    current = SourceStatus("nhs_111", "NHS 111", 10, date(2021, 5, 26), "2026-11-24T18:00:00+00:00",
                           date(2021, 5, 27), True, 3)
    retired = SourceStatus("phe_cases_by_age", "PHE cases by age band", 5820, date(2020, 11, 19),
                           "2026-11-24T18:00:00+00:00", date(2020, 11, 20), False, 7)
    # As in live mode: downloads, except the retired sources, which have only their shipped releases.
    clean = clean_sample_tables("download")
    for name in RETIRED:
        clean[name].attrs["origin"] = "sample"
    return render(clean, sources=every_source([current, retired]))


def test_page_loads_plotly_from_beside_it_and_stays_under_a_megabyte(page: str) -> None:
    """plotly.js is not in the page: one script, a file in the report's own folder (no address, no CDN), named by
    the plotly.js version its first line declares."""
    assert len(page.encode()) < 1_000_000
    assert not re.search(r"plotly\.js v\d+\.\d+\.\d+", page)
    [source] = re.findall(r'<script[^>]+src="([^"]+)"', page)
    name, bundle = plotly_bundle()
    assert source == name and "/" not in source and ":" not in source
    declared = re.search(r"plotly\.js v(\d+\.\d+\.\d+)", bundle[:400])[1]
    assert source == f"plotly-{declared}.min.js"
    assert page.count("Plotly.newPlot") == len(CHARTS)


def test_version_run_and_stale_source_are_visible(page: str) -> None:
    assert 'data-testid="report-version">' in page and "run-123" in page
    stale_row = re.search(r'<tr class="stale" data-testid="source-phe_healthcare">', page)
    assert stale_row, "the stale source's row carries the red 'stale' class"
    assert '<tr class="" data-testid="source-nhs_111">' in page


def test_warnings_changes_and_validation_are_listed(page: str) -> None:
    assert "Warnings (1)" in page and "London healthcare: 1 day missing" in page
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


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_sample_data_is_announced_in_a_banner_at_the_top(page: str, live_page: str) -> None:
    banner = re.search(r'<div class="banner banner-sample" role="alert" data-testid="banner-sample">(.*?)</div>',
                       page, re.S)
    assert banner and page.index('data-testid="banner-sample"') < page.index('id="sources"'), "it opens the report"
    # The sources whose shipped releases were used, by name; the retired ones are held back, not refused.
    assert "SAMPLE DATA — NOT LIVE" in banner[1] and "NHS 111" in banner[1] and "nhs_111" not in banner[1]
    assert "cannot be published" in _text(banner[1])
    assert 'data-testid="banner-sample"' not in live_page


def test_stale_sources_are_in_a_banner_and_held_back_files_are_named(page: str, live_page: str) -> None:
    stale = re.search(r'data-testid="banner-stale">(.*?)</div>', page, re.S)
    assert stale and 'data-testid="banner-stale-phe_healthcare"' in stale[1]
    assert "banner-stale-nhs_111" not in stale[1] and 'data-testid="banner-stale"' not in live_page
    assert "has nothing after 30 May 2020" in _text(stale[1])
    # Served live, the retired sources' files come from their shipped releases: held back, and the report says so.
    held = re.search(r'data-testid="held-back">(.*?)</p>', live_page, re.S)
    assert held and "held-back-phe_cases_age_london" in held[1] and "(from PHE cases by age band)" in _text(held[1])
    assert "held-back-phe_cases_london_boroughs" not in held[1]
    # A sample version is not published at all: nothing to say about holding files back.
    assert 'data-testid="held-back"' not in page


def test_the_report_ends_with_how_to_approve_this_version(page: str, live_page: str) -> None:
    version = re.search(r'data-testid="report-version">(\w+)<', live_page)[1]
    section = live_page[live_page.index('<section id="approve"'):]
    assert f'make approve BY="<your name>" VERSION={version}' in html.unescape(section)
    link = re.search(r'data-testid="launchpad-link" href="([^"]+)"\s+data-served-href="([^"]+)"', section)
    url = urllib.parse.urlsplit(html.unescape(link[1]))
    assert f"{url.scheme}://{url.netloc}" == UI and url.path == "/locations/london_covid/jobs/publish/playground/setup"
    config = yaml.safe_load(urllib.parse.parse_qs(url.query)["config"][0])
    assert config == {"ops": {"datastore_publish": {"config": {"approved_by": "", "report_version": version}}}}
    assert link[2] == f"launchpad/{version}"
    for area in ("London", "England"):
        assert re.search(rf'href="https://ukhsa-dashboard\.data\.gov\.uk/[^"]*" data-testid="dashboard-{area}"',
                         section)
    assert "approve-refused" not in section
    # A sample version's section says it cannot be published, and how to rehearse instead.
    refused = re.search(r'data-testid="approve-refused">(.*?)</p>', page, re.S)
    assert refused and "DRY_RUN=" in refused[1]


def test_the_published_files_are_linked(page: str) -> None:
    for table in PUBLISHED.values():
        assert re.search(rf'href="files/\w+/{table.file_name}" data-testid="file-{table.file_name}"', page)


def test_the_sources_table_speaks_to_an_analyst_and_folds_the_file_details_away() -> None:
    """A time as a person reads it (UK time: BST in July), the parser's notes and the source's id only inside a
    collapsed "How its files were read"."""
    note = "The cumulative count is the running total of daily cases since 11 Feb 2020: a.csv has no cumulative column"
    summer = SourceStatus("phe_cases_by_region", "PHE cases by region", 578, date(2020, 7, 20),
                          "2020-07-21T15:02:09+00:00", date(2020, 7, 21), True, 7, notes=(note,))
    page = render(clean_sample_tables("sample"), sources=[summer])
    row = re.search(r'data-testid="source-phe_cases_by_region">(.*?)</tr>', page, re.S)[1]
    assert "<td>21 Jul 2020, 16:02</td>" in row and "2020-07-21T" not in row
    folded = re.search(r'<details data-testid="details-phe_cases_by_region">(.*?)</details>', row, re.S)[1]
    assert note in folded and "<code>phe_cases_by_region</code>" in folded
    assert row.replace(folded, "").count("phe_cases_by_region") == 1  # the folded part's own test id: none shown


def test_a_stale_source_says_so_with_dates_as_a_person_writes_them(page: str) -> None:
    """The fixture's healthcare source: figures to 30 May 2020 in a release of 1 July 2020, expected within 7 days."""
    row = re.search(r'data-testid="source-phe_healthcare">(.*?)</tr>', page, re.S)[1]
    assert ("out of date (the release of 1 Jul 2020 has nothing after 30 May 2020, 32 days earlier; its releases "
            "usually reach within 7 days of their date)") in row
    assert "2020-07-01" not in row


def _visible_words(page: str) -> str:
    """What an analyst reads without opening a "details" fold: no scripts, styles, folds, code or attributes."""
    for folded in (r"<script.*?</script>", r"<style.*?</style>", r"<details.*?</details>", r"<code.*?</code>"):
        page = re.sub(folded, " ", page, flags=re.S)
    return html.unescape(_text(page))


def test_the_report_reads_without_the_code_s_words(page: str, live_page: str) -> None:
    """Source ids, ISO dates, archive file names and column names stay in the folds; the published files are named
    as the Datastore names them (`….csv`)."""
    source_ids = sorted(path.name for path in (Path(__file__).parents[2] / "data" / "samples").iterdir()
                        if path.is_dir())
    for text in (_visible_words(page), _visible_words(live_page)):
        assert not re.findall(r"\d{4}-\d{2}-\d{2}", text)
        assert not re.findall(r"[0-9a-f]{16}_", text)
        assert not [word for word in source_ids if re.search(rf"\b{word}\b(?!\.csv)", text)]
        code_words = {word for word in re.findall(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b(?!\.csv)", text)}
        assert not code_words, code_words
        assert "(s)" not in text and "UTC" not in text


def test_what_changed_says_first_report_only_when_no_earlier_report_was_passed_over() -> None:
    """With no earlier report at all the page calls itself the first; with earlier ones whose kept files could not be
    read, it says that instead, pointing at the warning that names the file."""
    clean = clean_sample_tables("sample")
    first = _text(render(clean, previous_version=None))
    assert "This is the first report: every row is new." in first
    unreadable = Warning("earlier_version_unreadable", "phe_cases_london_england",
                         "What changed is measured against no earlier report, not report 0123456789ab, whose kept "
                         "copy files/0123456789ab/phe_cases_london_england.csv.gz could not be read")
    passed_over = _text(render(clean, previous_version=None, warnings=[unreadable]))
    assert "This is the first report" not in passed_over
    assert "No earlier report could be read to compare with (see the warnings): every row is counted as new." in (
        passed_over)
    assert "whose kept copy files/0123456789ab/phe_cases_london_england.csv.gz could not be read" in passed_over
