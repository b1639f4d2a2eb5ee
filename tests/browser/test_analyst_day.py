"""The analyst's day, end to end in the real UI (dagster dev: webserver + daemon) and real Chromium:

the nightly job runs with one source failing (its server answers 500), five sources land and one fails; the
server is mended; only the failed source is re-run from the UI (Re-execute > From failure), which rebuilds the
tables and the report; the analyst approves the new report version in the publish Launchpad; the Datastore
stand-in receives the files. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from assets.sources import SOURCES
from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from tests.browser.ui import DagsterUI, start_ui, wait_for_run_off_its_page
from tests.conftest import BASE_PATHS, live_environment, route_for, serve_all_samples, upstream_urls
from tests.publishing import SENT

pytestmark = pytest.mark.browser
BROKEN = "phe_healthcare"
RUN_QUERY = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status stepStats { stepKey status } } } }"""


@pytest.fixture(scope="module")
def day(tmp_path_factory, upstream: HTTPServer, standin_server: StandIn) -> Iterator[tuple[DagsterUI, StandIn]]:
    standin = standin_server.reset()
    urls = upstream_urls(upstream)
    # The runs' executor is the product's (a process per step): this is the day as an analyst has it.
    ui = start_ui(tmp_path_factory.mktemp("day"), {
        **live_environment(urls),
        "LDS_URL": standin.url, "LDS_DATASET": standin.dataset, "LDS_API_KEY": KEY,
        # Keep the failing source's retries short: two quick HTTP attempts, one step retry after a second.
        "HTTP_MAX_ATTEMPTS": "2", "HTTP_BACKOFF_BASE_S": "0.1", "FETCH_STEP_RETRIES": "1",
        "FETCH_STEP_RETRY_DELAY_S": "1",
    })
    try:
        yield ui, standin
    finally:
        ui.stop()


def set_broken(server: HTTPServer, broken: bool) -> None:
    """Answer the broken source's URL with 500 (or the real file again). Handlers are matched in order, so the
    500 goes first."""
    source = SOURCES[BROKEN]
    route, query = route_for(next(iter(source.sample_routes(server.url_for(BASE_PATHS[source.sample.api])))))
    server.clear()
    if broken:
        server.expect_request(route, query_string=query).respond_with_handler(
            lambda request: Response("upstream exploded", status=500))
    serve_all_samples(server)


def run_state(ui: DagsterUI, run_id: str) -> dict:
    answer = requests.post(f"{ui.url}/graphql", json={"query": RUN_QUERY, "variables": {"runId": run_id}},
                           timeout=30).json()
    run = answer["data"]["runOrError"]
    return {"status": run["status"], "steps": {s["stepKey"]: s["status"] for s in run["stepStats"]}}


