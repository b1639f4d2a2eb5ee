"""Stored files written whole and read back with a named error: a file cut short by a crash, or edited by hand, is
named with what to do; a log's last line cut short mid-append is left out and never spoils the next."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import requests

from resources.files import (
    DamagedFile,
    append_line,
    read_json,
    read_json_lines,
    read_parquet,
    storage_refused,
    write_atomically,
)


def test_a_json_file_cut_short_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    whole = json.dumps([{"version": "603b6b678b8d", "rendered_at": "2026-12-06T03:00:00"}], indent=2)
    path.write_text(whole[: len(whole) // 2])
    with pytest.raises(DamagedFile) as caught:
        read_json(path, "move it aside")
    message = str(caught.value)
    assert message.startswith(f"{path} could not be read (") and message.endswith("): move it aside")
    assert read_json(tmp_path / "absent.json", "unused", default=[]) == []


def test_a_log_keeps_its_whole_lines_when_one_was_cut_short(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_line(log, json.dumps({"n": 1}))
    with log.open("a") as handle:  # a crash mid-append
        handle.write('{"n": 2, "approved_by": "Ana')
    append_line(log, json.dumps({"n": 3}))
    assert log.read_text().splitlines()[1] == '{"n": 2, "approved_by": "Ana'  # closed, not joined to the next
    assert read_json_lines(log, "unused") == [{"n": 1}, {"n": 3}]
    log.write_text('{"n": 1}\n{"n": 2} trailing words\n{"n": 3}\n')  # spoiled, not cut short
    with pytest.raises(DamagedFile, match=r"audit.jsonl could not be read \(line 2: .*\): restore it"):
        read_json_lines(log, "restore it")


def test_a_damaged_table_is_named(tmp_path: Path) -> None:
    path = write_atomically(tmp_path / "nhs_111.parquet", lambda p: pd.DataFrame({"a": [1, 2]}).to_parquet(p))
    assert read_parquet(path, "unused")["a"].tolist() == [1, 2]
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DamagedFile, match=r"nhs_111.parquet could not be read \(.*\): re-run the source"):
        read_parquet(path, "re-run the source")


def test_a_refused_write_is_told_apart_from_a_failed_download(tmp_path: Path) -> None:
    """The raw step fails at once on the first (no retry writes where the disk refuses) and retries the second."""
    file = tmp_path / "raw"
    file.write_text("a file where a folder should be")
    with pytest.raises(OSError) as refused:
        write_atomically(file / "2026-12-07" / "region_london.csv", b"date,cases\n")
    assert storage_refused(refused.value)
    with pytest.raises(requests.ConnectionError) as unreachable:
        requests.get("http://127.0.0.1:9/nothing-listens", timeout=5)
    assert isinstance(unreachable.value, OSError) and not storage_refused(unreachable.value)


def test_a_disk_that_fills_midway_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    """A full disk refuses a write after the file is open, and neither Python nor pyarrow then names the file: the
    write names the file it was replacing, so the step says where (and fails without retries), and leaves it as it
    was. /dev/full answers every write as a full disk does."""
    table = write_atomically(tmp_path / "tables" / "nhs_111.parquet",
                             lambda path: pd.DataFrame({"count": [1, 2]}).to_parquet(path))
    before = table.read_bytes()
    with pytest.raises(OSError) as refused:
        write_atomically(table, lambda _: pd.DataFrame({"count": range(100_000)}).to_parquet("/dev/full"))
    assert storage_refused(refused.value) and refused.value.filename == str(table)
    assert refused.value.strerror == "No space left on device"
    with pytest.raises(OSError) as refused:
        write_atomically(table, lambda _: Path("/dev/full").write_bytes(b"x" * 100_000))
    assert storage_refused(refused.value) and refused.value.filename == str(table)
    assert table.read_bytes() == before and [p.name for p in table.parent.iterdir()] == ["nhs_111.parquet"]
