"""Small helpers the parsers share: read bytes defensively and turn columns into typed values, with errors that
name the file, the column and the first offending rows."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from resources.errors import ParseError


def check_not_error_page(content: bytes, file: str, expected: str) -> None:
    """Reject an empty body or an HTML page served where data was expected (a common 200-status failure)."""
    if not content.strip():
        raise ParseError(file, "the file is empty")
    head = content.lstrip()[:512].lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:200]:
        raise ParseError(file, f"got an HTML page where a {expected} file was expected (an error page?)")


def read_csv(content: bytes, file: str, required: Sequence[str]) -> pd.DataFrame:
    """Read CSV bytes as strings (typing happens column by column afterwards, with clear errors)."""
    check_not_error_page(content, file, "CSV")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(file, f"is not UTF-8 text (byte {exc.start}): is it really a CSV?") from exc
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ParseError(file, f"could not be read as CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    require_columns(frame, file, required)
    if frame.empty:
        raise ParseError(file, "has a header but no data rows")
    return frame


def require_columns(frame: pd.DataFrame, file: str, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        wanted = ", ".join(repr(c) for c in missing)
        raise ParseError(file, f"missing column(s) {wanted}; found {', '.join(map(repr, frame.columns))}")


def _first_rows(mask: pd.Series, values: pd.Series, limit: int = 3) -> str:
    bad = values[mask].head(limit)
    # +2: one for the header line, one because people count lines from 1.
    return ", ".join(f"line {int(i) + 2}: {v!r}" for i, v in bad.items())


def to_int(frame: pd.DataFrame, column: str, file: str) -> pd.Series:
    """Whole numbers as nullable Int64; empty cells become <NA>, anything else non-integer is an error."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = (raw.notna() & numbers.isna()) | (numbers.notna() & (numbers % 1 != 0))
    if bad.any():
        raise ParseError(file, f"column {column!r} has values that are not whole numbers ({_first_rows(bad, raw)})")
    return numbers.astype("Int64")


def to_float(frame: pd.DataFrame, column: str, file: str) -> pd.Series:
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & numbers.isna()
    if bad.any():
        raise ParseError(file, f"column {column!r} has values that are not numbers ({_first_rows(bad, raw)})")
    return numbers.astype("float64")


def to_date(frame: pd.DataFrame, column: str, file: str, fmt: str = "%Y-%m-%d") -> pd.Series:
    raw = frame[column]
    dates = pd.to_datetime(raw, format=fmt, errors="coerce")
    bad = dates.isna()
    if bad.any():
        raise ParseError(file, f"column {column!r} has values that are not dates in {fmt} ({_first_rows(bad, raw)})")
    return dates.astype("datetime64[ns]")


def text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].str.strip()
