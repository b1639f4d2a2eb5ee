"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright; screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pipelines.commands.datastore_standin import STANDIN_KEY
from resources.settings import REPO_ROOT
from tests.conftest import samples_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Without these the browser keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:
    """Opens a page in a browser context of its own (its own storage: the Launchpad keeps drafts in the browser's
    local storage), closed with every page it opened (popups included) when the test ends, so that no page of an
    earlier test goes on polling a Dagster UI while later tests run."""
    contexts = []

    def open_page(**options: object) -> object:
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def ui(tmp_path_factory, standin_server) -> Iterator[object]:
    """`dagster dev` and the report server, set up as an analyst's machine in sample mode, with the Datastore
    stand-in as a test Datastore (LDS_REHEARSAL=1): approvals of the sample data are rehearsals."""
    from tests.browser.ui import start_ui

    ui = start_ui(tmp_path_factory.mktemp("ui"), {
        "LDS_URL": standin_server.url, "LDS_DATASET": standin_server.dataset, "LDS_API_KEY": STANDIN_KEY,
        "LDS_REHEARSAL": "1",
    })
    try:
        yield ui
    finally:
        ui.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def upstream() -> Iterator[HTTPServer]:
    """Every source's shipped samples served as their publishers served them, on 127.0.0.1 (one per test module)."""
    with samples_server() as server:
        yield server
