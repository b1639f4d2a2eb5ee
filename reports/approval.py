"""The analyst's next step after reading a report: what to check, and the two ways to approve (the command, and
the `publish` job's Launchpad with the version filled in). Used by the report, `make run` and the report server,
so all three say the same."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from resources.settings import CODE_LOCATION, PUBLISH_JOB

# The official figures the headline numbers are checked against (UKHSA's data dashboard replaced PHE's).
DASHBOARDS = {
    "London": "https://ukhsa-dashboard.data.gov.uk/topics/covid-19?areaType=Region&areaName=London",
    "England": "https://ukhsa-dashboard.data.gov.uk/topics/covid-19",
}


# Where the suggested rehearsals write what they would send (git-ignored, beside the other stored data).
DRY_RUN_FOLDER = "storage/dry-run"


def approve_command(version: str, dry_run: str | None = None) -> str:
    rehearsal = f" DRY_RUN={dry_run}" if dry_run else ""
    return f'make approve BY="<your name>" VERSION={version}{rehearsal}'


def launchpad_url(dagster_ui_url: str, version: str) -> str:
    """The `publish` job's Launchpad with `report_version` filled in and `approved_by` left for the analyst: the
    UI's set-up address reads the run config from its `config` parameter."""
    config = ("ops:\n  datastore_publish:\n    config:\n"
              f'      approved_by: ""\n      report_version: "{version}"\n')
    return (f"{dagster_ui_url.rstrip('/')}/locations/{CODE_LOCATION}/jobs/{PUBLISH_JOB}/playground/setup?"
            + urlencode({"config": config}))


def launchpad_path(version: str) -> str:
    """The report server's address that redirects to the Launchpad as the UI is set up when the link is followed
    (reports/serve.py), relative to a report."""
    return f"launchpad/{version}"


@dataclass(frozen=True)
class Approval:
    """The "Approve this version" section of a report."""

    version: str
    publishable: bool
    command: str
    dry_run_command: str
    launchpad_url: str  # as the UI was set up when the report was built; the report server's link is current
    launchpad_path: str
    dashboards: dict[str, str]


def approval_for(version: str, publishable: bool, dagster_ui_url: str) -> Approval:
    return Approval(version=version, publishable=publishable, command=approve_command(version),
                    dry_run_command=approve_command(version, dry_run=DRY_RUN_FOLDER),
                    launchpad_url=launchpad_url(dagster_ui_url, version), launchpad_path=launchpad_path(version),
                    dashboards=dict(DASHBOARDS))
