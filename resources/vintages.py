"""Vintages: every release of every clean table, kept as it was, so a figure can be followed from its first
publication to now (the report's revisions view) and a past release re-read without its raw files.

Layout under the data directory (default `storage/`, git-ignored):

    vintages/<source>/<YYYY-MM-DD>.parquet    the clean table of the release of that date (its files' Last-Modified,
                                              or the day they were fetched when the publisher sent no date)

One Parquet file per release rather than one growing table: a release is written once, whole, and never rewritten
(a publisher's same-day correction replaces that day's file), and keeping a release costs the size of its table,
with nothing to rewrite (docs/development.md, "Performance", gives the figures).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from resources.files import finished, write_atomically

FOLDER = "vintages"


class VintageStore:
    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / FOLDER

    def path(self, source: str, release: date) -> Path:
        return self.root / source / f"{release:%Y-%m-%d}.parquet"

    def save(self, source: str, release: date, table: pd.DataFrame) -> Path:
        """Keep `table` as `source`'s release of `release` (written whole, or not at all)."""
        return write_atomically(self.path(source, release), lambda path: table.to_parquet(path, index=False))

    def releases(self, source: str) -> list[date]:
        """The release dates held for `source`, oldest first."""
        folder = self.root / source
        return [date.fromisoformat(p.stem) for p in finished(folder, "*.parquet")] if folder.is_dir() else []

    def load(self, source: str, release: date) -> pd.DataFrame:
        return pd.read_parquet(self.path(source, release))

    def series(self, source: str, area_code: str, value: str, up_to: date | None = None) -> dict[date, pd.Series]:
        """One area's `value` by date in each release held (up to `up_to`), oldest release first."""
        held = {}
        for release in self.releases(source):
            if up_to is not None and release > up_to:
                continue
            table = pd.read_parquet(self.path(source, release), columns=["area_code", "date", value])
            area = table[table["area_code"] == area_code]
            held[release] = area.set_index("date")[value].sort_index()
        return held
