"""What every reader of a publisher's file shares: refusing what is not data (an empty body, an HTML error page
served with status 200), and the notes a parser leaves on a table about how it was read."""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from assets.ingest.source import add_note
from resources.errors import ParseError


def concat_noted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """pd.concat that keeps every part's notes and rows left out (pandas drops attrs that differ between the parts)."""
    notes = [note for frame in frames for note in frame.attrs.get("notes", [])]
    left_out = [row for frame in frames for row in frame.attrs.get("left_out", [])]
    table = pd.concat(frames, ignore_index=True)
    table.attrs = {"notes": notes} if notes else {}
    if left_out:
        table.attrs["left_out"] = left_out
        table.attrs["left_out_count"] = sum(frame.attrs.get("left_out_count", 0) for frame in frames)
    return table


def check_not_error_page(content: bytes, file: str, expected: str) -> None:
    """Reject an empty body or an HTML page served where data was expected (a common 200-status failure)."""
    # Only the start is looked at (a copy of a whole large file would cost more than reading it).
    head = content[:4096].lstrip()[:512].lower()
    if not head and not content.strip():
        raise ParseError(file, "the file is empty")
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:200]:
        raise ParseError(file, f"got an HTML page where a {expected} file was expected (an error page?)")


# What a file that is not text starts with, and what it probably is (named in the error instead of its bytes).
BINARY_SIGNATURES = {b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
                     b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook",
                     b"%PDF": "a PDF document",
                     b"\x1f\x8b": "a gzip archive"}
# How much of a file's start is looked at to tell its encoding (without a byte-order mark).
ENCODING_SNIFF = 4096


def text_as_utf8(content: bytes, file: str, expected: str = "CSV") -> bytes:
    """A text file's bytes as UTF-8, for readers that only read UTF-8 (pyarrow's CSV reader): UTF-8 with or without
    a byte-order mark comes back as it is (the same object: a large file is not copied, and the readers skip the
    mark); UTF-16 with a byte-order mark (Excel's "Unicode text"), or without one where the start is plainly UTF-16
    (every other byte NUL), is decoded and re-encoded. Anything else that is plainly not text (a workbook, NUL
    bytes) is a ParseError saying it is not UTF-8 or UTF-16 text. A stray non-UTF-8 byte further down is left for
    the reader to find, with its line (only the first bytes are looked at here)."""
    if content.startswith(codecs.BOM_UTF8):
        return content
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _utf16_as_utf8(content, file, "utf-16")  # the codec reads the mark and drops it
    head = content[:ENCODING_SNIFF]
    for signature, kind in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise ParseError(file, f"is not UTF-8 or UTF-16 text: it looks like {kind}, where a {expected} file was "
                                   "expected")
    if b"\x00" not in head:
        return content
    if codec := _bomless_utf16(head):
        return _utf16_as_utf8(content, file, codec)
    raise ParseError(file, f"is not UTF-8 or UTF-16 text: it holds NUL bytes (a binary file?), where a {expected} "
                           "file was expected")


def _bomless_utf16(head: bytes) -> str | None:
    """The UTF-16 codec of a start of file without a byte-order mark, if it is plainly UTF-16: mostly ASCII text, so
    the high byte of nearly every character is NUL (the odd bytes in little-endian, the even ones in big-endian)."""
    head = head[: len(head) // 2 * 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    for zeros, others, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) >= 0.9 * len(zeros) and others.count(0) == 0:
            return codec
    return None


def _utf16_as_utf8(content: bytes, file: str, codec: str) -> bytes:
    try:
        return content.decode(codec).encode("utf-8")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].decode(codec, errors="replace").count("\n") + 1
        raise ParseError(file, f"is not UTF-8 or UTF-16 text: it starts as UTF-16, but line {line:,} has bytes that "
                               f"are not ({exc.reason})") from exc


# The rows a parser's notes name one by one; the rest are counted ("and 12 more").
LEFT_OUT_NAMED = 10
LEFT_OUT_KEPT = 100


@dataclass(frozen=True)
class LeftOut:
    """A row of the publisher's file that looks like data (a label and a number) but was not read."""

    where: str  # "sheet '1a' row 44", "line 1,203"
    label: str  # the row's label as the publisher wrote it
    why: str


def note_left_out(frame: pd.DataFrame, file: str, left_out: Sequence[LeftOut],
                  expected: Mapping[str, int] | None = None) -> None:
    """Say which rows of `file` were not read. `left_out` are rows that look like data and were not expected to be
    skipped: each is named in a note and kept in `attrs["left_out"]` (the metadata, the report, and validation,
    which fails a table with more than a handful). `expected` counts rows skipped by design, by kind ("rows of
    other regions": 8), in one note."""
    if expected := {kind: count for kind, count in (expected or {}).items() if count}:
        add_note(frame, f"{file}: not read, as expected: " +
                 "; ".join(_counted(count, kind) for kind, count in expected.items()))
    if not left_out:
        return
    named = "; ".join(f"{row.where} {row.label!r}: {row.why}" for row in left_out[:LEFT_OUT_NAMED])
    more = f"; and {len(left_out) - LEFT_OUT_NAMED:,} more" if len(left_out) > LEFT_OUT_NAMED else ""
    add_note(frame, f"{file}: {len(left_out):,} row(s) that look like data were left out: {named}{more}")
    # pandas copies attrs with every operation: a file the parser no longer understands keeps its first rows here
    # (validation lists them) and the count.
    frame.attrs["left_out"] = [*frame.attrs.get("left_out", []),
                               *({"file": file, **asdict(row)} for row in left_out[:LEFT_OUT_KEPT])]
    frame.attrs["left_out_count"] = frame.attrs.get("left_out_count", 0) + len(left_out)


def _counted(count: int, kind: str) -> str:
    """`3 rows of other areas`, `1 row of other areas`."""
    if count == 1:
        kind = re.sub(r"^(row|record|result)s\b", r"\1", kind)
    return f"{count:,} {kind}"


def drop_counted(frame: pd.DataFrame, keep: pd.Series, file: str, kind: str) -> pd.DataFrame:
    """The rows `keep` marks, with the others counted in a note as `kind` (rows skipped by design, such as bands
    that sum others)."""
    kept = frame[keep]
    note_left_out(kept, file, [], {kind: int((~keep).sum())})
    return kept
