"""The approval in the real UI, from the report: after a nightly run on the shipped samples the analyst opens the
report from the asset page, sees the sample banner, follows the report's Launchpad link (the publish job's
Launchpad with the version filled in), types only their name and launches it (queued, started by the daemon).
This UI's Datastore is a test instance (LDS_REHEARSAL=1), so the run is a rehearsal, and says so in the audit
and the run's tags. The key is nowhere in the instance or the logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.published import PUBLISHED
from pipelines.commands.datastore_standin import STANDIN_KEY as UI_API_KEY
from tests.browser.ui import DagsterUI, nightly, open_report_from_asset_page

pytestmark = pytest.mark.browser


def test_analyst_approves_from_the_report_s_launchpad_link(ui: DagsterUI, standin, new_page, artifacts: Path) -> None:
    version = nightly(ui)
    page = new_page(viewport={"width": 1400, "height": 1000})
    report = open_report_from_asset_page(page, ui, version)

    # The first thing on the page: the data are samples, and cannot be published.
    banner = report.locator('[data-testid="banner-sample"]')
    box = banner.bounding_box()
    assert banner.is_visible() and box is not None and box["y"] + box["height"] < 1000, box
    assert "SAMPLE DATA — NOT LIVE" in banner.inner_text() and "cannot be published" in banner.inner_text()
    report.screenshot(path=str(artifacts / "report_banner.png"))

    section = report.locator('[data-testid="approve"]')
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(artifacts / "report_approve_section.png"))
    assert report.locator('[data-testid="approve-command"]').inner_text() == (
        f'make approve BY="<your name>" VERSION={version}')
    assert "cannot be published" in report.locator('[data-testid="approve-refused"]').inner_text()
    for area in ("London", "England"):
        assert report.locator(f'[data-testid="dashboard-{area}"]').get_attribute("href").startswith(
            "https://ukhsa-dashboard.data.gov.uk/topics/covid-19")

    # Through the report server, to the Launchpad at this UI's address, the version filled in.
    report.locator('[data-testid="launchpad-link"]').click()
    report.wait_for_url(f"{ui.url}/locations/london_covid/jobs/publish/playground**", timeout=30_000)
    editor = report.locator(".CodeMirror")
    editor.wait_for(state="visible", timeout=30_000)
    report.get_by_text(f'"{version}"').first.wait_for(timeout=30_000)
    text = editor.inner_text()
    assert "approved_by" in text and f'report_version: "{version}"' in text

    # The analyst types their name between the quotes after approved_by, and launches.
    report.locator(".CodeMirror-line", has_text="approved_by").click()
    report.keyboard.press("End")
    report.keyboard.press("ArrowLeft")
    report.keyboard.type("Ana Analyst")
    report.get_by_text('approved_by: "Ana Analyst"').first.wait_for(timeout=15_000)
    report.screenshot(path=str(artifacts / "ui_publish_launchpad.png"))
    report.get_by_role("button", name="Launch Run").click()

    report.wait_for_url("**/runs/**", timeout=30_000)
    report.get_by_text("RUN_SUCCESS").first.wait_for(timeout=120_000)
    report.screenshot(path=str(artifacts / "ui_publish_run.png"))
    # The run list labels it a rehearsal.
    report.goto(f"{ui.url}/runs", wait_until="load")
    report.get_by_text("publish_kind: rehearsal").first.wait_for(timeout=30_000)
    report.screenshot(path=str(artifacts / "ui_runs_rehearsal_tag.png"))
    # A rehearsal of a sample version sends every file to the test Datastore, with the version's provenance.
    assert sorted(r["title"] for r in standin.resources().values()) == sorted(
        [*(table.file_name for table in PUBLISHED.values()), "provenance.json"])
    audit = json.loads((ui.data_dir / "publish" / standin.dataset / "audit.jsonl").read_text().splitlines()[-1])
    assert (audit["kind"], audit["approved_by"], audit["report_version"]) == ("rehearsal", "Ana Analyst", version)

    report.goto(f"{ui.url}/assets/datastore_publish", wait_until="load")
    report.get_by_text("approved_by").first.wait_for(timeout=30_000)
    assert report.get_by_text("Ana Analyst").first.is_visible()
    assert report.get_by_text("rehearsal", exact=True).first.is_visible()
    report.screenshot(path=str(artifacts / "ui_publish_audit.png"), full_page=True)

    for path in [*ui.home.rglob("*"), *ui.data_dir.rglob("*"), *(ui.home.parent / "logs").rglob("*")]:
        if path.is_file():
            assert UI_API_KEY.encode() not in path.read_bytes(), path
    assert UI_API_KEY not in report.content()
