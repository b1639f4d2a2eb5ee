"""Where the cases reports are kept, and the address they are served from.

One HTML file per version (never overwritten), the published CSVs each version would send (so an analyst can open
them before approving) and its provenance manifest, a snapshot of the tables each report showed (so the next report
can say what changed), and `history.json`, every report built."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from resources.files import Content, finished, read_json, read_parquet, write_atomically, write_folder_atomically


def _link_or_write(source: Path, path: Path, content: bytes) -> None:
    try:
        os.link(source, path)
    except OSError:  # a file system without hard links: a copy
        path.write_bytes(content)


HISTORY_REMEDY = ("it lists the report versions built; restore it from a backup, or move it aside: the next run starts "
                  "a new list, every report and snapshot stays, and make rebuild renders any version from the archive")
SNAPSHOT_REMEDY = ("a snapshot of the tables an earlier report showed (for the changes since it); move its version's "
                   "folder aside: the next report compares with the version before")


class ReportStorage(dg.ConfigurableResource):
    """`base_dir`: the folder the reports are written to (storage/reports); `base_url`: where that folder is served
    (the report server `make dev` starts, REPORTS_URL), so the UI can link to each report."""

    base_dir: str
    base_url: str

    def store(self) -> ReportStore:
        return ReportStore(self.base_dir)


class ReportStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.history_file = self.root / "history.json"

    def report_path(self, version: str) -> Path:
        return self.root / f"cases_report_{version}.html"

    def files_folder(self, version: str) -> Path:
        """The version's published files and provenance manifest, as a publish of that version sends them."""
        return self.root / "files" / version

    @staticmethod
    def file_href(version: str, file_name: str) -> str:
        """A published CSV's address relative to the report (works from disk and from the report server)."""
        return f"files/{version}/{file_name}"

    def _linked_where_unchanged(self, version: str, files: Mapping[str, bytes]) -> dict[str, Content]:
        """The version's files, each one whose bytes the previous version's folder already holds as a hard link to
        it: a retired source's file is the same every night, and a year of versions would otherwise keep 365
        copies. A link is a name, not a copy: removing either version (make prune) leaves the other's whole."""
        earlier = [entry["version"] for entry in self.history() if entry["version"] != version]
        folder = next((self.files_folder(v) for v in reversed(earlier) if self.files_folder(v).is_dir()), None)
        contents: dict[str, Content] = {}
        for name, content in files.items():
            same = folder / name if folder is not None else None
            if same is not None and same.is_file() and same.stat().st_size == len(content) \
                    and same.read_bytes() == content:
                contents[name] = lambda path, source=same, content=content: _link_or_write(source, path, content)
            else:
                contents[name] = content
        return contents

    def history(self) -> list[dict]:
        return read_json(self.history_file, HISTORY_REMEDY, default=[])

    def versions(self) -> list[dict]:
        """One entry per version, newest build first: the latest record of each (when built, mode, warnings...)."""
        latest: dict[str, dict] = {}
        for entry in self.history():
            latest[entry["version"]] = entry
        return sorted(latest.values(), key=lambda entry: entry.get("rendered_at", ""), reverse=True)

    def previous(self, version: str) -> tuple[str, dict[str, pd.DataFrame]] | None:
        """The most recent earlier report with other contents, and the tables it showed."""
        for entry in reversed(self.history()):
            if entry["version"] != version:
                folder = self.root / "snapshots" / entry["version"]
                if folder.is_dir():
                    return entry["version"], {p.stem: read_parquet(p, SNAPSHOT_REMEDY)
                                              for p in finished(folder, "*.parquet")}
        return None

    def save(self, version: str, html: str, tables: Mapping[str, pd.DataFrame], run_id: str,
             summary: Mapping[str, object] | None = None, files: Mapping[str, bytes] | None = None,
             shared: Mapping[str, str] | None = None) -> Path:
        """Write the report, its published files (`files`: file name -> the exact bytes a publish sends) and its
        tables' snapshot unless this version exists already; record it in history with `summary` (mode, warnings,
        stale sources, where the data came from). `shared`: files every version's page loads from beside it
        (plotly.js), written once under a name that changes with their content."""
        for name, text in (shared or {}).items():
            if not (self.root / name).exists():
                write_atomically(self.root / name, text)
        path = self.report_path(version)
        if not path.exists():
            write_atomically(path, html)
        if files:
            write_folder_atomically(self.files_folder(version), self._linked_where_unchanged(version, files))
        write_folder_atomically(self.root / "snapshots" / version, {
            f"{name}.parquet": lambda file, table=table: table.to_parquet(file, index=False)
            for name, table in tables.items()})
        history = self.history()
        history.append({"version": version, "run_id": run_id, "file": path.name,
                        "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"), **(summary or {})})
        write_atomically(self.history_file, json.dumps(history, indent=2))
        return path
