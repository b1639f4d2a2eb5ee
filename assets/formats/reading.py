"""What every reader of a publisher's file shares: refusing what is not data (an empty body, an HTML error page
served with status 200), and the notes a parser leaves on a table about how it was read."""

from __future__ import annotations

import pandas as pd

from resources.errors import ParseError


def add_note(frame: pd.DataFrame, note: str) -> None:
    """Record something the analyst should know about how a table was read (a derived or missing column); the clean
    asset shows the notes in its metadata and the report beside the source."""
    frame.attrs["notes"] = [*frame.attrs.get("notes", []), note]


def concat_noted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """pd.concat that keeps every part's notes (pandas drops attrs that differ between the parts)."""
    notes = [note for frame in frames for note in frame.attrs.get("notes", [])]
    table = pd.concat(frames, ignore_index=True)
    table.attrs = {"notes": notes} if notes else {}
    return table


def check_not_error_page(content: bytes, file: str, expected: str) -> None:
    """Reject an empty body or an HTML page served where data was expected (a common 200-status failure)."""
    # Only the start is looked at (a copy of a whole large file would cost more than reading it).
    head = content[:4096].lstrip()[:512].lower()
    if not head and not content.strip():
        raise ParseError(file, "the file is empty")
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:200]:
        raise ParseError(file, f"got an HTML page where a {expected} file was expected (an error page?)")
