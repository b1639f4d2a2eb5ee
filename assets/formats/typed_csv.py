"""CSV files as publishers wrote them, read fast and typed: pyarrow reads the columns asked for (by a normalised
header, so case, spacing and renamed headers can be matched), keeps the rows wanted before typing anything, and types
them; when a value is rejected, careful line-by-line converters name the file, the column and the first offending
lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from assets.formats.reading import check_not_error_page
from resources.errors import ParseError


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


# --- The fast path: pyarrow reads and types the columns; the checks above explain whatever it rejects. ----------

ARROW_TYPES = {"int": pa.int64(), "float": pa.float64()}
DATE_FORMATS = {"date_iso": "%Y-%m-%d", "date_dmy": "%d/%m/%Y"}


def _header(content: bytes, file: str) -> list[str]:
    end = content.find(b"\n")
    first = content[: end if end >= 0 else len(content)].decode("utf-8-sig", errors="replace").rstrip("\r")
    return next(csv.reader([first]))


def drop_repeated_headers(content: bytes) -> bytes:
    """Remove copies of the header line further down the file. Archives that saved one API response per area one
    after another (the PHE API's v1 CSVs) repeat the header before every area's rows."""
    end = content.find(b"\n")
    if end < 0:
        return content
    header = content[:end].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    body = content[end:]
    for ending in (b"\r\n", b"\n"):
        repeated = b"\n" + header + ending
        while repeated in body:
            body = body.replace(repeated, b"\n")
    return content[:end] + body


KeepRows = tuple[str, Collection[str]] | Callable[[pa.Table], pa.ChunkedArray] | None


def read_csv_typed(
    content: bytes,
    file: str,
    columns: Mapping[str, str],
    *,
    header_key: Callable[[str], str] = str.strip,
    keep_rows: KeepRows = None,
    optional: Collection[str] = (),
) -> pd.DataFrame:
    """Read the CSV columns named in `columns` (by `header_key` of the header, e.g. case-folded) with pyarrow,
    keep only rows whose `keep_rows` column is in the given set (or, given a function, the rows it marks True in the
    table of text columns, absent optional columns left out), and type each column as its kind says: "text",
    "int" (nullable Int64), "float", "date_iso" or "date_dmy". Columns in `optional` may be absent: they come back
    empty. Repeated header lines are dropped. Several times faster than reading everything as text with pandas;
    when pyarrow rejects a value, the line-by-line checks above name the line and the value."""
    check_not_error_page(content, file, "CSV")
    found = _find_columns(content, file, columns, header_key, optional)
    present = {key: kind for key, kind in columns.items() if key in found}
    table = _read_text_columns(drop_repeated_headers(content), file, {key: found[key] for key in present})
    # Filter first, so the other columns are only cleaned and typed for the rows kept.
    table = _keep(table, keep_rows, [key for key, kind in present.items() if kind == "text"])
    frame = _typed(table, present, file)
    for key, kind in columns.items():
        if key not in found:
            frame[key] = empty_column(kind, len(frame))
    return frame


def _find_columns(content: bytes, file: str, columns: Mapping[str, str], header_key: Callable[[str], str],
                  optional: Collection[str]) -> dict[str, str]:
    """Each wanted column's key -> its name in the header; an error naming what is missing and what was found."""
    found = {header_key(name): name for name in _header(content, file)}
    missing = [key for key in columns if key not in found and key not in optional]
    if missing:
        raise ParseError(file, f"missing column(s) {', '.join(map(repr, missing))}; found "
                               f"{', '.join(map(repr, found.values()))}")
    return found


def _read_text_columns(content: bytes, file: str, names: Mapping[str, str]) -> pa.Table:
    """The columns `names` (key -> header name) as text, renamed to their keys, with each row's line number."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(content),
            read_options=pacsv.ReadOptions(encoding="utf8"),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(names.values()),
                column_types=dict.fromkeys(names.values(), pa.string()),
                strings_can_be_null=True, null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ParseError(file, f"could not be read as CSV: {str(exc).splitlines()[0]}") from exc
    if table.num_rows == 0:
        raise ParseError(file, "has a header but no data rows")
    table = table.rename_columns(list(names))
    return table.append_column("__line", pa.array(np.arange(2, table.num_rows + 2, dtype="int64")))


def _trimmed(table: pa.Table, key: str) -> pa.Table:
    return table.set_column(table.column_names.index(key), key, pc.utf8_trim_whitespace(table[key]))


def _keep(table: pa.Table, keep_rows: KeepRows, text: Collection[str]) -> pa.Table:
    """The rows `keep_rows` keeps (see read_csv_typed), with the `text` columns trimmed."""
    if callable(keep_rows):
        table = table.filter(keep_rows(table))
    elif keep_rows:
        column, allowed = keep_rows
        table = _trimmed(table, column)
        table = table.filter(pc.is_in(table[column], value_set=pa.array(sorted(allowed), pa.string())))
    trimmed_already = keep_rows[0] if isinstance(keep_rows, tuple) else None
    for key in text:
        if key != trimmed_already:
            table = _trimmed(table, key)
    return table


def _typed(table: pa.Table, columns: Mapping[str, str], file: str) -> pd.DataFrame:
    """Each column typed as its kind says; a value pyarrow rejects is named with its line by the careful checks."""
    converted = {}
    for key, kind in columns.items():
        try:
            if kind in ARROW_TYPES:
                converted[key] = pc.cast(table[key], ARROW_TYPES[kind])
            elif kind in DATE_FORMATS:
                converted[key] = pc.strptime(table[key], format=DATE_FORMATS[kind], unit="s", error_is_null=False)
            else:
                converted[key] = table[key]
        except pa.ArrowInvalid:
            # The careful converters name the line of a value that is wrong, or read what pyarrow would not (whole
            # numbers written as `1.0`, as some 2020 dashboard downloads did).
            converted[key] = _careful_column(table, key, kind, file)
    frame = pa.table(converted).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for key, kind in columns.items():
        if kind in DATE_FORMATS:
            frame[key] = frame[key].astype("datetime64[ns]")
    return frame


def empty_column(kind: str, length: int) -> pd.Series | pd.api.extensions.ExtensionArray:
    """A column of `length` missing values typed as `kind` says (see read_csv_typed)."""
    if kind == "int":
        return pd.array([pd.NA] * length, dtype="Int64")
    if kind == "float":
        return pd.Series([float("nan")] * length, dtype="float64")
    if kind in DATE_FORMATS:
        return pd.Series([pd.NaT] * length, dtype="datetime64[ns]")
    return pd.Series([None] * length, dtype="object")


def _careful_column(table: pa.Table, key: str, kind: str, file: str) -> pa.Array:
    """The column pyarrow rejected, typed by the careful converters: they raise the line-numbered error for a value
    that is not of its kind."""
    raw = pd.DataFrame({key: table[key].to_pandas()}, index=table["__line"].to_pandas() - 2)
    if kind == "int":
        return pa.array(to_int(raw, key, file), type=pa.int64())
    if kind == "float":
        return pa.array(to_float(raw, key, file), type=pa.float64())
    return pa.array(to_date(raw, key, file, DATE_FORMATS[kind]))
