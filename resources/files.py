"""Writing stored files so that a crash never leaves half of one: every store (the raw archive, the tables, the
vintages, the reports and their history, the publish state) writes through here; and reading them back so that a
damaged one (cut short by a crash before this existed, edited by hand) is named with what to do.

A file is written beside its target under a hidden temporary name, then renamed over it: a rename within one folder
is atomic, so a reader (or the next run, after a kill mid-write) finds the old file or the new one, never a mix. A
folder of files is staged the same way and renamed into place whole.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# What to write: the bytes (or text, as UTF-8), or a function that writes the file at the path it is given (e.g.
# DataFrame.to_parquet).
Content = bytes | str | Callable[[Path], object]
TEMPORARY_PREFIX = ".tmp-"


def _temporary(target: Path) -> Path:
    return target.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")


# This machine's storage refusing a file: no permission, a file where a folder should be (ENOTDIR on the way to it,
# EEXIST from making the folder itself), a folder where a file should be, a read-only or full disk.
STORAGE_REFUSALS = frozenset({errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EROFS,
                              errno.ENOSPC, errno.EDQUOT})


@contextmanager
def _naming(target: Path) -> Iterator[None]:
    """A write refused midway (a full disk; pyarrow's too) names no file: it is named `target`, the file being
    written, so that the refusal is told apart from a download's errors (storage_refused) and its message says where."""
    try:
        yield
    except OSError as error:
        if error.filename is None and error.errno in STORAGE_REFUSALS:
            raise OSError(error.errno, os.strerror(error.errno), str(target)) from error
        raise


def _write(path: Path, content: Content, target: Path) -> None:
    with _naming(target):
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
        _write(temporary, content, path)
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
            _write(staging / name, content, folder / name)
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


def compressed(path: Path) -> Path:
    """Where `path` is kept gzip-compressed at rest."""
    return path.with_name(path.name + ".gz")


def disk_bytes(path: Path) -> int:
    """What a file or a folder takes on disk (0 when missing): a file kept under several names (hard links, as
    report versions share their unchanged CSVs) counts once."""
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    sizes = {(stat.st_dev, stat.st_ino): stat.st_size
             for stat in (file.stat() for file in path.rglob("*") if file.is_file())}
    return sum(sizes.values())


def finished(folder: Path, pattern: str) -> list[Path]:
    """The files in `folder` matching `pattern`, sorted, leaving out writes in progress (or cut short by a crash)."""
    return sorted(path for path in folder.glob(pattern) if not path.name.startswith(TEMPORARY_PREFIX))


def append_line(path: Path, line: str) -> None:
    """Append one line to a log read back a line at a time. A last line cut short by a crash mid-append is closed
    first, so it stays one damaged line (left out by read_json_lines) rather than spoiling the line written now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _naming(path), path.open("ab+") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(line.rstrip("\n").encode("utf-8") + b"\n")


def storage_refused(error: BaseException) -> bool:
    """Whether `error` is the storage refusing one of its files (STORAGE_REFUSALS), which a retry in a minute does not
    mend, unlike a download's errors (requests' name no file)."""
    return isinstance(error, OSError) and error.filename is not None and error.errno in STORAGE_REFUSALS


def refusal(error: OSError, storage: Path, setting: str = "PIPELINE_DATA_DIR") -> str:
    """The storage's refusal of one of its files (storage_refused) in a line: the file, why, and what to change.
    `storage` is the folder `setting` names: a refused file outside it (a shipped sample, say) is not that setting's
    fault."""
    remedy = (f"{setting} ({storage}) must be a folder this account can write, with room"
              if Path(str(error.filename)).is_relative_to(storage) else "it must be a file this account can read")
    # mkdir's "File exists" when a file holds the folder's name reads as if the folder were there.
    why = "a file where a folder should be" if error.errno == errno.EEXIST else error.strerror
    return f"the storage refused {error.filename} ({why}): {remedy}"


@contextmanager
def refusals_fail_the_step(who: str, storage: Path, setting: str = "PIPELINE_DATA_DIR") -> Iterator[None]:
    """Turn the storage refusing one of its files (storage_refused) into a Failure of the step that says so in one
    line (`refusal`), naming `who` ("[source]"), and that no step retry is to be spent on it; other errors pass as
    they are."""
    try:
        yield
    except OSError as error:
        if not storage_refused(error):
            raise
        import dagster as dg  # here: the report server reads its files through this module without Dagster

        raise dg.Failure(f"[{who}] {refusal(error, storage, setting)}; a retry would meet the same refusal",
                         allow_retries=False) from error


class DamagedFile(OSError):
    """A stored file another step reads could not be read back: the message names it and says what to do."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"{path} could not be read ({problem}): {remedy}")
        self.path = Path(path)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def read_json(path: Path, remedy: str, default: object = None) -> object:
    """The JSON in `path` (`default` if there is none); a damaged file (cut short, edited by hand) is a DamagedFile
    naming it and what to do (`remedy`), not a bare parser error."""
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise DamagedFile(path, _first_line(error), remedy) from error


def read_json_lines(path: Path, remedy: str) -> list[object]:
    """The records of a JSON-lines file appended to a line at a time (append_line). A line cut short by a crash
    mid-append is left out (it was never finished); a line damaged otherwise is a DamagedFile naming it."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            # A line cut short by a crash mid-append (append_line closes it before the next one) was never finished.
            if _cut_short(line, error):
                continue
            raise DamagedFile(path, f"line {number}: {_first_line(error)}", remedy) from error
    return records


def _cut_short(line: str, error: json.JSONDecodeError) -> bool:
    """Whether the line that did not parse is the start of a JSON record (a write cut short), not a line spoiled:
    the text ran out inside a string, or where more was expected."""
    return error.msg.startswith("Unterminated string") or error.pos >= len(line.rstrip())


def read_parquet(path: Path, remedy: str) -> pd.DataFrame:
    """A stored table; a damaged one is a DamagedFile naming it and what to do. The storage refusing to read it
    (storage_refused: permissions, say) is raised as it is: storing it again would meet the same refusal."""
    import pandas as pd  # here: the report server reads its files through this module without pandas

    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError) or storage_refused(error):
            raise
        raise DamagedFile(path, _first_line(error), remedy) from error
