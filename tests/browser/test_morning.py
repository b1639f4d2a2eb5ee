"""The analyst's morning in real Chromium, with the UI on other ports than the report was built with: the report was
built by `make run` while the reports were served on one port; `make dev`'s UI and report server now run on
others. From the cases_report asset's link (recorded with the old port) to the report, from the report's Launchpad
link to the publish job with its version filled in, the name typed, Launch, the run's page, and the index saying
who published it. Screenshots go to test-artifacts/ (morning_*.png)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer

from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from tests.browser.ui import free_port, start_ui, wait_for_run_off_its_page
from tests.conftest import STEPS_IN_THE_RUN_PROCESS, live_environment, upstream_urls
from tests.publishing import SENT, preload_gla

pytestmark = pytest.mark.browser


def finished(ui_url: str, run_id: str, timeout_s: float = 300) -> str:
    """The run's status once it has ended, asked as the UI asks (GraphQL)."""
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = requests.post(f"{ui_url}/graphql", json={"query": query, "variables": {"id": run_id}},
                               timeout=30).json()["data"]["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not end within {timeout_s:.0f} s")


def answers_old_links(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            requests.head(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"nothing answers report links recorded with port {port}"
            time.sleep(0.5)


def test_the_morning_with_the_ui_on_other_ports(tmp_path: Path, upstream: HTTPServer, standin_server: StandIn,
                                                new_page, artifacts: Path) -> None:
    standin = standin_server.reset()
    preload_gla(standin)
    ui = start_ui(tmp_path, {**live_environment(upstream_urls(upstream)), **STEPS_IN_THE_RUN_PROCESS,
                             "LDS_URL": standin.url, "LDS_DATASET": standin.dataset, "LDS_API_KEY": KEY,
                             "REPORTS_ANSWER_OLD_LINKS": "1",
                             # The GLA's healthcare table never follows on the stand-in: say so after 1 s, not 2 min.
                             "LDS_TABLE_TIMEOUT_S": "1", "LDS_TABLE_POLL_S": "0.2"})
    try:
        # The night before: make run, with the reports served on another port than this morning's.
        old = free_port()
        built = ui.run("-m", "pipelines.commands.run", env_overrides={"REPORTS_PORT": str(old)})
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
        version = built.stdout.strip().splitlines()[-1].removeprefix("report_version: ")
        # make dev's report server looks for ports newly recorded in the reports' history every few seconds
        # (reports/serve.py, OldLinks): a click sooner than that finds nothing listening yet.
        answers_old_links(old)
        page = new_page(viewport={"width": 1400, "height": 1000})

        # 1. The report, from the asset's link (fixed last night with the old port).
        page.goto(f"{ui.url}/assets/cases_report", wait_until="load")
        link = page.locator(f'a[href="http://127.0.0.1:{old}/cases_report_{version}.html"]').first
        link.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "morning_1_asset_page.png"))
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
        report.wait_for_load_state("load")
        assert report.url == f"{ui.reports_url}/cases_report_{version}.html"
        assert report.locator('[data-testid="report-version"]').inner_text().strip() == version
        report.screenshot(path=str(artifacts / "morning_2_report.png"))

        # 2. Its Launchpad link, through the report server, to this morning's UI with the version filled in.
        report.locator('[data-testid="launchpad-link"]').click()
        report.wait_for_url(f"{ui.url}/**", timeout=60_000)
        report.locator(".CodeMirror").wait_for(state="visible", timeout=30_000)
        assert version in report.locator(".CodeMirror").inner_text()
        report.screenshot(path=str(artifacts / "morning_3_launchpad.png"))
        report.locator(".CodeMirror").click()
        report.keyboard.press("Control+A")
        report.keyboard.type(
            f'ops: {{datastore_publish: {{config: {{approved_by: "Ana Analyst", report_version: "{version}"}}}}}}')
        report.get_by_role("button", name="Launch Run").click()

        # 3. The run's page, until it has published.
        report.wait_for_url("**/runs/**", timeout=60_000)
        run_id = report.url.rstrip("/").split("/runs/")[1].split("?")[0]
        assert wait_for_run_off_its_page(report, lambda: finished(ui.url, run_id)) == "SUCCESS"
        report.get_by_text("Finished execution of run", exact=False).first.wait_for(timeout=60_000)
        report.screenshot(path=str(artifacts / "morning_4_run_page.png"))
        assert sorted(r["title"] for r in standin.resources().values() if r["title"] in SENT) == SENT

        # 4. The index says who published this version.
        report.goto(f"{ui.reports_url}/", wait_until="load")
        published = report.locator(f'[data-testid="published-{version}"]').inner_text()
        assert published.startswith("yes") and "Ana Analyst" in published
    finally:
        ui.stop()
