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
from tests.conftest import STEPS_IN_THE_RUN_PROCESS, samples_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Without these the browser keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


class SharedChromium:
    """One Chromium for each run of consecutive browser tests in a test process, stopped once the next test is not
    one of them (pytest_runtest_teardown below). While Playwright's sync API is up, its event loop counts as
    running in the test process, and every Dagster job run in process meanwhile ended with "RuntimeWarning:
    coroutine 'BaseEventLoop.shutdown_asyncgens' was never awaited": with the browser tests handed out first, some
    hundred of them in a full run."""

    def __init__(self) -> None:
        self.playwright = None
        self.browser = None

    def get(self) -> object:
        if self.browser is None:
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
            try:
                self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                               headless=True)
            except BaseException:
                self.stop()  # a Playwright left up would refuse the next start
                raise
        return self.browser

    def stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()
        self.playwright = self.browser = None


CHROMIUM_RUN = SharedChromium()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the test's own fixtures (its pages) are closed first
    if nextitem is None or nextitem.get_closest_marker("browser") is None:
        CHROMIUM_RUN.stop()


@pytest.fixture
def browser() -> object:
    if not Path(CHROMIUM).exists() or not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM_RUN.get()


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


@pytest.fixture(scope="package")
def ui(tmp_path_factory, standin_server) -> Iterator[object]:
    """`dagster dev` and the report server, set up as an analyst's machine in sample mode, with the Datastore
    stand-in as a test Datastore (LDS_REHEARSAL=1): approvals of the sample data are rehearsals. The files that use
    it are named test_*_in_ui.py, so that one worker runs them all and starts it once (tests/conftest.py). It stops
    when that worker's last browser test is done, not at the end of the session: idle, a UI costs about 3 s of CPU a
    minute (webserver, daemon, code server)."""
    from tests.browser.ui import start_ui

    ui = start_ui(tmp_path_factory.mktemp("ui"), {
        **STEPS_IN_THE_RUN_PROCESS, "LDS_URL": standin_server.url, "LDS_DATASET": standin_server.dataset,
        "LDS_API_KEY": STANDIN_KEY, "LDS_REHEARSAL": "1",
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
