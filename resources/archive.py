"""Raw archive: every download kept exactly as it came, before any parsing.

Layout under the data directory (default `storage/`, git-ignored):

    raw/<source>/<YYYY-MM-DD>/<sha256[:16]>_<request><ext>.gz     the bytes, gzip-compressed, never rewritten
    raw/<source>/<YYYY-MM-DD>/<sha256[:16]>_<request><ext>.json   sidecar: URL, status, headers, size, sha256, time
                                                                  of the first sighting, never rewritten
    raw/<source>/<YYYY-MM-DD>/<...><ext>.sightings.jsonl          each later download of the same bytes that day
    raw/<source>/latest/<request>.json                            the newest file that made a valid release
    raw/<source>/last_fetch.json                                  the files of the last valid release (replay)
    raw/<source>/backfill-<YYYY-MM-DD>/...                        past releases loaded by `make backfill`, by
                                                                  their release date (never the latest)

Identical bytes are stored once (content addressing): an unchanged release adds no new entry. Each sidecar records
the upstream API the file came from (`api`), which is how the clean asset picks the parser for it. A stored copy that
no longer reads back as its bytes (cut short, overwritten) is replaced when those bytes are archived again; the fetch
asks for them whole when it finds the latest copy damaged (`damage`).

The bytes are kept compressed at rest (gzip: CSV and JSON shrink 5-10 times; a year of nightly London downloads
would otherwise take about 2 GB); an entry's `path`, `sha256` and `bytes` are those of the file as served, and
`read` decompresses and checks them. Archives written before compression (files without `.gz`) read as they are.

Every download is archived before anything parses it, bad ones too (an HTML error page, a file that fails
validation: evidence). Only the files of a release that was read and validated become `latest` (`promote`): the
next fetch asks the upstream for what changed since the last good release, never since a bad download, and a
replay re-reads the last good release.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import dagster as dg

from resources.clock import london_date
from resources.files import append_line, compressed, read_json, write_atomically
from resources.http import HttpResult

POINTER_REMEDY = ("it points at the source's last good release in the archive; delete it: the next run downloads the "
                  "source's files again (the archived files themselves are untouched)")


@dataclass(frozen=True)
class ArchivedFile:
    """One archived download, as recorded in its sidecar (paths relative to the data directory)."""

    source: str
    request: str
    url: str
    path: str
    sha256: str
    bytes: int
    status: int
    fetched_at: str
    headers: dict
    changed: bool = True
    # The upstream (resources/settings.py UPSTREAMS) whose format the file is in: chooses its parser.
    api: str = ""
    # Where the bytes came from: "download" (the upstream, or a server standing in for it) or "sample" (the
    # release shipped in data/samples). A version built from samples is never published to the real Datastore.
    origin: str = "download"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ArchivedFile:
        # An entry archived before origins were recorded may have been a sample: it must not pass as a download.
        return cls(**{"origin": "unknown", **{k: data[k] for k in cls.__dataclass_fields__ if k in data}})

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    @property
    def last_modified(self) -> date | None:
        """The publisher's release date of the file (its Last-Modified header, a moment in GMT) on London's
        calendar, when the server sent one."""
        value = self.headers.get("Last-Modified")
        try:
            return london_date(parsedate_to_datetime(value)) if value else None
        except (TypeError, ValueError):
            return None


def file_names(entries: Sequence[ArchivedFile]) -> str:
    """A release's files as an error names them: `region_london.csv, nation_england.csv`."""
    return ", ".join(entry.file_name for entry in entries)


def released_on(entries: Sequence[ArchivedFile]) -> date | None:
    """The release the files belong to, as their publisher dated them: the newest Last-Modified among them."""
    dates = [d for d in (entry.last_modified for entry in entries) if d is not None]
    return max(dates) if dates else None


def release_date(entries: Sequence[ArchivedFile]) -> date:
    """The date a set of files is kept under as one release (vintages): the publisher's date when it sent one,
    otherwise the day, in London, the newest file was fetched."""
    if (published := released_on(entries)) is not None:
        return published
    return max(london_date(datetime.fromisoformat(entry.fetched_at)) for entry in entries)


class UnreadableArchiveFileError(OSError):
    """An archived file whose stored copy cannot be decompressed (cut short, overwritten): nothing of it can be read."""


