"""The raw archive keeps bytes as downloaded, dated and content-addressed, with a sidecar never rewritten; only a
release that was read and validated (promoted) becomes the latest."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from resources.archive import ArchivedFile, RawArchive, release_date
from resources.http import HttpResult


def result(body: bytes) -> HttpResult:
    return HttpResult("https://example.test/data.csv", 200, body, {"ETag": '"abc"', "Content-Type": "text/csv"})


def test_store_writes_bytes_and_sidecar(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    entry = archive.store("phe_cases_by_region", "region_london", ".csv", result(b"a,b\n1,2\n"), api="phe")
    stored = tmp_path / entry.path
    # Compressed at rest beside its sidecar; the entry describes the bytes as served.
    assert gzip.decompress(stored.with_name(stored.name + ".gz").read_bytes()) == b"a,b\n1,2\n"
    assert entry.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest() and archive.read(entry) == b"a,b\n1,2\n"
    assert stored.parent.parent.name == "phe_cases_by_region"
    assert entry.sha256[:16] in stored.name
    sidecar = json.loads(stored.with_name(stored.name + ".json").read_text())
    assert sidecar["url"] == "https://example.test/data.csv"
    assert sidecar["bytes"] == 8
    assert sidecar["headers"]["ETag"] == '"abc"'
    assert sidecar["fetched_at"]
    assert sidecar["api"] == "phe"  # which upstream's format, so the right parser reads it later


def test_identical_bytes_add_no_new_entry(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    first = archive.store("nhs_111", "page", ".html", result(b"<html></html>"), api="nhs111")
    archive.promote("nhs_111", [first])
    second = archive.store("nhs_111", "page", ".html", result(b"<html></html>"), api="nhs111")
    assert second.path == first.path
    assert second.changed is False
    assert len(list((tmp_path / "raw" / "nhs_111").rglob("*.html.gz"))) == 1


def test_new_bytes_are_a_new_entry_and_old_ones_stay(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    first = archive.store("nhs_111", "page", ".html", result(b"<html>1</html>"), api="nhs111")
    archive.promote("nhs_111", [first])
    second = archive.store("nhs_111", "page", ".html", result(b"<html>2</html>"), api="nhs111")
    assert first.path != second.path
    assert archive.read(first) == b"<html>1</html>"
    assert archive.latest("nhs_111", "page") == first  # not yet read and validated
    archive.promote("nhs_111", [second])
    assert archive.latest("nhs_111", "page") == second


def test_read_notices_a_damaged_file(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    entry = archive.store("phe_healthcare", "nhs_region_london", ".csv", result(b"x,y\n"), api="phe")
    stored = tmp_path / f"{entry.path}.gz"
    stored.write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(OSError, match="does not match its recorded sha256"):
        archive.read(entry)
    stored.write_bytes(stored.read_bytes()[:10])  # cut short
    with pytest.raises(OSError, match="cannot be decompressed"):
        archive.read(entry)


def test_the_same_bytes_stored_again_replace_a_damaged_copy_and_keep_its_sidecar(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    first = archive.store("phe_healthcare", "nhs_region_london", ".csv", result(b"x,y\n1,2\n"), api="phe")
    archive.promote("phe_healthcare", [first])
    stored = tmp_path / f"{first.path}.gz"
    sidecar = stored.with_name(stored.name.removesuffix(".gz") + ".json")
    recorded = sidecar.read_bytes()
    stored.write_bytes(stored.read_bytes()[:12])
    assert "cannot be decompressed" in archive.damage(first)
    again = archive.store("phe_healthcare", "nhs_region_london", ".csv", result(b"x,y\n1,2\n"), api="phe")
    assert gzip.decompress(stored.read_bytes()) == b"x,y\n1,2\n" and archive.damage(first) is None
    assert (again.path, again.changed) == (first.path, False) and sidecar.read_bytes() == recorded  # mended in place
    # A past release kept again (make backfill) mends its copy the same way.
    stored.write_bytes(gzip.compress(b"other bytes"))
    archive.store("phe_healthcare", "nhs_region_london", ".csv", result(b"x,y\n1,2\n"), api="phe",
                  as_latest=False, folder=Path(first.path).parent.name)
    assert archive.read(first) == b"x,y\n1,2\n"


def test_a_damaged_latest_copy_archived_on_an_earlier_day_is_mended_where_it_is(tmp_path: Path) -> None:
    """The path a published version's provenance names is the one made whole again, not a new copy under today."""
    archive = RawArchive(data_dir=str(tmp_path))
    earlier = archive.store("nhs_111", "page", ".html", result(b"<html>a</html>"), api="nhs111", as_latest=False,
                            folder="2020-04-01")
    archive.promote("nhs_111", [earlier])
    stored = tmp_path / f"{earlier.path}.gz"
    stored.write_bytes(b"")
    again = archive.store("nhs_111", "page", ".html", result(b"<html>a</html>"), api="nhs111")
    assert (again.path, again.changed) == (earlier.path, False)
    assert gzip.decompress(stored.read_bytes()) == b"<html>a</html>"
    assert [p.parent.name for p in (tmp_path / "raw" / "nhs_111").rglob("*.html.gz")] == ["2020-04-01"]


