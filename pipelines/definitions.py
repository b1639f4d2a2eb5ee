"""The project's Dagster definitions, loaded by workspace.yaml (`dagster dev`, webserver, daemon) and built when the
code location loads, so the settings they depend on are read then, not when this module is imported."""

from __future__ import annotations

import gc

import dagster as dg

from assets.ingest.factory import build_source, fetch_retry_policy
from assets.publication.cases_report import cases_report, with_report_index
from assets.publication.datastore_publish import datastore_publish
from assets.publication.datastore_tables import datastore_tables
from assets.sources import SOURCES
from pipelines.automation import build_release_sensor, build_schedules, run_failure_notifier
from pipelines.console import console
from pipelines.jobs import PUBLICATION, daily_sources, nightly, publish_job
from pipelines.step_server import PRELOAD
from resources import build_resources, settings


def launched_run_executor(kind: str) -> dg.ExecutorDefinition:
    """How the runs Dagster launches (UI, schedules, sensors) execute: DAGSTER_EXECUTOR, `multiprocess` unless set."""
    if kind == "in_process":
        return dg.in_process_executor
    # Each step in its own process (one failing source cannot take the others down), at most 4 at once on the 2-core
    # machines we run on, and at most DOWNLOADS_PER_HOST downloads from one upstream host at a time.
    return dg.multiprocess_executor.configured({
        "max_concurrent": 4,
        # Each step's process forks from one that has already imported the project and what Dagster loads when a
        # step's process opens the instance (pipelines/preload.py), instead of starting Python afresh: a sample
        # nightly run took 45 s spawning, 16.5 s preloading the definitions alone, about 14 s now. A run's process
        # starts that server as it loads the project (pipelines/step_server.py).
        "start_method": {"forkserver": {"preload_modules": PRELOAD}},
        "tag_concurrency_limits": [
            {"key": "download_host", "value": {"applyLimitPerUniqueValue": True},
             "limit": settings.downloads_per_host()},
        ],
    })


def build_definitions(resources: dict[str, object] | None = None) -> dg.Definitions:
    """Every source's assets and job (assets/factory.py), the tables, report and publish step, the jobs,
    schedules and sensors, and the resources (built from the settings unless given)."""
    fetch_retry = fetch_retry_policy(settings.fetch_step_retries(), settings.fetch_step_retry_delay_s())
    per_source = [build_source(source, fetch_retry=fetch_retry, rebuild=PUBLICATION) for source in SOURCES.values()]
    source_jobs = [job for definitions in per_source for job in definitions.jobs]
    resources = resources if resources is not None else build_resources()
    return dg.Definitions.merge(*per_source, dg.Definitions(
        assets=[datastore_tables, with_report_index(cases_report, resources["reports"].base_url), datastore_publish],
        jobs=[nightly, daily_sources, publish_job(resources["datastore"].kind)],
        schedules=build_schedules(settings.nightly_cron(), settings.ons_weekly_cron()),
        sensors=[build_release_sensor(source_jobs), run_failure_notifier],
        resources=resources,
        executor=launched_run_executor(settings.dagster_executor()),
        loggers={"console": console},
    ))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()


# What every process that loads the definitions imported by now lives as long as it does (pipelines/__init__.py).
gc.freeze()
