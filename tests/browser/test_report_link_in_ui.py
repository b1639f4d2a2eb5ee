"""The analyst's path from the Dagster UI to the report: one click on the cases_report asset's report_url link
opens the report (served over HTTP on 127.0.0.1, as `make dev` does)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.ui import DagsterUI

pytestmark = pytest.mark.browser


def open_report_from_asset_page(page, ui: DagsterUI, version: str):
    """Click the report_url link on the cases_report asset page; returns the report's page (a new tab)."""
    report_url = f"{ui.reports_url}/cases_report_{version}.html"
    page.goto(f"{ui.url}/assets/cases_report", wait_until="load")
    link = page.locator(f'a[href="{report_url}"]').first
    link.wait_for(state="visible", timeout=30_000)
    with page.context.expect_page() as opened:
        link.click()
    report = opened.value
    report.wait_for_load_state("load")
    assert report.url == report_url
    return report


def nightly(ui: DagsterUI) -> str:
    completed = ui.run("-m", "pipelines.run")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed.stdout.strip().splitlines()[-1].removeprefix("report_version: ")


def test_report_opens_from_the_asset_page_in_one_click(ui: DagsterUI, browser, artifacts: Path) -> None:
    version = nightly(ui)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    report = open_report_from_asset_page(page, ui, version)
    page.screenshot(path=str(artifacts / "ui_cases_report_asset.png"))
    assert report.locator('[data-testid="report-version"]').inner_text().strip() == version
    report.screenshot(path=str(artifacts / "ui_opened_report.png"))
