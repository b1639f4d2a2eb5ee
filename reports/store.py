"""Where reports live: one HTML file per version (never overwritten), the published CSVs each version would send
(so an analyst can open them before approving), and a snapshot of the tables each report showed, so the next
report can say what changed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd


class ReportStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.history_file = self.root / "history.json"

    def report_path(self, version: str) -> Path:
        return self.root / f"cases_report_{version}.html"

    @staticmethod
    def file_href(version: str, file_name: str) -> str:
        """A published CSV's address relative to the report (works from disk and from the report server)."""
        return f"files/{version}/{file_name}"

    def history(self) -> list[dict]:
        return json.loads(self.history_file.read_text()) if self.history_file.exists() else []

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
                    return entry["version"], {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
        return None

    def save(self, version: str, html: str, tables: Mapping[str, pd.DataFrame], run_id: str,
             summary: Mapping[str, object] | None = None, files: Mapping[str, bytes] | None = None) -> Path:
        """Write the report, its published files (`files`: file name -> the exact bytes a publish sends) and its
        tables' snapshot unless this version exists already; record it in history with `summary` (mode, warnings,
        stale sources, where the data came from)."""
        path = self.report_path(version)
        self.root.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            tmp = path.with_suffix(".html.tmp")
            tmp.write_text(html, encoding="utf-8")
            tmp.replace(path)
        folder = self.root / "files" / version
        if files and not folder.is_dir():
            staging = folder.with_name(f".{version}.tmp")
            staging.mkdir(parents=True, exist_ok=True)
            for file_name, content in files.items():
                (staging / file_name).write_bytes(content)
            staging.replace(folder)
        snapshot = self.root / "snapshots" / version
        if not snapshot.is_dir():
            snapshot.mkdir(parents=True)
            for name, table in tables.items():
                table.to_parquet(snapshot / f"{name}.parquet", index=False)
        history = self.history()
        history.append({"version": version, "run_id": run_id, "file": path.name,
                        "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"), **(summary or {})})
        self.history_file.write_text(json.dumps(history, indent=2))
        return path
