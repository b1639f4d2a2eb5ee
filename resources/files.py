"""Writing stored files so that a crash never leaves half of one: every store (the raw archive, the tables, the
vintages, the reports and their history, the publish state) writes through here.

A file is written beside its target under a hidden temporary name, then renamed over it: a rename within one folder
is atomic, so a reader (or the next run, after a kill mid-write) finds the old file or the new one, never a mix. A
folder of files is staged the same way and renamed into place whole.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

# What to write: the bytes (or text, as UTF-8), or a function that writes the file at the path it is given (e.g.
# DataFrame.to_parquet).
Content = bytes | str | Callable[[Path], object]
TEMPORARY_PREFIX = ".tmp-"


def _temporary(target: Path) -> Path:
    return target.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")


def _write(path: Path, content: Content) -> None:
    if callable(content):
        content(path)
    else:
        # "x": a fresh file, with the permissions any new file gets here.
        with path.open("xb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)


def write_atomically(path: Path, content: Content) -> Path:
    """Write `path` whole or not at all (an existing file is replaced only once the new one is complete)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        _write(temporary, content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_folder_atomically(folder: Path, files: Mapping[str, Content]) -> Path:
    """Create `folder` holding `files` (name -> content), whole or not at all. A folder that already exists is kept
    as it is: the folders written this way hold one version's files, which never change once written."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _temporary(folder)
    staging.mkdir()
    try:
        for name, content in files.items():
            _write(staging / name, content)
        try:
            os.replace(staging, folder)
        except OSError:
            if not folder.is_dir():
                raise
            shutil.rmtree(staging)  # written meanwhile by another run: theirs stands
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def finished(folder: Path, pattern: str) -> list[Path]:
    """The files in `folder` matching `pattern`, sorted, leaving out writes in progress (or cut short by a crash)."""
    return sorted(path for path in folder.glob(pattern) if not path.name.startswith(TEMPORARY_PREFIX))
