"""CSV files as publishers wrote them, read fast and typed: pyarrow reads the columns asked for (by a normalised
header, so case, spacing and renamed headers can be matched), keeps the rows wanted before typing anything, and types
them; when a value is rejected, careful line-by-line converters name the file, the column and the first offending
lines."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Collection, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from assets.formats.reading import check_not_error_page, text_as_utf8
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
    # Beyond int64 the cast below would fail with a bare TypeError; such a number is a corrupt cell, not a count.
    huge = numbers.abs() >= 2**63
    if huge.any():
        raise ParseError(file, f"column {column!r} has numbers too large to be counts ({_first_rows(huge, raw)})")
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
    """The header line's names; a header that is not UTF-8 text or not CSV is a ParseError (strictly decoded: a
    replaced byte would only come back as a garbled column name in a "missing column" message)."""
    end = content.find(b"\n")
    try:
        first = content[: end if end >= 0 else len(content)].decode("utf-8-sig").rstrip("\r")
        return next(csv.reader([first]), [])
    except UnicodeDecodeError as exc:
        raise ParseError(file, f"is not UTF-8 or UTF-16 text: line 1 (the header) has bytes that are not UTF-8 "
                               f"({_bad_bytes(content, exc)}); save it as UTF-8") from exc
    except csv.Error as exc:
        raise ParseError(file, f"line 1 (the header) could not be read as CSV: {exc}") from exc


def _bad_bytes(content: bytes, exc: UnicodeDecodeError) -> str:
    """The bytes around a decoding error, e.g. `b'Caf\\xe9'` (a Latin-1 or Windows-1252 file)."""
    return repr(content[max(exc.start - 8, 0): exc.end + 8])


def _records(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """Each data row as pyarrow reads it (blank lines and repeated header lines skipped), with the file line it starts
    on and its fields as Latin-1 text (one character per byte, so a byte that is not UTF-8 can still be found). The
    slow, exact count: only used to name the line of an error, where pyarrow's own messages name none."""
    text = content.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    previous = reader.line_num
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if row and row != header:
                yield start, row
    except csv.Error:
        return  # what pyarrow rejected, the csv module may too: the caller falls back to pyarrow's message


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
    # UTF-16 (Excel's "Unicode text") is decoded here, for every CSV source; UTF-8 is not copied.
    content = text_as_utf8(content, file, "CSV")
    check_not_error_page(content, file, "CSV")
    found = _find_columns(content, file, columns, header_key, optional)
    present = {key: kind for key, kind in columns.items() if key in found}
    try:
        table = _read_text_columns(content, file, {key: found[key] for key in present})
    except ParseError as error:
        raise _located(error, content, [found[key] for key in present]) from error.__cause__
    # Filter first, so the other columns are only cleaned and typed for the rows kept.
    table = _keep(table, keep_rows, [key for key, kind in present.items() if kind == "text"])
    frame = _typed(table, present, file, content, {key: found[key] for key in present})
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
        # A wrong file can have a very long first line: the names are cut short to keep the message one line.
        names = ", ".join(map(repr, list(found.values())[:FOUND_NAMES_SHOWN]))
        more = f" and {len(found) - FOUND_NAMES_SHOWN:,} more" if len(found) > FOUND_NAMES_SHOWN else ""
        raise ParseError(file, f"missing column(s) {', '.join(map(repr, missing))}; found "
                               f"{_shortened(names)}{more}{_separator_hint(list(found.values()))}")
    return found


# Excel saves "CSV" with the list separator of the computer's region: `;` where the decimal mark is a comma.
OTHER_SEPARATORS = {";": "semicolons (as Excel saves CSV where the decimal mark is a comma)", "\t": "tabs"}


def _separator_hint(header: list[str]) -> str:
    """What to do when the header read as one name holds another separator: the file is not comma-separated."""
    if len(header) == 1:
        for separator, what in OTHER_SEPARATORS.items():
            if separator in header[0]:
                return f"; its columns are separated by {what}, not commas: save it as comma-separated CSV"
    return ""


FOUND_NAMES_SHOWN = 30
SHOWN_CHARACTERS = 300


def _shortened(text: str) -> str:
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + " ..."


def _located(error: ParseError, content: bytes, names: list[str]) -> ParseError:
    """pyarrow's reading error with its line named (its messages name none): the first line of a column read
    that is not UTF-8, or the first line with another number of fields than the header. The file is scanned again
    only here, when reading has already failed."""
    header = _header(content, error.file)
    if "invalid UTF8" in error.problem:
        positions = {header.index(name): name for name in names if name in header}
        for line, row in _records(content):
            for position, name in positions.items():
                value = row[position] if position < len(row) else ""
                try:
                    value.encode("latin-1").decode("utf-8")
                except UnicodeDecodeError:
                    return ParseError(error.file, f"is not UTF-8 or UTF-16 text: line {line:,}, column {name!r} has "
                                                  f"{value.encode('latin-1')!r} (Latin-1 or Windows-1252?); save it "
                                                  "as UTF-8")
    elif expected := re.match(r".*Expected \d+ columns, got \d+", error.problem):
        # pyarrow's words are kept (what it says is right), its copy of the row replaced by the row's line.
        for line, row in _records(content):
            if len(row) != len(header):
                return ParseError(error.file, f"{expected[0]} on line {line:,}: {_shortened(','.join(row))!r}")
    return error


