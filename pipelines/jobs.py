"""Jobs: `nightly` runs every source and builds the tables and report; `<source>_job` re-runs one source alone."""

from __future__ import annotations

import dagster as dg

from assets import SOURCES

PUBLICATION = dg.AssetSelection.assets("datastore_tables", "cases_report")

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*SOURCES) | PUBLICATION,
    description="Fetch, archive, clean and validate every source, then build the Datastore tables and the cases "
    "report. Never publishes. Runs on the shipped samples unless PIPELINE_MODE=live.",
)

DAILY_SOURCES = [name for name, spec in SOURCES.items() if spec.update_every_hours <= 24]

daily_sources = dg.define_asset_job(
    "daily_sources",
    selection=dg.AssetSelection.groups(*DAILY_SOURCES) | PUBLICATION,
    description="The sources that publish daily (not the weekly ONS survey), then the Datastore tables and report. "
    "Run nightly by the daily_sources_nightly schedule.",
)

# Re-running one source alone also rebuilds the Datastore tables and the report from it and the stored tables of
# the other sources, so a fixed source reaches the report without redoing the rest.
source_jobs = [
    dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.groups(name) | PUBLICATION,
        description=f"Re-run only {spec.title} (fetch, archive, clean, validate), then rebuild the Datastore "
        "tables and the report.",
    )
    for name, spec in SOURCES.items()
]

# Never targeted by a schedule, sensor or automation condition: it runs only when an analyst launches it with their
# approval (Launchpad, or `make approve`).
publish = dg.define_asset_job(
    "publish",
    selection=dg.AssetSelection.assets("datastore_publish"),
    description="Publish the approved Datastore tables. Requires run config: approved_by (your name) and "
    "report_version (from the report you checked). Sends nothing unless that version matches the stored tables.",
)
