"""`make backfill [FOLDER=data/releases]`: load past real releases into the raw archive and the vintages, oldest
release first, so the report's revisions view starts with history rather than on the day of installation.

The folder holds one sub-folder per release date, and in it one folder per source with the files as their
publisher served them, named as that source's shipped sample files are (data/samples/<source>/):

    <FOLDER>/2020-08-28/phe_cases_by_region/region_london.csv
    <FOLDER>/2020-08-28/phe_cases_by_region/nation_england.csv
    <FOLDER>/2020-08-29/phe_cases_by_region/...

Each file is archived as it is (under raw/<source>/backfill-<date>/, never as the latest download), parsed and
validated exactly as a nightly fetch is, and its clean table kept as that source's vintage of that date. A vintage
already held for a date (a real nightly fetch of that release) is kept, not replaced. Nothing else is touched: the
current tables, reports and publications stay as they are. A bad file is named with its source and problem; the
other releases still load, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

from assets.ingest.clean import clean_release
from assets.ingest.source import Source
from assets.sources import SOURCES
from pipelines.commands import exit_with
from resources.archive import ArchivedFile, RawArchive
from resources.errors import ParseError, SourceError
from resources.http import HttpResult
from resources.settings import REPO_ROOT, data_dir
from resources.vintages import VintageStore

ORIGIN = "backfill"
DEFAULT_FOLDER = REPO_ROOT / "data" / "releases"


@dataclass(frozen=True)
class Loaded:
    release: date
    source: str
    files: int
    rows: int
    vintage: Path
    kept_existing: bool


def releases_in(folder: Path) -> list[tuple[date, Path]]:
    """The release folders under `folder`, oldest first; anything else there is an error naming it."""
    found = []
    for child in folder.iterdir():
        if child.name.startswith("."):
            continue
        try:
            found.append((date.fromisoformat(child.name), child))
        except ValueError:
            raise SystemExit(f"backfill: {child} is not a release folder (expected YYYY-MM-DD)") from None
    return sorted(found)


def load_release(source: Source, release: date, release_folder: Path, archive: RawArchive,
                 vintages: VintageStore) -> Loaded:
    """Archive, parse, validate and keep one source's release (its files in `release_folder/<source>/`)."""
    variant = source.sample
    entries: list[ArchivedFile] = []
    served = format_datetime(datetime(release.year, release.month, release.day, tzinfo=UTC), usegmt=True)
    try:
        for request, path in source.sample_walk(release_folder):
            if not path.exists():
                raise SourceError(source.name, str(path), f"missing: each release of {source.name} needs this file, "
                                  f"named as in data/samples/{source.name}/")
            result = HttpResult(url=path.resolve().as_uri(), status=200, content=path.read_bytes(),
                                headers={"Last-Modified": served})
            entries.append(archive.store(source.name, request.name, request.extension, result, api=variant.api,
                                         origin=ORIGIN, as_latest=False, folder=f"backfill-{release:%Y-%m-%d}"))
    except ParseError as error:  # a page whose links cannot be read
        raise SourceError(source.name, error.file, error.problem) from error
    # Dated `release` by the Last-Modified the files were archived with.
    table = clean_release(source, entries, archive, variant).table
    held = release in vintages.releases(source.name)
    path = vintages.path(source.name, release) if held else vintages.save(source.name, release, table)
    return Loaded(release, source.name, len(entries), len(table), path, held)


def backfill(folder: Path, storage: Path) -> tuple[list[Loaded], list[str]]:
    """Every release under `folder`, oldest first: what was loaded, and the errors (one line each)."""
    archive, vintages = RawArchive(data_dir=str(storage)), VintageStore(storage)
    loaded, errors = [], []
    for release, release_folder in releases_in(folder):
        for source_folder in sorted(p for p in release_folder.iterdir() if p.is_dir()):
            source = SOURCES.get(source_folder.name)
            if source is None:
                errors.append(f"{source_folder}: no source is called {source_folder.name!r} "
                              f"(one of {', '.join(SOURCES)})")
                continue
            try:
                loaded.append(load_release(source, release, release_folder, archive, vintages))
            except SourceError as error:
                errors.append(f"{release:%Y-%m-%d} {error}")
    return loaded, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER,
                        help=f"the folder of releases (default {DEFAULT_FOLDER.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    storage = data_dir()
    print(f"backfill: loading the releases in {args.folder} into {storage}, oldest first")
    loaded, errors = backfill(args.folder, storage)
    for item in loaded:
        kept = "already held: kept" if item.kept_existing else "kept"
        print(f"  {item.release:%Y-%m-%d} {item.source}: {item.files} file(s) archived, {item.rows:,} rows, "
              f"vintage {kept} as {item.vintage}")
    for error in errors:
        print(f"  FAILED {error}", file=sys.stderr)
    releases = len({item.release for item in loaded})
    print(f"backfill: {releases} release(s), {len(loaded)} table(s) loaded, {len(errors)} failed. The next report "
          "(a nightly run whose tables differ from the last) shows them in its revisions view.")
    return 1 if errors else 0


if __name__ == "__main__":
    exit_with(main)
