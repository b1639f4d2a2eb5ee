"""The service of `make serve` (pipelines/service.py) for tests: a real PostgreSQL server, code server, webserver,
daemon and report server on free ports of 127.0.0.1, and the GraphQL calls the UI makes against it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests
import yaml

from pipelines.service.postgres import postgres_bin_dir
from pipelines.service.supervisor import INSTANCE_CONFIG, Service
from resources.settings import CODE_LOCATION, ServiceSettings
from tests.browser.ui import free_ports

REPOSITORY = {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__"}
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def postgres_available() -> bool:
    try:
        postgres_bin_dir()
        return True
    except RuntimeError:
        return False


def postgres_folder() -> Path:
    """A folder PostgreSQL's own account can reach (pytest's temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="london-covid-pg-"))
    folder.chmod(0o755)
    return folder


def free_settings() -> ServiceSettings:
    pg_port, code_server_port, dagster_port, reports_port = free_ports(4)
    return ServiceSettings(
        pg_host=None, pg_port=pg_port, pg_username="dagster", pg_password=None, pg_db="dagster",
        pg_os_user="postgres", code_server_port=code_server_port, dagster_port=dagster_port, reports_port=reports_port)


def fast_monitoring_config(folder: Path) -> Path:
    """config/dagster-service.yaml with run monitoring looking every 2 s instead of every 30 s, so a test sees a
    dead run marked failed quickly; everything else as shipped."""
    config = yaml.safe_load(INSTANCE_CONFIG.read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 2
    config["run_monitoring"]["free_slots_after_run_end_seconds"] = 5
    path = folder / "dagster-service.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Api:
    """Dagster's GraphQL API, as the UI uses it."""

    url: str

    def __call__(self, query: str, **variables: object) -> dict:
        for _ in range(3):
            response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
            # After PostgreSQL restarts, each connection the webserver keeps open fails once ("server closed the
            # connection unexpectedly") and is replaced; the UI polls again, and so do we.
            if response.status_code != 500:
                break
            time.sleep(0.5)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch(self, job: str, run_config: dict | None = None) -> str:
        """What the Launchpad's "Launch run" sends."""
        data = self("""mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
            ... on RunConfigValidationInvalid { errors { message } } } }""",
                    params={"selector": {**REPOSITORY, "jobName": job}, "runConfigData": run_config or {}})
        outcome = data["launchRun"]
        assert outcome["__typename"] == "LaunchRunSuccess", outcome
        return outcome["run"]["runId"]

    def reexecute_from_failure(self, run_id: str) -> str:
        """The run page's "Re-execute > From failure"."""
        data = self("""mutation($params: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                    params={"parentRunId": run_id, "strategy": "FROM_FAILURE"})
        outcome = data["launchRunReexecution"]
        assert outcome["__typename"] == "LaunchRunSuccess", outcome
        return outcome["run"]["runId"]

    def run(self, run_id: str) -> dict:
        return self("""query($id: ID!) { runOrError(runId: $id) { ... on Run { runId status jobName
            tags { key value } startTime endTime } } }""", id=run_id)["runOrError"]

    def events(self, run_id: str) -> list[dict]:
        data = self("""query($id: ID!) { logsForRun(runId: $id, limit: 10000) { ... on EventConnection {
            events { __typename ... on MessageEvent { message timestamp stepKey }
            ... on RunFailureEvent { error { ...Error } }
            ... on ExecutionStepFailureEvent { error { ...Error } } } } } }
            fragment Error on PythonError { message cause { message cause { message } } }""", id=run_id)
        return data["logsForRun"]["events"]

    def failure_errors(self, run_id: str) -> list[str]:
        """Every error the run's failure and its failed steps carry, with their causes, as one text each."""
        texts = []
        for event in self.events(run_id):
            error = event.get("error")
            parts = []
            while error:
                parts.append(error["message"])
                error = error.get("cause")
            if parts:
                texts.append(" <- ".join(parts))
        return texts

    def runs(self) -> list[dict]:
        data = self("""{ runsOrError(limit: 500) { ... on Runs { results { runId status jobName } } } }""")
        return data["runsOrError"]["results"]

    def wait(self, run_id: str, timeout_s: float = 240, until: tuple[str, ...] = FINISHED) -> dict:
        """The run once its status is one of `until`; a run that succeeded, once it has also written its last
        event (see `settled`), so that what a test reads of it next is all there will be."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run and run["status"] in until and (run["status"] != "SUCCESS" or self.settled(run_id)):
                return run
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} not in {until} after {timeout_s:.0f} s: {self.run(run_id)}")

    def settled(self, run_id: str) -> bool:
        """Whether the run has written its last event. A run launched in a process of its own ends with that
        process's "Process for run exited", written after the run's status is already final; a run executed inside
        a command's process (make approve) writes no such pair."""
        messages = [event.get("message") or "" for event in self.events(run_id)]
        return (not any(m.startswith("Started process for run") for m in messages)
                or any(m.startswith("Process for run exited") for m in messages))

    def wait_for(self, condition: Callable[[], object], what: str, timeout_s: float = 120) -> object:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := condition():
                return found
            time.sleep(0.5)
        raise AssertionError(f"waited {timeout_s:.0f} s for {what}")

    def report_version(self, run_id: str) -> str:
        """The report version the run's cases_report materialization recorded."""
        data = self("""{ assetOrError(assetKey: {path: ["cases_report"]}) { ... on Asset {
            assetMaterializations(limit: 20) { runId metadataEntries { label ... on TextMetadataEntry { text } } }
            } } }""")
        for materialization in data["assetOrError"]["assetMaterializations"]:
            if materialization["runId"] == run_id:
                return next(e["text"] for e in materialization["metadataEntries"] if e["label"] == "report_version")
        raise AssertionError(f"run {run_id} did not materialize cases_report")


def run_process_id(api: Api, run_id: str) -> int:
    """The run's process, from the engine event it records when it starts (what the run's page shows)."""
    for event in api.events(run_id):
        found = re.match(r"Started process for run \(pid: (\d+)\)", event.get("message") or "")
        if found:
            return int(found.group(1))
    raise AssertionError(f"run {run_id} recorded no process id")


def kill_tree(pid: int) -> int:
    """SIGKILL a process and everything it started (a run's process and its step processes); returns how many."""
    root = psutil.Process(pid)
    family = [*root.children(recursive=True), root]
    for process in family:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    psutil.wait_procs(family, timeout=10)
    return len(family)


def copy_of_the_code(target: Path) -> Path:
    """A checkout-like copy of the project's code (its packages; data and config linked), to change and reload."""
    from resources.settings import REPO_ROOT

    for package in ("pipelines", "assets", "resources", "checks", "reports"):
        shutil.copytree(REPO_ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    for shared in ("data", "config"):
        (target / shared).symlink_to(REPO_ROOT / shared)
    return target


__all__ = [
    "Api",
    "Service",
    "copy_of_the_code",
    "fast_monitoring_config",
    "free_settings",
    "kill_tree",
    "postgres_available",
    "postgres_folder",
    "run_process_id",
]