def test_an_archive_written_before_compression_still_reads(tmp_path: Path) -> None:
    """A file archived as it came (before compression at rest) is read, checked and not archived again."""
    archive = RawArchive(data_dir=str(tmp_path))
    entry = archive.store("nhs_111", "page", ".html", result(b"<html>old</html>"), api="nhs111")
    stored = tmp_path / entry.path
    stored.write_bytes(gzip.decompress(stored.with_name(stored.name + ".gz").read_bytes()))
    stored.with_name(stored.name + ".gz").unlink()
    archive.promote("nhs_111", [entry])
    assert archive.read(entry) == b"<html>old</html>"
    again = archive.store("nhs_111", "page", ".html", result(b"<html>old</html>"), api="nhs111")
    assert again.changed is False and not stored.with_name(stored.name + ".gz").exists()


def test_replay_reads_the_last_complete_fetch_only(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    old = archive.store("phe_cases_by_region", "ukhsa_london_cases_p5", ".json", result(b'{"old": "page"}'),
                        api="ukhsa")
    archive.promote("phe_cases_by_region", [old])
    newer = archive.store("phe_cases_by_region", "region_london", ".csv", result(b"a,b\n"), api="phe")
    assert archive.latest_for_source("phe_cases_by_region") == [old]
    archive.promote("phe_cases_by_region", [newer])
    assert archive.latest_for_source("phe_cases_by_region") == [newer]
    assert archive.latest_for_source("never_fetched") == []


def test_the_same_bytes_from_a_sample_and_a_download_are_told_apart(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    sample = archive.store("nhs_111", "page", ".html", result(b"<html></html>"), api="nhs111", origin="sample")
    archive.promote("nhs_111", [sample])
    download = archive.store("nhs_111", "page", ".html", result(b"<html></html>"), api="nhs111")
    assert (sample.origin, download.origin, download.changed) == ("sample", "download", True)
    stored = (tmp_path / download.path)
    # The sidecar still says what the first sighting was; the download is a sighting beside it.
    assert json.loads(stored.with_name(stored.name + ".json").read_text())["origin"] == "sample"
    [sighting] = stored.with_name(stored.name + ".sightings.jsonl").read_text().splitlines()
    assert json.loads(sighting)["origin"] == "download"
    archive.promote("nhs_111", [download])
    assert archive.latest("nhs_111", "page").origin == "download"


def test_an_entry_archived_before_origins_were_recorded_is_not_taken_for_a_download(tmp_path: Path) -> None:
    archive = RawArchive(data_dir=str(tmp_path))
    entry = archive.store("nhs_111", "page", ".html", result(b"<html></html>"), api="nhs111", origin="sample")
    archive.promote("nhs_111", [entry])
    pointer = next((tmp_path / "raw" / "nhs_111" / "latest").iterdir())
    legacy = json.loads(pointer.read_text())
    del legacy["origin"]
    pointer.write_text(json.dumps(legacy))
    assert archive.latest("nhs_111", "page").origin == "unknown"
    assert entry.origin == "sample"


def fetched(at: str, last_modified: str | None = None) -> ArchivedFile:
    headers = {"Last-Modified": last_modified} if last_modified else {}
    return ArchivedFile(source="nhs_111", request="pathways", url="https://example.test/p.csv", path="p.csv",
                        sha256="0" * 64, bytes=1, status=200, fetched_at=at, headers=headers)


@pytest.mark.parametrize(("fetched_at", "last_modified", "release"), [
    # British Summer Time (UTC+1) ran from 29 March to 25 October 2026: 23:30 UTC on 1 June is 00:30 on 2 June in
    # London, the day an analyst running the fetch then would call it.
    ("2026-06-01T23:30:00+00:00", None, "2026-06-02"),
    ("2026-06-01T22:59:59+00:00", None, "2026-06-01"),
    # In winter London keeps UTC: the same hour stays on its day.
    ("2026-12-01T23:30:00+00:00", None, "2026-12-01"),
    # The publisher's date, when it sends one, is the release's, on the same calendar.
    ("2026-06-03T08:00:00+00:00", "Mon, 01 Jun 2026 23:30:00 GMT", "2026-06-02"),
    ("2026-12-03T08:00:00+00:00", "Tue, 01 Dec 2026 23:30:00 GMT", "2026-12-01"),
])
def test_a_release_is_dated_by_london_s_calendar(fetched_at: str, last_modified: str | None, release: str) -> None:
    assert release_date([fetched(fetched_at, last_modified)]).isoformat() == release