class RawArchive(dg.ConfigurableResource):
    """Immutable, dated, content-addressed store of raw downloads with a JSON sidecar per file."""

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)

    def _pointer(self, source: str, request: str) -> Path:
        return self.root / "raw" / source / "latest" / f"{request}.json"

    def latest(self, source: str, request: str) -> ArchivedFile | None:
        pointer = self._pointer(source, request)
        if not pointer.exists():
            return None
        return ArchivedFile.from_dict(read_json(pointer, POINTER_REMEDY))

    def _fetch_record(self, source: str) -> Path:
        return self.root / "raw" / source / "last_fetch.json"

    def promote(self, source: str, entries: list[ArchivedFile]) -> None:
        """Make these files, a release that was read and validated, the source's latest: what the next fetch compares
        against and sends validators for, and what `replay` re-reads."""
        for entry in entries:
            write_atomically(self._pointer(source, entry.request),
                             json.dumps(entry.to_dict(), indent=2, sort_keys=True).encode())
        write_atomically(self._fetch_record(source),
                         json.dumps([e.to_dict() for e in entries], indent=2, sort_keys=True).encode())

    def latest_for_source(self, source: str) -> list[ArchivedFile]:
        """The files of the last complete fetch of `source` (empty if it was never fetched)."""
        return [ArchivedFile.from_dict(d) for d in read_json(self._fetch_record(source), POINTER_REMEDY, default=[])]

    def store(self, source: str, request: str, extension: str, result: HttpResult, api: str,
              origin: str = "download", as_latest: bool = True, folder: str | None = None) -> ArchivedFile:
        """Archive a 200 response's bytes (unless these exact bytes are already the latest) and return its entry;
        `api` is the upstream whose format the bytes are in, `origin` where they came from. The file becomes the
        latest only when its release is promoted. `as_latest=False` keeps a past release (a backfill) without
        comparing it with the latest; `folder` files it under another name than today's date (a backfill's
        `backfill-<release date>`). A sidecar is never rewritten: the same bytes seen again the same day are
        recorded as a sighting beside it."""
        digest = hashlib.sha256(result.content).hexdigest()
        now = datetime.now(UTC)
        previous = self.latest(source, request)
        if (as_latest and previous is not None and previous.sha256 == digest and previous.api == api
                and previous.origin == origin):
            self._keep(previous.path, result.content)
            return replace(previous, changed=False)
        relative = Path("raw") / source / (folder or now.strftime("%Y-%m-%d")) / f"{digest[:16]}_{request}{extension}"
        target = self.root / relative
        self._keep(str(relative), result.content)
        entry = ArchivedFile(
            source=source, request=request, url=result.url, path=str(relative), sha256=digest,
            bytes=len(result.content), status=result.status, fetched_at=now.isoformat(timespec="seconds"),
            headers=result.headers, changed=True, api=api, origin=origin,
        )
        sidecar = target.with_name(target.name + ".json")
        if sidecar.exists():
            append_line(target.with_name(target.name + ".sightings.jsonl"), json.dumps(entry.to_dict(), sort_keys=True))
        else:
            write_atomically(sidecar, json.dumps(entry.to_dict(), indent=2, sort_keys=True).encode())
        return entry

    def stored_at(self, path: str) -> Path | None:
        """Where an entry's bytes are on disk: compressed (`<path>.gz`), or as they were archived before compression;
        None when neither exists."""
        for candidate in (compressed(self.root / path), self.root / path):
            if candidate.exists():
                return candidate
        return None

    def _unpacked(self, path: str) -> tuple[Path, bytes]:
        """Where `path`'s bytes are stored and the bytes as served; raises if they are missing or cannot be
        decompressed."""
        stored = self.stored_at(path)
        if stored is None:
            raise FileNotFoundError(f"archived file {path} is missing from the archive")
        try:
            packed = stored == compressed(self.root / path)  # not a served file that ends in .gz itself
            return stored, gzip.decompress(stored.read_bytes()) if packed else stored.read_bytes()
        except (OSError, EOFError, zlib.error) as error:
            raise UnreadableArchiveFileError(f"archived file {stored} cannot be decompressed ({error}); the archive "
                                              "is damaged") from None

    def _keep(self, path: str, content: bytes) -> None:
        """Store `content` at `path` unless a whole copy of it is there. A copy that no longer reads back as it (cut
        short, overwritten) is replaced by the same bytes its sidecar records: the archive is mended, not changed, and
        whatever names the path (a version's provenance) finds it whole again."""
        if not self._holds(path, content):
            # mtime=0: the same bytes compress to the same file, whenever they are archived.
            write_atomically(compressed(self.root / path), gzip.compress(content, compresslevel=1, mtime=0))

    def _holds(self, path: str, content: bytes) -> bool:
        """Whether the archive has `path` stored whole, reading back as `content`."""
        try:
            return self._unpacked(path)[1] == content
        except OSError:
            return False

    def read(self, entry: ArchivedFile) -> bytes:
        """The archived bytes as served, checked against the recorded sha256 so a damaged archive is noticed."""
        stored, content = self._unpacked(entry.path)
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            raise OSError(f"archived file {stored} does not match its recorded sha256; the archive is damaged")
        return content

    def damage(self, entry: ArchivedFile) -> str | None:
        """What is wrong with an entry's stored copy (missing, cut short, not the bytes recorded), or None when it
        reads back as served."""
        try:
            self.read(entry)
        except OSError as error:
            return str(error)
        return None