def wait_for_run(ui: DagsterUI, run_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_state(ui, run_id)
        if state["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return state
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish: {run_state(ui, run_id)}")


def run_id_from(page) -> str:
    page.wait_for_url("**/runs/**", timeout=60_000)
    return page.url.rstrip("/").split("/runs/")[1].split("?")[0]


def test_the_analysts_day(day, upstream: HTTPServer, new_page, artifacts: Path) -> None:
    ui, standin = day
    set_broken(upstream, True)
    page = new_page(viewport={"width": 1400, "height": 1000})

    # 1. The nightly job, launched from its Launchpad.
    page.goto(f"{ui.url}/locations/london_covid/jobs/nightly/playground", wait_until="load")
    page.get_by_role("button", name="Launch Run").click()
    nightly_id = run_id_from(page)
    nightly = wait_for_run_off_its_page(page, lambda: wait_for_run(ui, nightly_id))
    page.screenshot(path=str(artifacts / "day_1_nightly_one_source_failed.png"))
    assert nightly["status"] == "FAILURE"
    clean = {name: nightly["steps"].get(name) for name in SOURCES}
    assert clean.pop(BROKEN) is None and nightly["steps"][f"raw__{BROKEN}"] == "FAILURE"
    assert set(clean.values()) == {"SUCCESS"}, clean  # the other five landed in the same run

    # 2. The source is mended; re-run only what failed, from the run's page.
    set_broken(upstream, False)
    # The arrow beside "Re-execute all" opens the re-execution menu. Right after the page loads it may still
    # re-render the button bar (the run's status arriving) and swallow a click: the analyst clicks again.
    arrow = page.get_by_role("button", name="Re-execute all (*)").locator("xpath=following::button[1]")
    menu_item = page.get_by_text("From failure", exact=True)
    for _ in range(3):
        arrow.click()
        deadline = time.monotonic() + 10
        while not menu_item.is_visible() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        if menu_item.is_visible():
            break
    menu_item.wait_for(state="visible", timeout=5_000)
    page.screenshot(path=str(artifacts / "day_2_reexecute_from_failure_menu.png"))
    menu_item.click()
    page.wait_for_url(lambda url: "/runs/" in url and nightly_id not in url, timeout=60_000)
    rerun_id = run_id_from(page)
    rerun = wait_for_run_off_its_page(page, lambda: wait_for_run(ui, rerun_id))
    page.screenshot(path=str(artifacts / "day_3_failed_source_rerun.png"))
    assert rerun["status"] == "SUCCESS", rerun
    assert set(rerun["steps"]) == {f"raw__{BROKEN}", BROKEN, "datastore_tables", "cases_report"}

    # 3. The analyst reads the new report and approves its version in the publish Launchpad.
    history = json.loads((ui.data_dir / "reports" / "history.json").read_text())
    version = history[-1]["version"]
    page.goto(f"{ui.reports_url}/cases_report_{version}.html", wait_until="load")
    assert page.locator('[data-testid="report-version"]').inner_text().strip() == version
    assert "stale" not in page.locator(f'[data-testid="source-{BROKEN}"]').get_attribute("class")
    page.goto(f"{ui.url}/locations/london_covid/jobs/publish/playground", wait_until="load")
    page.locator(".CodeMirror").wait_for(state="visible", timeout=30_000)
    page.get_by_text("Missing required config entry").wait_for(timeout=30_000)
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.type(
        f'ops: {{datastore_publish: {{config: {{approved_by: "Ana Analyst", report_version: "{version}"}}}}}}'
    )
    page.get_by_text("Missing required config entry").wait_for(state="detached", timeout=15_000)
    page.get_by_role("button", name="Launch Run").click()
    publish_id = run_id_from(page)
    publish = wait_for_run_off_its_page(page, lambda: wait_for_run(ui, publish_id))
    page.screenshot(path=str(artifacts / "day_4_published.png"))
    assert publish["status"] == "SUCCESS", publish
    # Every file of a live source; the retired sources' files (only their shipped samples here) are held back.
    assert sorted(r["title"] for r in standin.resources().values()) == SENT
    assert all(r.status == 200 for r in standin.log)
    # The report server's index now says this version was published, and by whom.
    page.goto(f"{ui.reports_url}/", wait_until="load")
    published = page.locator(f'[data-testid="published-{version}"]').inner_text()
    assert published.startswith("yes") and "Ana Analyst" in published


def test_per_source_job_and_group_show_what_a_rerun_rebuilds(day, new_page, artifacts: Path) -> None:
    """The two other ways to re-run one source, as the analyst sees them (screenshots for docs/analyst.md): the
    source's own job holds its two assets plus the Datastore tables and the report; its group's lineage shows
    the tables and report downstream, to select with it before "Materialize selected"."""
    ui, _ = day
    page = new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{ui.url}/locations/london_covid/jobs/{BROKEN}_job", wait_until="load")
    page.get_by_text("View 4 assets").wait_for(timeout=30_000)
    page.get_by_text("then rebuild the Datastore tables and the report").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "rerun_way_1_per_source_job.png"))
    page.goto(f"{ui.url}/locations/london_covid/asset-groups/{BROKEN}", wait_until="load")
    page.get_by_text("cases_report").first.wait_for(timeout=30_000)
    page.get_by_text("datastore_tables").first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "rerun_way_3_materialize_group.png"))
