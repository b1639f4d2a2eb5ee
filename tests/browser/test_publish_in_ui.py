"""The approval in the real UI: after a nightly run the analyst opens the report, types their name and the
report's version in the publish job's Launchpad, launches it (queued, started by the daemon), and the asset page
shows the audit. The Datastore stand-in received every file; the key is nowhere in the instance or the logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.published import PUBLISHED
from tests.browser.conftest import UI_API_KEY
from tests.browser.test_report_link_in_ui import nightly, open_report_from_asset_page
from tests.browser.ui import DagsterUI

pytestmark = pytest.mark.browser


def test_analyst_approves_in_the_launchpad(ui: DagsterUI, standin, browser, artifacts: Path) -> None:
    version = nightly(ui)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    report = open_report_from_asset_page(page, ui, version)
    shown_version = report.locator('[data-testid="report-version"]').inner_text().strip()
    report.close()

    page.goto(f"{ui.url}/locations/london_covid/jobs/publish/playground", wait_until="load")
    editor = page.locator(".CodeMirror")
    editor.wait_for(state="visible", timeout=30_000)
    page.get_by_text("Missing required config entry").wait_for(timeout=30_000)
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    # One line of flow YAML: nothing for the editor's auto-indent to rearrange.
    page.keyboard.type(
        f'ops: {{datastore_publish: {{config: {{approved_by: "Ana Analyst", report_version: "{shown_version}"}}}}}}'
    )
    page.get_by_text("Missing required config entry").wait_for(state="detached", timeout=15_000)
    page.screenshot(path=str(artifacts / "ui_publish_launchpad.png"))
    page.get_by_role("button", name="Launch Run").click()

    page.wait_for_url("**/runs/**", timeout=30_000)
    page.get_by_text("RUN_SUCCESS").first.wait_for(timeout=120_000)
    page.screenshot(path=str(artifacts / "ui_publish_run.png"))
    assert sorted(r["title"] for r in standin.resources().values()) == sorted(
        table.file_name for table in PUBLISHED.values())

    page.goto(f"{ui.url}/assets/datastore_publish", wait_until="load")
    page.get_by_text("approved_by").first.wait_for(timeout=30_000)
    assert page.get_by_text("Ana Analyst").first.is_visible()
    assert page.get_by_text(shown_version).first.is_visible()
    page.screenshot(path=str(artifacts / "ui_publish_audit.png"), full_page=True)

    for path in [*ui.home.rglob("*"), *ui.data_dir.rglob("*"), *(ui.home.parent / "logs").rglob("*")]:
        if path.is_file():
            assert UI_API_KEY.encode() not in path.read_bytes(), path
    assert UI_API_KEY not in page.content()
