"""Stores each asset's value as a file: DataFrames as Parquet, small manifests as JSON.

Parquet rather than pickles: the files open in any tool and survive pandas upgrades. Writes replace the old file
only when complete (resources/files.py), so a crash never leaves a half-written table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from resources.files import finished, read_json, read_parquet, refusals_fail_the_step, write_atomically


class ParquetIOManager(dg.ConfigurableIOManager):
    """One file per asset under `<base_dir>/tables/`: `<key>.parquet` for a table, `<key>/<name>.parquet` for a
    set of tables, `<key>.json` for manifests."""

    base_dir: str

    def _path(self, key: dg.AssetKey, suffix: str) -> Path:
        return Path(self.base_dir, "tables", *key.path).with_suffix(suffix)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        # A step whose value the storage refuses fails once, saying so: a retry (the downloads have them) would be
        # refused the same way.
        with refusals_fail_the_step(context.asset_key.to_user_string(), Path(self.base_dir)):
            self._store(context, obj)

    def _store(self, context: dg.OutputContext, obj: Any) -> None:
        key = context.asset_key
        if isinstance(obj, dict) and obj and all(isinstance(v, pd.DataFrame) for v in obj.values()):
            # A set of tables (the Datastore tables): one Parquet file each in a folder named after the asset.
            folder = self._path(key, "")
            for name, frame in obj.items():
                write_atomically(folder / f"{name}.parquet", lambda tmp, f=frame: f.to_parquet(tmp, index=False))
            for stale in set(finished(folder, "*.parquet")) - {folder / f"{name}.parquet" for name in obj}:
                stale.unlink()
            context.add_output_metadata({"path": dg.MetadataValue.path(str(folder))})
        elif isinstance(obj, pd.DataFrame):
            path = self._path(key, ".parquet")
            write_atomically(path, lambda tmp: obj.to_parquet(tmp, index=False))
            context.add_output_metadata(
                {"path": dg.MetadataValue.path(str(path)), "stored_rows": dg.MetadataValue.int(len(obj))}
            )
        else:
            path = self._path(key, ".json")
            text = json.dumps(obj, indent=2, sort_keys=True, default=str)
            write_atomically(path, text)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        # A stored value the storage refuses to read fails the step once, saying so, as a refused write does.
        with refusals_fail_the_step(context.asset_key.to_user_string(), Path(self.base_dir)):
            return self._load(context)

    def _load(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        parquet, manifest, folder = self._path(key, ".parquet"), self._path(key, ".json"), self._path(key, "")
        remedy = (f"re-run {key.to_user_string()} (its source's job, or Materialize in the UI) to store it again; "
                  "the raw archive and earlier releases are untouched")
        if folder.is_dir():
            return {path.stem: read_parquet(path, remedy) for path in finished(folder, "*.parquet")}
        if parquet.exists():
            return read_parquet(parquet, remedy)
        if manifest.exists():
            return read_json(manifest, remedy)
        raise FileNotFoundError(
            f"No stored value for asset {key.to_user_string()} under {Path(self.base_dir, 'tables')}: "
            "materialize it first (a new installation has none yet: run the `nightly` job once, from the UI or with "
            "`make run`, and every source's table is stored)"
        )
