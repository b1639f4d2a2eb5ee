"""`make rebuild VERSION=<report_version>`: rebuild a report version from the raw archive alone and prove it.

Reads the version's provenance manifest (`<data dir>/reports/files/<version>/provenance.json`), checks every raw
file it names against the SHA-256 recorded there, parses them with today's code (no network, no Dagster run,
nothing stored touched), builds the published tables and the report into a separate folder (`<data
dir>/rebuilds/<version>/`, or --out: an empty folder, or one a rebuild wrote) and compares every file with the bytes
published. The last line is `report_version: <version of the rebuilt files>`; the exit status is 0 when that is the
version asked for, 1 when anything differs (naming the file and its first differing row) or a raw file is missing
or changed (naming it), 2 for a mistake in the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from assets.ingest.clean import clean_release
from assets.publication.cases_report import prepare_report, revisions_view
from assets.publication.datastore_tables import build_datastore_tables
from assets.sources import SOURCES
from checks.published import PUBLISHED, by_file_name, fingerprint_bytes, published_bytes
from pipelines.commands import exit_with
from reports.analysis import ReportSettings
from reports.provenance import FILE_NAME, code_version, lock_hash, manifest_bytes, sources_of
from reports.render import plotly_bundle, render_report
from resources.archive import ArchivedFile, RawArchive, UnreadableArchiveFileError
from resources.errors import SourceError
from resources.files import refusal, storage_refused
from resources.report_store import ReportStore, read_published
from resources.settings import data_dir
from resources.vintages import VintageStore

# Left in a folder a rebuild wrote, so the next rebuild into it may empty it first.
MARKER = ".rebuild"


class RebuildError(Exception):
    """The version cannot be rebuilt: the message says which file or source and why."""


@dataclass
class Rebuilt:
    version: str  # asked for
    rebuilt_version: str  # the fingerprint of the rebuilt files
    folder: Path
    differences: list[str] = field(default_factory=list)  # one line per file that differs
    notes: list[str] = field(default_factory=list)  # code or lock not the ones that built the version

    @property
    def matches(self) -> bool:
        return not self.differences and self.rebuilt_version == self.version


def first_difference(published: bytes, rebuilt: bytes, names: tuple[str, str] = ("published", "rebuilt")) -> str:
    """Where two CSV files first differ, as a row number (the header is row 0) and both lines, each side called by
    its name in `names`."""
    old, new = published.decode("utf-8").splitlines(), rebuilt.decode("utf-8").splitlines()
    first, second = names
    for row, (was, now) in enumerate(zip(old, new, strict=False)):
        if was != now:
            return f"first differing row {row}{' (the header)' if row == 0 else ''}: {first} {was!r}, {second} {now!r}"
    if len(old) != len(new):
        return (f"the first {min(len(old), len(new)) - 1} rows agree; {first} {len(old) - 1} rows, {second} "
                f"{len(new) - 1}")
    return "the rows agree; line ends or the final newline differ"


def _archived(source: str, raw_file: Mapping[str, object]) -> ArchivedFile:
    """The archive entry as the manifest recorded it (so the bytes are checked against the manifest's SHA-256)."""
    headers = {"Last-Modified": raw_file["last_modified"]} if raw_file.get("last_modified") else {}
    return ArchivedFile(source=source, request=raw_file["request"], url=raw_file["url"], path=raw_file["file"],
                        sha256=raw_file["sha256"], bytes=raw_file["bytes"], status=200,
                        fetched_at=raw_file["fetched_at"], headers=headers, changed=False, api=raw_file["api"],
                        origin=raw_file["origin"])


def rebuild_source(source: str, derived: Mapping[str, object], archive: RawArchive, version: str) -> pd.DataFrame:
    """One source's clean table, from the raw files the manifest names, checked as the pipeline checks it."""
    entries = [_archived(source, raw_file) for raw_file in derived["raw_files"]]
    if not entries:
        raise RebuildError(f"{source}: version {version}'s provenance names no raw files for it (its table was stored "
                           "before tables recorded their raw files): it cannot be rebuilt")
    for entry in entries:
        path = archive.stored_at(entry.path) or archive.root / entry.path
        if not path.exists():
            raise RebuildError(f"{source}: raw file {path} is missing from the archive; version {version} cannot be "
                               "rebuilt without it (docs/operations.md, \"Provenance\": keep every file a published "
                               "version names)")
        try:
            archive.read(entry)
        except UnreadableArchiveFileError as error:
            raise RebuildError(f"{source}: {error}; version {version} cannot be rebuilt until that file is restored "
                               "from a backup") from None
        except OSError:
            raise RebuildError(
                f"{source}: raw file {path} has changed since version {version} was built: its SHA-256 is no longer "
                f"{entry.sha256} as recorded in the version's provenance.json") from None
    try:
        # Stamped with the same origin, release date and raw files the manifest recorded.
        return clean_release(SOURCES[source], entries, archive).table
    except SourceError as error:
        raise RebuildError(str(error)) from error


def _code_notes(manifest: Mapping[str, object]) -> list[str]:
    notes = []
    then, now = manifest["code"], code_version()
    built = then.get("git_commit") or f"package {then.get('package_version')}"
    running = now.get("git_commit") or f"package {now.get('package_version')}"
    changed = " with uncommitted changes"
    if built != running or then.get("git_dirty") or now.get("git_dirty"):
        notes.append(f"the version was built by code {built}{changed if then.get('git_dirty') else ''}; this is "
                     f"{running}{changed if now.get('git_dirty') else ''}. If files differ, rebuild with that code: "
                     f"git worktree add ../rebuild-{manifest['report_version']} {built}")
    if manifest["dependency_lock"]["sha256"] != lock_hash():
        notes.append("the dependency lock differs from the one the version was built with (requirements.lock)")
    return notes


NEWEST_LISTED = 5


def resolve_version(given: str, storage: Path) -> str:
    """The version `given` names: itself, or the one version with a provenance record that begins with it (as git
    takes a commit's first characters). One naming none or several is a RebuildError listing what can be rebuilt."""
    store = ReportStore(storage / "reports")
    if (store.files_folder(given) / FILE_NAME).exists():
        return given
    folders = store.root / "files"
    kept = {path.parent.name for path in folders.glob(f"*/{FILE_NAME}")} if folders.is_dir() else set()
    matching = sorted(version for version in kept if version.startswith(given))
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise RebuildError(f"report version {given} could be any of {', '.join(matching)}: give more of it")
    newest = [entry["version"] for entry in store.versions() if entry["version"] in kept][:NEWEST_LISTED]
    listed = (f"the newest that can be rebuilt: {', '.join(newest)}" if newest
              else "no version there can be (make run builds one)")
    raise RebuildError(f"no provenance for report version {given} in {folders}: the version is unknown, or was built "
                       f"before versions recorded their provenance; {listed}")


def rebuild(version: str, storage: Path, out: Path) -> Rebuilt:
    store = ReportStore(storage / "reports")
    manifest_path = store.files_folder(version) / FILE_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    clear_folder(out, storage)
    archive = RawArchive(data_dir=str(storage))
    derived = sources_of(manifest)
    clean = {source: rebuild_source(source, facts, archive, version) for source, facts in derived.items()}
    missing = set(SOURCES) - set(clean)
    if missing:
        raise RebuildError(f"the manifest names no raw files for {', '.join(sorted(missing))}")
    tables = build_datastore_tables(clean)
    contents = published_bytes(tables)
    result = Rebuilt(version, fingerprint_bytes(contents), out, notes=_code_notes(manifest))
    kept = store.files_folder(version)
    for entry in manifest["files"]:
        content = contents.get(entry["table"])
        if content is None:
            result.differences.append(f"{entry['file']}: no longer built by this code")
            continue
        if hashlib.sha256(content).hexdigest() == entry["sha256"]:
            continue
        published = read_published(kept, entry["file"])
        where = (first_difference(published, content) if published is not None
                 else f"SHA-256 {hashlib.sha256(content).hexdigest()} instead of {entry['sha256']} (the version's copy "
                      f"{kept / entry['file']} is gone, so the row cannot be named)")
        result.differences.append(f"{entry['file']}: {where}")
    extra = set(contents) - {entry["table"] for entry in manifest["files"]}
    result.differences += [f"{PUBLISHED[name].file_name}: built now, not part of version {version}" for name in extra]
    # The rebuilt report, beside the rebuilt files, in its own folder (nothing stored by the pipeline is touched).
    out_store = ReportStore(out)
    raw = {source: [_archived(source, f).to_dict() for f in facts["raw_files"]]
           for source, facts in derived.items()}
    up_to = {source: date.fromisoformat(facts["release_date"]) for source, facts in derived.items()
             if facts.get("release_date")}
    inputs = prepare_report(result.rebuilt_version, f"rebuild of {version}", manifest.get("mode", "live"), tables,
                            contents, clean, raw, ReportSettings(), out_store, None,
                            revisions_view(VintageStore(storage), up_to))
    out_store.save(result.rebuilt_version, render_report(inputs), "rebuild",
                   {"rebuild_of": version}, files={**by_file_name(contents), FILE_NAME: manifest_bytes(manifest)},
                   shared=dict([plotly_bundle()]))
    (out / MARKER).write_text(f"rebuild of {version}\n")
    return result


def clear_folder(out: Path, storage: Path) -> None:
    """Empty `out` for a rebuild: only a folder a rebuild wrote (it has the marker), or an empty or new one, so a
    mistyped OUT never deletes anything else."""
    out, storage = out.resolve(), storage.resolve()
    if out == storage or out in storage.parents:
        raise RebuildError(f"OUT={out} holds the pipeline's data ({storage}): choose a folder of its own")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise RebuildError(f"OUT={out} is not empty and was not written by a rebuild: choose an empty folder")
        shutil.rmtree(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", required=True,
                        help="the report version to rebuild (its 12 characters, or the first few of them)")
    parser.add_argument("--out", type=Path, help="where to write the rebuilt files and report "
                        "(default <data dir>/rebuilds/<version>)")
    args = parser.parse_args(argv)
    version = args.version.strip()
    if not version:
        parser.error("--version needs a value (make rebuild VERSION=<report_version>)")
    storage = data_dir()
    try:
        version = resolve_version(given := version, storage)
    except RebuildError as error:
        print(f"rebuild failed: {error}", file=sys.stderr)
        return 1
    out = (args.out or storage / "rebuilds" / version).resolve()
    named = f"{given} ({version})" if given != version else version
    print(f"rebuilding report version {named} from the raw archive in {storage} into {out}")
    try:
        result = rebuild(version, storage, out)
    except RebuildError as error:
        print(f"rebuild failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if not storage_refused(error) or args.out is None or not Path(str(error.filename)).is_relative_to(out):
            raise
        print(f"rebuild failed: {refusal(error, out, 'OUT')}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"note: {note}")
    for line in result.differences:
        print(f"DIFFERS {line}")
    if result.matches:
        print(f"every file is byte for byte the published version's; report and files in {out}")
    else:
        print(f"the rebuilt files are NOT version {version}; see above. Rebuilt files in {out}")
    print(f"report_version: {result.rebuilt_version}")
    return 0 if result.matches else 1


if __name__ == "__main__":
    exit_with(main)
