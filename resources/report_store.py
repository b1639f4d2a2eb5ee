"""Where the cases reports are kept, and the address they are served from.

One HTML file per version (never overwritten), the published CSVs each version would send (so an analyst can open
them before approving, and the next report can say what changed since) and its provenance manifest, and
`history.json`, every report built. (Earlier code also kept each version's tables as Parquet under `snapshots/`, the
same rows as its CSVs; nothing reads them now, and `make prune` removes them.)

The newest version's CSVs are kept as they are, so its report's links open them in Excel, from disk too. Once a newer
version is saved, an earlier version's CSVs are kept gzip-compressed (`<name>.csv.gz`, about 7 times smaller; they
were most of what a year of versions takes): the report server answers their links with the CSV, `make rebuild`
and `make replay` read them, and a file unchanged from the version compressed before is a hard link to its copy.

Dagster's resource for it is resources/report_storage.py; this module needs neither Dagster nor pandas loaded, so the
report server (reports/serve.py) starts without them.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from resources.files import (
    TEMPORARY_PREFIX,
    DamagedFile,
    compressed,
    finished,
    read_json,
    write_atomically,
    write_folder_atomically,
)


def _link_or_write(source: Path, path: Path, content: bytes) -> None:
    path.unlink(missing_ok=True)  # left by a crash: written again, never through a link into another version
    try:
        os.link(source, path)
    except OSError:  # a file system without hard links: a copy
        write_atomically(path, content)


# gzip's default level: the published CSVs 7 times smaller in about 40 ms a version (level 9 takes twice as long to
# save 1 % more; level 1, the raw archive's, is 6 times smaller).
PACK_LEVEL = 6


def published_copy_remedy(folder: Path, name: str) -> str:
    """What to do about a version's kept copy of `name` that cannot be read: `make rebuild` proves the version's files
    against the SHA-256 each was published with, but writes them to a folder of its own (nothing stored is touched),
    so the file is then copied back by hand; a plain CSV is read before its compressed copy."""
    version = folder.name
    rebuilt = f"files/{version}/{name} from the folder it names"
    if folder.parent.name == "files" and folder.parents[1].name == "reports":  # <data dir>/reports/files/<version>
        rebuilt = str(folder.parents[2] / "rebuilds" / version / "files" / version / name)  # its default folder
    return (f"a report version's published file, kept compressed; restore it from a backup, or rebuild the version "
            f"(make rebuild VERSION={version}) and, when it says every file is byte for byte the published "
            f"version's, copy {rebuilt} into {folder}")


def read_published(folder: Path, name: str) -> bytes | None:
    """A published file of a version's folder, as sent: kept as it is or compressed at rest; None when neither is
    there."""
    try:
        return (folder / name).read_bytes()
    except FileNotFoundError:
        pass
    packed = compressed(folder / name)
    try:
        return gzip.decompress(packed.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, EOFError, zlib.error) as error:
        raise DamagedFile(packed, f"cannot be decompressed: {error}", published_copy_remedy(folder, name)) from None


HISTORY_REMEDY = ("it lists the report versions built; restore it from a backup, or move it aside: the next run starts "
                  "a new list, every report stays, and make rebuild renders any version from the archive")


@dataclass
class Previous:
    """The earlier report a new one is compared with (ReportStore.previous): its version and published files (file
    name -> bytes as sent); version None when no earlier version's files are kept. `passed_over`: later versions whose
    kept copies could not be read, with the error naming the file and what to do."""

    version: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    passed_over: dict[str, DamagedFile] = field(default_factory=dict)


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
        """A published CSV's address relative to the report: the report server answers it for every version; from
        disk it opens the newest version's (an earlier version's are compressed at rest)."""
        return f"files/{version}/{file_name}"

    def _compress_superseded(self, newest: str) -> None:
        """Compress at rest the CSVs of every version but `newest`. A CSV whose compressed bytes the version built
        just before holds already becomes a hard link to that copy: a retired source's file is the same every night,
        and a year of versions would otherwise keep 365 copies. A link is a name, not a copy: removing either version
        (make prune) leaves the other's whole. Written whole before the CSV goes, so a crash leaves one or both."""
        folders = self.root / "files"
        if not folders.is_dir():
            return
        # Versions by their latest build, oldest first (a version built again moves to the end).
        order = list(reversed(dict.fromkeys(reversed([entry["version"] for entry in self.history()]))))
        # Oldest first, so the version before is compressed already when a version is (a version history no longer
        # lists first).
        rank = {version: place for place, version in enumerate(order)}
        # The latest in history too: another run may have saved its version after this one (both stay as sent until
        # the next save).
        kept = {newest, *order[-1:]}
        before: Path | None = None  # the version compressed just before this one
        for folder in sorted(folders.iterdir(), key=lambda folder: (rank.get(folder.name, -1), folder.name)):
            if folder.name in kept or folder.name.startswith(TEMPORARY_PREFIX) or not folder.is_dir():
                continue
            for plain in finished(folder, "*.csv"):
                try:
                    content = plain.read_bytes()
                except FileNotFoundError:  # compressed meanwhile by another run saving its report
                    continue
                packed = gzip.compress(content, compresslevel=PACK_LEVEL, mtime=0)
                same = compressed(before / plain.name) if before is not None else None
                if same is not None and same.is_file() and same.read_bytes() == packed:
                    _link_or_write(same, compressed(plain), packed)
                else:
                    write_atomically(compressed(plain), packed)
                plain.unlink(missing_ok=True)
            before = folder

    def _as_sent(self, version: str, files: Mapping[str, bytes]) -> None:
        """The version's files as they are again (from the bytes it sends, not its compressed copies): it is the
        newest once more, built again after a newer one."""
        folder = self.files_folder(version)
        for name, content in files.items():
            if compressed(folder / name).exists():
                write_atomically(folder / name, content)
                compressed(folder / name).unlink(missing_ok=True)

    def history(self) -> list[dict]:
        return read_json(self.history_file, HISTORY_REMEDY, default=[])

    def versions(self) -> list[dict]:
        """One entry per version, newest build first: the latest record of each (when built, mode, warnings...)."""
        latest: dict[str, tuple[str, int, dict]] = {}
        for position, entry in enumerate(self.history()):
            # By when it was built, then by its place in history: two builds in one second keep their order.
            latest[entry["version"]] = (entry.get("rendered_at", ""), position, entry)
        return [entry for *_, entry in sorted(latest.values(), key=lambda built: built[:2], reverse=True)]

    def published_files(self, version: str) -> dict[str, bytes]:
        """A version's published CSVs as sent (file name -> bytes), kept as they are or compressed; empty when its
        files are gone (make prune) or were never kept."""
        folder = self.files_folder(version)
        names = sorted({path.name.removesuffix(".gz") for path in finished(folder, "*.csv*")})
        read = {name: read_published(folder, name) for name in names}
        return {name: content for name, content in read.items() if content is not None}

    def previous(self, version: str) -> Previous:
        """The report that `version`'s report says what changed since: the most recent earlier version whose files
        are kept and read back whole. A version whose kept copy is damaged is passed over and named (`passed_over`), so
        the night's report is still built and says so, rather than every report failing until the copy is mended."""
        found = Previous()
        tried = {version}
        for entry in reversed(self.history()):
            if entry["version"] in tried:
                continue
            tried.add(entry["version"])
            try:
                files = self.published_files(entry["version"])
            except DamagedFile as damaged:
                found.passed_over[entry["version"]] = damaged
                continue
            if files:
                found.version, found.files = entry["version"], files
                break
        return found

    def save(self, version: str, html: str, run_id: str, summary: Mapping[str, object] | None = None,
             files: Mapping[str, bytes] | None = None, shared: Mapping[str, str] | None = None) -> Path:
        """Write the report and its published files (`files`: file name -> the exact bytes a publish sends) unless
        this version exists already; record it in history with `summary` (mode, warnings, stale sources, where the
        data came from). `shared`: files every version's page loads from beside it
        (plotly.js), under a name that changes with their content: written again only when the copy there differs (cut
        short or overwritten from outside, it would leave every version's page without its charts)."""
        for name, text in (shared or {}).items():
            content = text.encode("utf-8")
            stored = self.root / name
            if not stored.is_file() or stored.stat().st_size != len(content) or stored.read_bytes() != content:
                write_atomically(stored, content)
        path = self.report_path(version)
        if not path.exists():
            write_atomically(path, html)
        if files:
            write_folder_atomically(self.files_folder(version), files)
            self._as_sent(version, files)
        history = self.history()
        history.append({"version": version, "run_id": run_id, "file": path.name,
                        "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"), **(summary or {})})
        write_atomically(self.history_file, json.dumps(history, indent=2))
        if files:
            self._compress_superseded(version)
        return path
