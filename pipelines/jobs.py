"""Jobs: `nightly` runs every source and builds the tables and report; `publish` sends them after an approval.
Each source's own `<source>_job` comes with its assets from the factory (assets/factory.py)."""

from __future__ import annotations

import dagster as dg

from assets.sources import SOURCES
from resources.settings import CODE_LOCATION, PUBLISH_JOB

# Runs `make run` and `make approve` execute in their own process carry the label the UI files a code location's
# runs under (Dagster's hidden repository tag), so they show on the job's page and the Overview like runs launched
# from the UI. Without it they appear only under Runs.
IN_PROCESS_RUN_TAGS = {".dagster/repository": f"__repository__@{CODE_LOCATION}"}

# What every source run ends with: the Datastore tables and the report rebuilt from the stored clean tables, so a
# source re-run alone reaches the report without redoing the rest.
PUBLICATION = dg.AssetSelection.assets("datastore_tables", "cases_report")

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*SOURCES) | PUBLICATION,
    description="Fetch, archive, clean and validate every source, then build the Datastore tables and the cases "
    "report. Never publishes. Runs on the shipped samples unless PIPELINE_MODE=live.",
)

DAILY_SOURCES = [name for name, source in SOURCES.items() if source.freshness.update_every_hours <= 24]

daily_sources = dg.define_asset_job(
    "daily_sources",
    selection=dg.AssetSelection.groups(*DAILY_SOURCES) | PUBLICATION,
    description="The sources that publish daily (not the weekly ONS survey), then the Datastore tables and report. "
    "Run nightly by the daily_sources_nightly schedule.",
)

def publish_job(kind: str) -> dg.UnresolvedAssetJobDefinition:
    """Never targeted by a schedule, sensor or automation condition: it runs only when an analyst launches it with
    their approval (Launchpad, or `make approve`). `kind` ("publish", "dry run", "rehearsal") tags every run, so a
    rehearsal is never mistaken for a publication in the UI."""
    return dg.define_asset_job(
        PUBLISH_JOB,
        selection=dg.AssetSelection.assets("datastore_publish"),
        description="Publish the approved Datastore tables. Requires run config: approved_by (your name) and "
        "report_version (from the report you checked). Sends nothing unless that version matches the stored tables, "
        "and never sends data built from the shipped samples to the real London Datastore."
        + ("" if kind == "publish" else f" This deployment is set up for a {kind}: nothing reaches the real "
                                        "London Datastore."),
        tags={"publish_kind": kind.replace(" ", "_")},
    )
