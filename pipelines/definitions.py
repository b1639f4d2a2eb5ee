"""The project's single Dagster `Definitions`, loaded by workspace.yaml (`dagster dev`, webserver, daemon)."""

from __future__ import annotations

import sys
from pathlib import Path

# `python_file` code locations run this file directly; make the repository's packages importable either way.
REPO_ROOT = str(Path(__file__).resolve().parents[1])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import dagster as dg  # noqa: E402

from assets import ALL_SOURCE_ASSETS  # noqa: E402
from assets.cases_report import ReportStorage, cases_report  # noqa: E402
from assets.datastore_publish import datastore_publish  # noqa: E402
from assets.datastore_tables import datastore_tables  # noqa: E402
from pipelines.automation import (  # noqa: E402
    daily_sources_schedule,
    ons_weekly_schedule,
    release_sensor,
    run_failure_notifier,
)
from pipelines.jobs import daily_sources, nightly, publish, source_jobs  # noqa: E402
from resources.archive import RawArchive  # noqa: E402
from resources.datastore import datastore_from_environment  # noqa: E402
from resources.http import HttpClient  # noqa: E402
from resources.io_manager import ParquetIOManager  # noqa: E402
from resources.settings import (  # noqa: E402
    data_dir,
    downloads_per_host,
    http_backoff_base_s,
    http_max_attempts,
)
from resources.upstreams import Upstreams  # noqa: E402


def build_resources() -> dict[str, object]:
    storage = str(data_dir())
    return {
        "io_manager": ParquetIOManager(base_dir=storage),
        "archive": RawArchive(data_dir=storage),
        "http": HttpClient(max_attempts=http_max_attempts(), backoff_base_s=http_backoff_base_s()),
        "upstreams": Upstreams.from_environment(),
        "reports": ReportStorage(base_dir=str(data_dir() / "reports")),
        # LDS_API_KEY is read when the publish job runs (dg.EnvVar), never when the code loads.
        "datastore": datastore_from_environment(),
    }


defs = dg.Definitions(
    assets=[*ALL_SOURCE_ASSETS, datastore_tables, cases_report, datastore_publish],
    jobs=[nightly, daily_sources, *source_jobs, publish],
    schedules=[daily_sources_schedule, ons_weekly_schedule],
    sensors=[release_sensor, run_failure_notifier],
    resources=build_resources(),
    # Each step in its own process (one failing source cannot take the others down), at most 4 at once on the
    # 2-core machines we run on, and at most DOWNLOADS_PER_HOST downloads from one upstream host at a time.
    executor=dg.multiprocess_executor.configured({
        "max_concurrent": 4,
        "tag_concurrency_limits": [
            {"key": "download_host", "value": {"applyLimitPerUniqueValue": True}, "limit": downloads_per_host()},
        ],
    }),
)
