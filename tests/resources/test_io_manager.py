"""The stored tables as the steps read them back."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from resources.io_manager import ParquetIOManager


def test_a_table_the_storage_refuses_to_read_is_named_as_refused_not_damaged(tmp_path: Path, monkeypatch) -> None:
    """A table this account may not read (its permissions changed by hand, a folder of another user's) was called
    damaged, with "re-run nhs_111 to store it again" as the remedy, which would meet the same refusal. Permissions do
    not stop root, as whom the tests run here, so the refusal is pandas' read raising what the system would."""
    manager = ParquetIOManager(base_dir=str(tmp_path))
    stored = tmp_path / "tables" / "nhs_111.parquet"
    stored.parent.mkdir()
    pd.DataFrame({"count": [1, 2]}).to_parquet(stored)
    context = dg.build_input_context(asset_key=dg.AssetKey("nhs_111"))
    assert manager.load_input(context)["count"].tolist() == [1, 2]

    def refused(path: object, *args: object, **kwargs: object) -> pd.DataFrame:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(pd, "read_parquet", refused)
    with pytest.raises(dg.Failure) as failed:
        manager.load_input(context)
    assert failed.value.description == (
        f"[nhs_111] the storage refused {stored} (Permission denied): PIPELINE_DATA_DIR ({tmp_path}) must be a "
        "folder this account can write, with room; a retry would meet the same refusal")
    assert not failed.value.allow_retries
