"""Jobs: `nightly` runs every source; `<source>_job` re-runs one source alone (raw download and clean table)."""

from __future__ import annotations

import dagster as dg

from assets import SOURCES

nightly = dg.define_asset_job(
    "nightly",
    selection=dg.AssetSelection.groups(*SOURCES),
    description="Fetch, archive, clean and validate every source. Runs on the shipped samples unless "
    "PIPELINE_MODE=live.",
)

source_jobs = [
    dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.groups(name),
        description=f"Re-run only {spec.title}: fetch, archive, clean and validate.",
    )
    for name, spec in SOURCES.items()
]
