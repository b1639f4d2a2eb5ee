"""The reports' Dagster resource: the folder they are written to and the address it is served from. What is kept
there, and how: resources/report_store.py."""

from __future__ import annotations

import dagster as dg

from resources.report_store import ReportStore


class ReportStorage(dg.ConfigurableResource):
    """`base_dir`: the folder the reports are written to (storage/reports); `base_url`: where that folder is served
    (the report server `make dev` starts, REPORTS_URL), so the UI can link to each report."""

    base_dir: str
    base_url: str

    def store(self) -> ReportStore:
        return ReportStore(self.base_dir)
