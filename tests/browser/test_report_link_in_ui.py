"""The analyst's path from the Dagster UI to the report: one click on the cases_report asset's report_url link
opens the report (served over HTTP on 127.0.0.1, as `make dev` does); the report server's index lists every
version; `make run`'s runs show on the job's page like runs launched from the UI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.ui import DagsterUI, nightly_run, open_report_from_asset_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def made_run(ui: DagsterUI) -> tuple[str, str]:
    """`make run` against the UI's instance, once for this module's tests: its run id and report version."""
    return nightly_run(ui)


def test_report_opens_from_the_asset_page_in_one_click(ui: DagsterUI, made_run, new_page, artifacts: Path) -> None:
    _, version = made_run
    page = new_page(viewport={"width": 1400, "height": 1000})
    report = open_report_from_asset_page(page, ui, version)
    page.screenshot(path=str(artifacts / "ui_cases_report_asset.png"))
    assert report.locator('[data-testid="report-version"]').inner_text().strip() == version
    report.screenshot(path=str(artifacts / "ui_opened_report.png"))


def test_the_report_index_lists_versions_and_make_run_s_run_is_on_the_job_page(ui: DagsterUI, made_run, new_page,
                                                                              artifacts: Path) -> None:
    run_id, version = made_run
    page = new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{ui.reports_url}/", wait_until="load")
    row = page.locator(f'[data-testid="version-{version}"]')
    row.wait_for(timeout=15_000)
    cells = [cell.strip() for cell in row.locator("td").all_inner_texts()]
    assert cells[0] == version and cells[2] == "sample" and cells[3] == "shipped samples"
    assert cells[5] == "nhs_111"  # the one-day NHS 111 cut is stale against its release date
    # Rehearsals (LDS_REHEARSAL=1 here) do not count as publications.
    assert cells[6] == "no"
    page.screenshot(path=str(artifacts / "report_index.png"))
    row.get_by_role("link").click()
    page.wait_for_url(f"{ui.reports_url}/cases_report_{version}.html")
    assert page.locator('[data-testid="report-version"]').inner_text().strip() == version

    page.goto(f"{ui.url}/locations/london_covid/jobs/nightly/runs", wait_until="load")
    page.get_by_text(run_id[:8]).first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "ui_nightly_runs.png"))
