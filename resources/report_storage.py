"""Where the cases reports are kept, and the address they are served from."""

from __future__ import annotations

import dagster as dg

from reports.store import ReportStore


class ReportStorage(dg.ConfigurableResource):
    """`base_dir`: the folder the reports are written to (storage/reports); `base_url`: where that folder is served
    (the report server `make dev` starts, REPORTS_URL), so the UI can link to each report."""

    base_dir: str
    base_url: str

    def store(self) -> ReportStore:
        return ReportStore(self.base_dir)
