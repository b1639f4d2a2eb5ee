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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from resources.files import finished, read_parquet, write_atomically

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
        return read_parquet(self.path(source, release), (
            f"{source}'s kept release of {release:%d %b %Y}; move it aside: it is read again from the raw archive "
            "by make rebuild, and the next release is then held to the one before it"))

    def series(self, source: str, area_code: str, value: str, up_to: date | None = None) -> dict[date, pd.Series]:
        """One area's `value` by date in each release held (up to `up_to`), oldest release first. Read as one
        dataset scan (pyarrow reads the files in parallel and keeps only the area's rows): a year of releases costs
        about a third of a second, where reading the files one by one cost most of a second."""
        releases = [release for release in self.releases(source) if up_to is None or release <= up_to]
        if not releases:
            return {}
        paths = [str(self.path(source, release)) for release in releases]
        scanner = ds.dataset(paths, format="parquet").scanner(columns=["date", value],
                                                              filter=ds.field("area_code") == area_code)
        batches, names = [], []
        for tagged in scanner.scan_batches():
            batches.append(tagged.record_batch)
            names.append(np.full(tagged.record_batch.num_rows, Path(tagged.fragment.path).stem))
        if not batches:
            return {release: pd.Series(dtype="float64") for release in releases}
        rows = pa.Table.from_batches(batches).append_column("release", pa.array(np.concatenate(names))).to_pandas()
        held = {date.fromisoformat(name): group.set_index("date")[value].sort_index()
                for name, group in rows.groupby("release", sort=True)}
        return {release: held.get(release, pd.Series(dtype="float64")) for release in releases}
