"""How report versions' published files are kept: the newest as sent (its report's links open them from disk), earlier
ones compressed at rest and still readable byte for byte, a file unchanged from the version before stored once. The
files are the GLA's own published CSVs (data/reference/gla_published/), read back with gzip and os.stat."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from resources.report_store import ReportStore, read_published
from tests.publishing import gla_published, kept_csvs

BOROUGHS, ENGLAND = "phe_cases_london_boroughs.csv", "phe_cases_london_england.csv"


def version_files(boroughs_lines: int) -> dict[str, bytes]:
    """A version's files: the GLA's borough file cut to its first lines (so versions differ), England's unchanged."""
    boroughs = b"".join(gla_published(BOROUGHS).splitlines(keepends=True)[:boroughs_lines])
    return {BOROUGHS: boroughs, ENGLAND: gla_published(ENGLAND), "provenance.json": b'{"files": []}'}


def save(store: ReportStore, version: str, files: dict[str, bytes]) -> None:
    store.save(version, f"<p>{version}</p>", "run", files=files)


def on_disk(folder: Path) -> dict[str, bytes]:
    """What a version's folder holds, as sent: its CSVs (read with gzip where compressed) and its manifest."""
    return {**kept_csvs(folder), "provenance.json": (folder / "provenance.json").read_bytes()}


@pytest.fixture
def store(tmp_path: Path) -> ReportStore:
    return ReportStore(tmp_path / "reports")


def test_earlier_versions_are_compressed_and_read_back_as_sent(store: ReportStore) -> None:
    sent = {version * 12: version_files(lines) for version, lines in (("a", 5000), ("b", 6000), ("c", 7000))}
    for version, files in sent.items():
        save(store, version, files)
    newest = store.files_folder("cccccccccccc")
    # The newest version's files as they are: its report's links open them in Excel, from disk too.
    assert sorted(p.name for p in newest.iterdir()) == sorted(sent["cccccccccccc"])
    for version in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        folder = store.files_folder(version)
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{BOROUGHS}.gz", f"{ENGLAND}.gz", "provenance.json"])  # the manifest stays readable as it is
        assert on_disk(folder) == sent[version]
        assert {name: read_published(folder, name) for name in sent[version]} == sent[version]
    compressed_bytes = sum(p.stat().st_size for p in store.files_folder("aaaaaaaaaaaa").glob("*.gz"))
    assert compressed_bytes * 5 < len(sent["aaaaaaaaaaaa"][BOROUGHS]) + len(sent["aaaaaaaaaaaa"][ENGLAND])
    # England's file, unchanged, is one file under both earlier versions' names; the borough files are their own.
    a, b = store.files_folder("aaaaaaaaaaaa"), store.files_folder("bbbbbbbbbbbb")
    assert (a / f"{ENGLAND}.gz").stat().st_ino == (b / f"{ENGLAND}.gz").stat().st_ino
    assert (a / f"{BOROUGHS}.gz").stat().st_ino != (b / f"{BOROUGHS}.gz").stat().st_ino


def test_the_next_report_compares_with_the_files_of_the_last_other_version_still_kept(store: ReportStore) -> None:
    """"What changed" reads an earlier version's published files (nothing else of it is kept for that): as sent,
    compressed or not, and from the version before when a version's files were removed (make prune)."""
    sent = {version * 12: version_files(lines) for version, lines in (("a", 5000), ("b", 6000), ("c", 7000))}
    for version, files in sent.items():
        save(store, version, files)
    csvs = {version: {n: c for n, c in files.items() if n.endswith(".csv")} for version, files in sent.items()}

    def previous(version: str) -> tuple[str | None, dict[str, bytes]]:
        found = store.previous(version)
        assert not found.passed_over
        return found.version, found.files

    assert previous("dddddddddddd") == ("cccccccccccc", csvs["cccccccccccc"])  # the newest, as sent
    assert previous("cccccccccccc") == ("bbbbbbbbbbbb", csvs["bbbbbbbbbbbb"])  # compressed, read back
    assert not (store.root / "snapshots").exists()  # the files are all a version keeps of its tables
    shutil.rmtree(store.files_folder("bbbbbbbbbbbb"))
    assert previous("cccccccccccc") == ("aaaaaaaaaaaa", csvs["aaaaaaaaaaaa"])
    shutil.rmtree(store.files_folder("aaaaaaaaaaaa"))
    assert previous("cccccccccccc") == (None, {})


def test_a_damaged_earlier_copy_is_passed_over_and_named(store: ReportStore) -> None:
    for version, lines in (("a", 5000), ("b", 6000), ("c", 7000)):
        save(store, version * 12, version_files(lines))
    damaged = store.files_folder("bbbbbbbbbbbb") / f"{BOROUGHS}.gz"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    found = store.previous("cccccccccccc")
    assert found.version == "aaaaaaaaaaaa" and found.files[BOROUGHS] == version_files(5000)[BOROUGHS]
    [(version, error)] = found.passed_over.items()
    assert version == "bbbbbbbbbbbb" and error.path == damaged
    assert str(error).startswith(f"{damaged} could not be read (cannot be decompressed")


def test_a_version_built_again_is_the_newest_and_kept_as_sent_again(store: ReportStore) -> None:
    first, second = version_files(5000), version_files(6000)
    save(store, "aaaaaaaaaaaa", first)
    save(store, "bbbbbbbbbbbb", second)
    damaged = store.files_folder("aaaaaaaaaaaa") / f"{BOROUGHS}.gz"
    damaged.write_bytes(damaged.read_bytes()[:100])  # written again from the bytes sent, not read back
    save(store, "aaaaaaaaaaaa", first)  # the tables went back to what they were
    assert {p.name: p.read_bytes() for p in store.files_folder("aaaaaaaaaaaa").iterdir()} == first
    assert on_disk(store.files_folder("bbbbbbbbbbbb")) == second
    assert not list(store.files_folder("bbbbbbbbbbbb").glob("*.csv"))


def test_a_crash_between_compressing_and_removing_leaves_the_next_save_working(store: ReportStore) -> None:
    save(store, "aaaaaaaaaaaa", version_files(5000))
    earlier = store.files_folder("aaaaaaaaaaaa")
    # Killed after the compressed copy was written, before the CSV went: both are there.
    (earlier / BOROUGHS).write_bytes(version_files(5000)[BOROUGHS])
    save(store, "bbbbbbbbbbbb", version_files(6000))
    assert on_disk(earlier) == version_files(5000)
    assert not list(earlier.glob("*.csv"))


def test_a_missing_or_damaged_file_is_said(store: ReportStore) -> None:
    save(store, "aaaaaaaaaaaa", version_files(5000))
    save(store, "bbbbbbbbbbbb", version_files(6000))
    folder = store.files_folder("aaaaaaaaaaaa")
    assert read_published(folder, "phe_healthcare.csv") is None
    damaged = folder / f"{BOROUGHS}.gz"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    with pytest.raises(OSError, match=re.escape(f"{damaged.name} could not be read (cannot be decompressed")):
        read_published(folder, BOROUGHS)


def test_a_run_finishing_its_save_late_leaves_the_newest_version_as_sent(store: ReportStore) -> None:
    """Two runs save at once: B writes version d, then A saves c (the newest in history), then B compresses the
    versions before its own. The newest, c, stays as sent for its report's links."""
    save(store, "dddddddddddd", version_files(5000))
    save(store, "cccccccccccc", version_files(6000))
    store._compress_superseded("dddddddddddd")  # B's last step, after A's save
    newest = store.files_folder("cccccccccccc")
    assert {p.name: p.read_bytes() for p in newest.iterdir()} == version_files(6000)