def _read_text_columns(content: bytes, file: str, names: Mapping[str, str]) -> pa.Table:
    """The columns `names` (key -> header name) as text, renamed to their keys, with each row's line number; repeated
    header lines dropped (drop_repeated_headers)."""
    table = _read_text(content, file, names)
    # A copy of the header line reads as a row holding each column's own name. Only a file with such a row is
    # searched for copies and read again: most have none, and searching (and copying) every file's bytes costs
    # about as much as reading the columns.
    if _holds_its_header(table):
        table = _read_text(drop_repeated_headers(content), file, names)
    if table.num_rows == 0:
        raise ParseError(file, "has a header but no data rows")
    table = table.rename_columns(list(names))
    return table.append_column("__line", pa.array(np.arange(2, table.num_rows + 2, dtype="int64")))


def _holds_its_header(table: pa.Table) -> bool:
    """Whether a row of the first column holds that column's name (as a repeated header line's row would)."""
    first = table.column(0)
    return bool(pc.any(pc.equal(first, table.column_names[0])).as_py())


def _read_text(content: bytes, file: str, names: Mapping[str, str]) -> pa.Table:
    """The columns `names` (key -> header name) as text, as pyarrow reads them."""
    try:
        return pacsv.read_csv(
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


def rows_with(column: pa.ChunkedArray, values: pa.Array, chosen: pa.Array) -> pa.ChunkedArray:
    """Which rows of `column` hold one of its distinct `values` (pc.unique or pc.value_counts of it) that `chosen`
    marks True. For keep_rows filters: a condition on a column of a few hundred distinct codes or area types is
    judged once per distinct value, and only this one look-up is done per row of a national file."""
    chosen = pc.fill_null(chosen, False)
    if len(values) == 1:
        # One value throughout (a national file of one area type): every row or none, without a look-up.
        every = pc.is_valid(column) if values[0].is_valid else pc.is_null(column)
        return every if chosen[0].as_py() else pc.invert(every)
    return pc.is_in(column, value_set=pc.filter(values, chosen))


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
    # pyarrow reads in blocks of about 1 MB: what is kept of a national file is hundreds of small pieces per column,
    # which every later step (trimming, typing, pandas' sort) would handle one by one. One copy joins them.
    table = table.combine_chunks()
    trimmed_already = keep_rows[0] if isinstance(keep_rows, tuple) else None
    for key in text:
        if key != trimmed_already:
            table = _trimmed(table, key)
    return table


def _typed(table: pa.Table, columns: Mapping[str, str], file: str, content: bytes,
           names: Mapping[str, str]) -> pd.DataFrame:
    """Each column typed as its kind says; a value pyarrow rejects is named with its line (and its column with the
    header's own name, `names`: key -> header name) by the careful checks."""
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
            converted[key] = _careful_column(table, key, kind, file, content, names.get(key, key))
    frame = pa.table(converted).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for key, kind in columns.items():
        if kind in DATE_FORMATS:
            frame[key] = frame[key].astype("datetime64[ns]")
    return frame


def empty_column(kind: str, length: int) -> pd.Series | pd.api.extensions.ExtensionArray:
    """A column of `length` missing values typed as `kind` says (see read_csv_typed)."""
    # Built from arrays, not from a list of missing values (which pandas inspects one by one).
    if kind == "int":
        return pd.arrays.IntegerArray(np.zeros(length, dtype="int64"), np.ones(length, dtype=bool))
    if kind == "float":
        return pd.Series(np.full(length, np.nan), dtype="float64")
    if kind in DATE_FORMATS:
        return pd.Series(np.full(length, np.datetime64("NaT", "ns")), dtype="datetime64[ns]")
    return pd.Series(np.empty(length, dtype=object), dtype="object")  # numpy fills it with None


def _careful_column(table: pa.Table, key: str, kind: str, file: str, content: bytes, name: str) -> pa.Array:
    """The column pyarrow rejected, typed by the careful converters: they raise the line-numbered error for a value
    that is not of its kind, naming the column `name` as the file's header has it."""
    # set_axis, not index=: given a Series, the DataFrame constructor would align it to the line numbers (moving
    # values between rows once rows have been filtered out), where each value must keep its own row's line.
    values = table[key].to_pandas()
    naive = table["__line"].to_pandas().to_numpy()
    try:
        return _converted(pd.DataFrame({name: values.set_axis(naive - 2)}), name, kind, file)
    except ParseError:
        # __line counts data rows; a file with blank lines, repeated headers or quoted line breaks has its lines
        # elsewhere. Counted exactly only now, to name them (the error is raised again, with the file's lines).
        starts = [line for line, _ in _records(content)]
        if len(starts) < naive.max(initial=0) - 1:
            raise
        lines = np.array([starts[ordinal - 2] for ordinal in naive], dtype="int64")
        return _converted(pd.DataFrame({name: values.set_axis(lines - 2)}), name, kind, file)


def _converted(raw: pd.DataFrame, column: str, kind: str, file: str) -> pa.Array:
    """`raw[column]` typed as `kind` says by the careful converters."""
    if kind == "int":
        return pa.array(to_int(raw, column, file), type=pa.int64())
    if kind == "float":
        return pa.array(to_float(raw, column, file), type=pa.float64())
    return pa.array(to_date(raw, column, file, DATE_FORMATS[kind]))
