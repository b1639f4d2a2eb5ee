"""Dagster resources (HTTP, raw archive, table storage, upstreams, reports, the Datastore) and the one place they
are built from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from resources import settings

if TYPE_CHECKING:
    from resources.datastore import DatastoreTarget
    from resources.http import HttpClient
    from resources.upstreams import Upstreams


def build_resources(
    *,
    data_dir: Path | None = None,
    upstreams: Upstreams | None = None,
    http: HttpClient | None = None,
    datastore: DatastoreTarget | None = None,
    reports_url: str | None = None,
) -> dict[str, object]:
    """Every resource the definitions use, from the settings (read now, not at import); tests pass their own
    storage folder, upstreams, HTTP client or publish target."""
    # Imported here, not with the package: every `from resources import settings` (the report server, make dev's
    # command) would otherwise load Dagster and pandas.
    from resources.archive import RawArchive
    from resources.datastore import datastore_from_environment
    from resources.http import HttpClient
    from resources.io_manager import ParquetIOManager
    from resources.report_storage import ReportStorage
    from resources.upstreams import Upstreams

    storage = Path(data_dir) if data_dir is not None else settings.data_dir()
    return {
        "io_manager": ParquetIOManager(base_dir=str(storage)),
        "archive": RawArchive(data_dir=str(storage)),
        "http": http or HttpClient(max_attempts=settings.http_max_attempts(),
                                   backoff_base_s=settings.http_backoff_base_s(),
                                   deadline_s=settings.http_deadline_s()),
        "upstreams": upstreams or Upstreams.from_environment(),
        "reports": ReportStorage(base_dir=str(storage / "reports"), base_url=reports_url or settings.reports_url()),
        # LDS_API_KEY is read when the publish job runs (dg.EnvVar), never when the code loads.
        "datastore": datastore or datastore_from_environment(storage),
    }
