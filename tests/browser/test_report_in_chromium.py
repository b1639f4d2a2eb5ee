"""The generated report in real Chromium: it loads with no console errors, every chart draws with axis titles,
and the headline numbers are the ones computed here from the sample files."""

from __future__ import annotations

import functools
import http.server
import itertools
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.publication.cases_report import cases_report
from assets.publication.datastore_tables import datastore_tables
from resources.settings import UPSTREAMS
from tests.conftest import all_source_assets, failure_text, pipeline_resources
from tests.samples import expected_headline

pytestmark = pytest.mark.browser

CHARTS = ("london_england_rate", "borough_heatmap", "age_band_heatmap", "age_sex_heatmap", "healthcare",
          "ons_positivity", "nhs_111")
# plotly names axis-title text nodes xtitle, ytitle, y2title, x2title ... (one per axis of every panel).
AXIS_TITLES = ("els => els.filter(e => /^[xy]\\d*title$/.test(e.getAttribute('class') || ''))"
               ".map(e => [e.getAttribute('class'), e.textContent])")
# Sample mode answers the real endpoints' addresses from the shipped files: nothing leaves the machine.
REAL_URLS = {name: upstream.default_url for name, upstream in UPSTREAMS.items()}


@pytest.fixture(scope="module")
def report_path(tmp_path_factory) -> Path:
    data_dir = tmp_path_factory.mktemp("storage")
    result = dg.materialize([*all_source_assets(), datastore_tables, cases_report],
                            resources=pipeline_resources(data_dir, REAL_URLS, mode="sample"), raise_on_error=False)
    assert result.success, failure_text(result)
    [path] = list((data_dir / "reports").glob("cases_report_*.html"))
    return path


@pytest.fixture(scope="module")
def report_url(report_path: Path) -> Iterator[str]:
    path = report_path
    # Served over HTTP on loopback, as `make dev` serves reports for the UI's link.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
    server.shutdown()


def test_report_renders_in_chromium(new_page, report_url: str, artifacts: Path) -> None:
    page = new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report_url, wait_until="load")

    for chart in CHARTS:
        container = page.locator(f'[data-testid="chart-{chart}"]')
        container.locator(".main-svg").first.wait_for(state="visible", timeout=15_000)
        titles = [(kind, text) for kind, text in container.locator("text").evaluate_all(AXIS_TITLES) if text.strip()]
        assert {kind[0] for kind, _ in titles} == {"x", "y"}, f"{chart} lacks axis titles: {titles}"
        assert container.locator(".gtitle").first.text_content().strip(), f"{chart} lacks a title"

    for file in ("region_london.csv", "nation_england.csv"):
        expected = expected_headline(file, reporting_delay_days=5)
        code = expected["area_code"]

        def shown(field: str, code: str = code) -> str:
            return page.locator(f'[data-testid="headline-{code}-{field}"]').inner_text().strip()

        assert shown("cases_on_day") == f"{expected['cases_on_day']:,}"
        assert shown("seven_day_total") == f"{expected['seven_day_total']:,}"
        assert shown("seven_day_rate") == f"{expected['seven_day_rate']:.1f}"
        assert shown("previous_seven_day_total") == f"{expected['previous_seven_day_total']:,}"
        assert shown("change").startswith(f"{expected['change']:+,}")

    assert page.locator('[data-testid="report-version"]').inner_text().strip()
    page.screenshot(path=str(artifacts / "cases_report.png"), full_page=True)
    assert errors == [], errors


def test_a_report_opened_from_disk_draws_every_chart(new_page, report_path: Path) -> None:
    """Opened as a file (an analyst double-clicks it, or it was copied with its folder), plotly.js comes from beside
    it: every chart draws, nothing is fetched from the network."""
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report_path.as_uri(), wait_until="load")
    for chart in CHARTS:
        page.locator(f'[data-testid="chart-{chart}"] .main-svg').first.wait_for(state="visible", timeout=15_000)
    assert errors == [] and all(url.startswith("file://") or url.startswith("data:") for url in requested), requested
    assert report_path.stat().st_size < 1_000_000


def _is_round_step(step: float) -> bool:
    """1, 2, 2.5 or 5 times a power of ten: the steps a reader expects on an axis (not 163)."""
    magnitude = 10 ** math.floor(math.log10(step))
    return any(math.isclose(step / magnitude, m) for m in (1, 2, 2.5, 5, 10))


def test_charts_read_clearly(new_page, report_url: str, artifacts: Path) -> None:
    page = new_page(viewport={"width": 1300, "height": 900})
    page.goto(report_url, wait_until="load")
    healthcare = page.locator('[data-testid="chart-healthcare"]')
    healthcare.locator(".main-svg").first.wait_for(state="visible", timeout=15_000)
    # The admissions axes on the right: evenly spaced round ticks, as drawn.
    for axis in ("y2", "y4"):
        ticks = [float(t.replace(",", "").replace("k", "e3")) for t in
                 healthcare.locator(f"g.{axis}tick text").all_text_contents() if t.strip()]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(ticks)}
        assert len(ticks) >= 3 and len(steps) == 1 and _is_round_step(steps.pop()), (axis, ticks)
    healthcare.screenshot(path=str(artifacts / "chart_healthcare.png"))

    # London's ONS line is drawn last (in front), in a colour of its own, thicker than any other area's.
    traces = page.evaluate("""() => document.getElementById('chart-ons_positivity').data
        .filter(t => t.mode === 'lines' && t.line && t.line.width > 0)
        .map(t => ({name: t.name, colour: t.line.color, width: t.line.width}))""")
    london = [t for t in traces if t["name"].startswith("London")]
    others = [t for t in traces if not t["name"].startswith("London")]
    assert london and others and traces[-1]["name"].startswith("London")
    assert {t["colour"] for t in london}.isdisjoint({t["colour"] for t in others})
    assert min(t["width"] for t in london) > max(t["width"] for t in others)
    page.locator('[data-testid="chart-ons_positivity"]').screenshot(path=str(artifacts / "chart_ons.png"))


def test_a_one_day_release_reads_in_days(new_page, report_url: str, artifacts: Path) -> None:
    """The shipped NHS 111 sample holds one day: its axis is labelled in days, not in fractions of a second around
    midnight, and its figures are visible points."""
    page = new_page(viewport={"width": 1300, "height": 900})
    page.goto(report_url, wait_until="load")
    chart = page.locator('[data-testid="chart-nhs_111"]')
    chart.locator(".main-svg").first.wait_for(state="visible", timeout=15_000)
    ticks = [t for t in chart.locator("g.xtick text").all_text_contents() if t.strip()]
    assert len(ticks) >= 3 and "18 Mar 2020" in ticks, ticks
    assert not any(":" in tick for tick in ticks), f"time-of-day ticks on a chart of days: {ticks}"
    assert chart.locator("path.point").count() >= 1, "the day's figures are drawn as points"
    chart.screenshot(path=str(artifacts / "chart_nhs_111.png"))
