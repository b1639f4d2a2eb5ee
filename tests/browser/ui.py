"""Start the real Dagster UI (`dagster dev`: webserver + daemon) and the report server, as `make dev` does, on
free ports on 127.0.0.1 with a temporary DAGSTER_HOME and data directory."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests

from pipelines.commands.dev import stop as stop_whole
from resources.settings import REPO_ROOT


def free_ports(count: int) -> list[int]:
    """`count` different ports, free on 127.0.0.1 now. They are held together while chosen: asked one after the
    other, the kernel may hand out a port it has just released again, and a UI and its report server were once
    given the same one (the webserver never answered and the test waited three minutes)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


@dataclass
class DagsterUI:
    url: str
    reports_url: str
    home: Path
    data_dir: Path
    env: dict[str, str]
    processes: list[subprocess.Popen]

    def run(self, *args: str, timeout: int = 300, env_overrides: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
        """Run a command of the project (e.g. `-m pipelines.commands.run`) against this UI's instance and storage
        (`env_overrides`: settings this run alone has otherwise, e.g. another REPORTS_PORT)."""
        return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env={**self.env, **(env_overrides or {})},
                              capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        """Stop the UI and the report server, each with every process it started (their process groups), as `make
        dev` stops them (pipelines/commands/dev.py; its own stop is tested in tests/pipelines/commands/test_dev.py):
        about a second on a quiet machine. Killed after 1.5 s instead, as before, the code server dagster dev starts
        again while it stops left its socket file in /tmp."""
        stop_whole(self.processes)


def start_ui(tmp: Path, extra_env: dict[str, str] | None = None) -> DagsterUI:
    home, data_dir = tmp / "dagster_home", tmp / "storage"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    port, reports_port = free_ports(2)
    env = {
        **os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(data_dir), "PIPELINE_MODE": "sample",
        "REPORTS_PORT": str(reports_port), "DAGSTER_PORT": str(port), "PYTHONUNBUFFERED": "1", **(extra_env or {}),
    }
    logs = tmp / "logs"
    logs.mkdir()
    processes = [
        subprocess.Popen([sys.executable, "-m", "reports.serve"], cwd=REPO_ROOT, env=env, start_new_session=True,
                         stdout=(logs / "reports.log").open("w"), stderr=subprocess.STDOUT),
        subprocess.Popen([str(Path(sys.executable).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port),
                          "-w", str(REPO_ROOT / "workspace.yaml")],
                         cwd=REPO_ROOT, env=env, start_new_session=True,
                         stdout=(logs / "dagster.log").open("w"), stderr=subprocess.STDOUT),
    ]
    ui = DagsterUI(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{reports_port}", home, data_dir, env, processes)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{ui.url}/server_info", timeout=2).ok and requests.get(ui.reports_url, timeout=2).ok:
                return ui
        except requests.RequestException:
            pass
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.5)
    ui.stop()
    raise RuntimeError(f"Dagster UI did not start; see {logs}:\n{(logs / 'dagster.log').read_text()[-3000:]}")


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


Waited = TypeVar("Waited")


def wait_for_run_off_its_page(page, wait: Callable[[], Waited]) -> Waited:
    """Wait for a run (`wait` asks the GraphQL API) with the page away from the run's page, then load that page
    once and let it show the run's end (RUN_SUCCESS, RUN_FAILURE), as an analyst coming back to it sees it.

    The run's page redraws its live log and timeline while the run goes on, which kept Chromium about one core
    busy for as long as a run took; what the tests check of a run is its outcome."""
    run_page = page.url
    page.goto("about:blank")
    outcome = wait()
    page.goto(run_page, wait_until="load")
    page.get_by_text(re.compile(r"^RUN_(SUCCESS|FAILURE|CANCELED)$")).first.wait_for(timeout=60_000)
    return outcome


def nightly_run(ui: DagsterUI) -> tuple[str, str]:
    """`make run` against this UI's instance; returns its run id and report version."""
    completed = ui.run("-m", "pipelines.commands.run")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    lines = completed.stdout.strip().splitlines()
    return lines[0].split()[2], lines[-1].removeprefix("report_version: ")


def nightly(ui: DagsterUI) -> str:
    return nightly_run(ui)[1]
