"""The analyst's path from the Dagster UI to the report: one click on the cases_report asset's report_url link
opens the report (served over HTTP on 127.0.0.1, as `make dev` does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.ui import DagsterUI, start_ui

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[DagsterUI]:
    ui = start_ui(tmp_path_factory.mktemp("ui"))
    try:
        yield ui
    finally:
        ui.stop()


def test_report_opens_from_the_asset_page_in_one_click(ui: DagsterUI, browser, artifacts: Path) -> None:
    completed = ui.run("-m", "pipelines.run")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    version = completed.stdout.strip().splitlines()[-1].removeprefix("report_version: ")
    report_url = f"{ui.reports_url}/cases_report_{version}.html"

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{ui.url}/assets/cases_report", wait_until="load")
    link = page.locator(f'a[href="{report_url}"]').first
    link.wait_for(state="visible", timeout=30_000)
    page.screenshot(path=str(artifacts / "ui_cases_report_asset.png"))
    with page.context.expect_page() as opened:
        link.click()
    report = opened.value
    report.wait_for_load_state("load")
    assert report.url == report_url
    assert report.locator('[data-testid="report-version"]').inner_text().strip() == version
    report.screenshot(path=str(artifacts / "ui_opened_report.png"))
