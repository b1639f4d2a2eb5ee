"""ONS COVID-19 Infection Survey: the estimated percentage of people testing positive, with its 95% interval.

One row per area, kind of estimate and period (`period_start` to `period_end`). `percent_positive` is the
estimated share of people in private households who would test positive, as a percentage; `percent_lower` and
`percent_upper` bound its 95% credible (or confidence) interval; `people_*` are the matching numbers of people where
published. `estimate_kind` is `official_weekly` (England's headline estimates, one per week or fortnight),
`modelled_daily` (London's modelled daily series in this release) or `regional_estimate` (London's row of the
release's one-row-per-region table, for its reference day, where the workbook has one). The survey ended in March
2023: live mode fetches its final workbook.

The workbooks changed layout often, so tables are found by what they hold, never by sheet number: England's
weekly table by its `Time period` and estimate headers (the one titled for England, not the UK summary's copy);
the regional modelled daily table by a `Date` column and a London group of estimate columns, never the stacked
"historic series" sheet of earlier releases; the interval columns by their place after each estimate. One, two or
three header rows (region, measure, `Lower`/`Upper`), a region and measure in one cell (`London\nModelled % ...`),
line breaks and spacing in headers, text dates and Excel dates are all read. Whether a column holds proportions
(0.0333, shown as 3.33% by the cell's format, as early workbooks did) or percentages is decided cell by cell from
the cell's own number format, and proportions are turned into percentages. The release date is read from the
cover sheet. The metadata's notes say which sheet each table came from.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import openpyxl
import pandas as pd
from python_calamine import CalamineWorkbook

from assets.formats.reading import add_note, check_not_error_page
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import ENGLAND, LONDON_REGION
from checks.schemas import OnsInfectionSurvey
from resources.errors import ParseError

SAMPLE = "20220819covid19infectionsurveydatasetsengland.xlsx"
# Tables start within the first rows of a sheet (title and notes above the header); looking further only costs
# time on the workbooks' many large sheets that hold other tables.
HEADER_SEARCH_ROWS = 40
# The estimate itself: "Estimated average % of the population testing positive for COVID-19", "... that had
# COVID-19 (weighted)" (2020), "Modelled % testing positive for COVID-19".
POINT = re.compile(r"^(estimated average|modelled) % (of the population )?(testing positive|that had)")
PEOPLE = re.compile(r"^(estimated average|modelled|estimated|estimate of the) number of people")
LOWER = re.compile(r"^95% lower")
UPPER = re.compile(r"^95% upper")
PERIOD = re.compile(r"^(\d{1,2} \w+ \d{4}) to (\d{1,2} \w+ \d{4})$")
PUBLICATION = re.compile(r"^publication date:?\s")
RELEASE = re.compile(r"^date of publication:\s*(\d{1,2} \w+ \d{4})")
MISSING = {"", "-", "*", "[c]", "[x]", "n/a", "na"}


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("workbook", base_url, ".xlsx", SAMPLE)]


def normalise(value: object) -> str:
    """Header text as compared: no-break spaces and line-break styles unified, spaces collapsed, none around '/'
    (`confidence/ credible`), each line trimmed, lower case."""
    if value is None:
        return ""
    text = str(value).replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\s*/\s*", "/", "\n".join(line for line in lines if line)).casefold()


@dataclass
class Estimate:
    """Where one estimate's columns are: the point estimate, its interval, and the number of people with theirs."""

    percent: int
    lower: int | None = None
    upper: int | None = None
    people: dict[str, int] = field(default_factory=dict)


@dataclass
class Table:
    sheet: str
    header_row: int
    data_start: int
    label: str  # the first column's heading: "time period", "date" or "region"
    title: str  # the text above the header (title and notes)
    estimates: dict[str | None, Estimate]  # by group (a region or country), None when ungrouped
    stacked: bool  # the sheet stacks several publications ("Publication Date: ..." rows)


def _cells(row: list) -> list[str]:
    return [normalise(cell) for cell in row]


def find_table(rows: list[list], sheet: str) -> Table | None:
    """The first table in the sheet whose header has an estimate of the % testing positive."""
    for r in range(min(len(rows), HEADER_SEARCH_ROWS)):
        cells = _cells(rows[r])
        if not any(POINT.search(cell.split("\n")[-1]) for cell in cells):
            continue
        above = _cells(rows[r - 1]) if r else []
        below = _cells(rows[r + 1]) if r + 1 < len(rows) else []
        # The row above names the groups (regions, countries) only if it has names over the estimate columns; a note
        # above a one-row header (`I don't use this table...`) sits in the first column alone.
        grouped = any(above[1:])
        # A third header row of `Lower`/`Upper` under a merged `95% ... interval` cell (early 2021).
        split = any(cell in ("lower", "upper") for cell in below)
        groups: list[str | None] = []
        measures: list[str] = []
        group = None
        for i, cell in enumerate(cells):
            if "\n" in cell:  # `London\nModelled % ...`: the group in the cell itself (2023)
                group, measure = cell.split("\n", 1)
            else:
                if grouped and i < len(above) and above[i]:
                    group = above[i]
                measure = cell
            if split and i < len(below) and below[i] in ("lower", "upper"):
                measure = f"95% {below[i]}"
            groups.append(group if grouped or "\n" in cell else None)
            measures.append(measure)
        label = measures[0] or (above[0] if above else "")
        title = " ".join(" ".join(_cells(row)) for row in rows[:r])
        stacked = any(PUBLICATION.match(normalise(row[0]) if row else "") for row in rows)
        return Table(sheet, r, r + (2 if split else 1), label, title, _bind(groups, measures), stacked)
    return None


def _bind(groups: list[str | None], measures: list[str]) -> dict[str | None, Estimate]:
    """Each estimate and the interval columns that follow it (by position: in some releases every interval heading
    reads the same, whichever estimate it belongs to), and the number of people with its interval."""
    estimates: dict[str | None, Estimate] = {}
    current: tuple[str, Estimate | dict] | None = None
    for i, (group, measure) in enumerate(zip(groups, measures, strict=True)):
        if POINT.search(measure):
            estimate = estimates.setdefault(group, Estimate(i))
            current = ("percent", estimate)
        elif PEOPLE.search(measure) and group in estimates:
            current = ("people", estimates[group])
            estimates[group].people["people_positive"] = i
        elif current and current[1] is estimates.get(group) and (LOWER.search(measure) or UPPER.search(measure)):
            kind, estimate = current
            bound = "lower" if LOWER.search(measure) else "upper"
            if kind == "percent" and getattr(estimate, bound) is None:
                setattr(estimate, bound, i)
            elif kind == "people":
                estimate.people.setdefault(f"people_{bound}", i)
        elif measure:
            current = None
    return estimates


def cell_date(value: object) -> date | None:
    """A date cell: an Excel date, an Excel serial number, or text (`15 June 2021`, ISO, dd/mm/yyyy); None if it
    is not a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(value))).date()
    text = " ".join(str(value or "").split())
    for fmt in ("%d %B %Y", "%Y-%m-%d", "%d/%m/%Y", "%d %b %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _number(value: object, where: str, file: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in MISSING):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        raise ParseError(file, f"{where}: {value!r} is not a number") from None


def _excel(column: int) -> str:
    name = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


@dataclass
class Rows:
    """The rows read from one table: the period, each value, and where it was (for its number format)."""

    records: list[dict] = field(default_factory=list)
    cells: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> record field it fed


def _read_values(rows: list[list], r: int, estimate: Estimate, record: dict, out: Rows, table: Table,
                 file: str) -> None:
    columns = {"percent_positive": estimate.percent, "percent_lower": estimate.lower,
               "percent_upper": estimate.upper, **estimate.people}
    for name, column in columns.items():
        if column is None:
            continue
        value = rows[r][column] if column < len(rows[r]) else None
        record[name] = _number(value, f"sheet {table.sheet!r} cell {_excel(column)}{r + 1}", file)
        out.cells[(r, column)] = name


def read_weekly(rows: list[list], table: Table, group: str | None, file: str) -> Rows:
    """England's weekly (or fortnightly) estimates: one row per `d Month yyyy to d Month yyyy` period; label rows
    between them (`Fortnightly weighted estimates`) are skipped; the table ends at `Source:` or a blank cell."""
    out = Rows()
    for r in range(table.data_start, len(rows)):
        first = " ".join(str(rows[r][0] or "").split()) if rows[r] else ""
        if not first or normalise(first).startswith(("source:", "notes:", "note:")):
            break
        match = PERIOD.match(first)
        if not match:
            if re.match(r"^\d{1,2} \w+ \d{4}", first):  # a period, but not as expected
                raise ParseError(file, f"sheet {table.sheet!r} row {r + 1}: time period {first!r} is not "
                                       "'d Month yyyy to d Month yyyy'")
            continue  # a section label inside the table
        start, end = (cell_date(part) for part in match.groups())
        if start is None or end is None:
            raise ParseError(file, f"sheet {table.sheet!r} row {r + 1}: time period {first!r} has no real dates")
        record = {"period_start": start, "period_end": end, "row": r}
        _read_values(rows, r, table.estimates[group], record, out, table, file)
        if record["percent_positive"] is not None:
            out.records.append(record)
    return out


def read_daily(rows: list[list], table: Table, group: str | None, file: str) -> Rows:
    """A modelled daily series: one row per date; it ends at the first row whose first cell is not a date (the
    `Source:` line, the next block of a stacked sheet)."""
    out = Rows()
    for r in range(table.data_start, len(rows)):
        day = cell_date(rows[r][0]) if rows[r] else None
        if day is None:
            break
        record = {"period_start": day, "period_end": day, "row": r}
        _read_values(rows, r, table.estimates[group], record, out, table, file)
        if record["percent_positive"] is not None:
            out.records.append(record)
    return out


def read_regional(rows: list[list], table: Table, file: str) -> Rows:
    """London's row of a one-row-per-region table, dated by the reference day (or period) above the header."""
    out = Rows()
    reference = None
    for r in range(table.header_row):
        first = rows[r][0] if rows[r] else None
        text = " ".join(str(first or "").split())
        if (match := PERIOD.match(text)) is not None:
            reference = (cell_date(match[1]), cell_date(match[2]))
        elif (day := cell_date(first)) is not None and not isinstance(first, (int, float)):
            reference = (day, day)
    for r in range(table.data_start, len(rows)):
        if rows[r] and normalise(rows[r][0]) == "london" and reference is not None:
            record = {"period_start": reference[0], "period_end": reference[1], "row": r}
            _read_values(rows, r, table.estimates[None], record, out, table, file)
            if record["percent_positive"] is not None:
                out.records.append(record)
            break
    return out


def proportions_to_percent(book: openpyxl.Workbook, sheet: str, rows: Rows) -> tuple[int, int]:
    """Multiply by 100 every value whose cell is formatted as a percentage: it holds a proportion (early workbooks
    stored 0.0333 and showed 3.33%). calamine reads values only, so the formats come from openpyxl, which reads
    just this table's rectangle of the sheet. Returns (cells converted, cells read)."""
    percent = {cell for cell, name in rows.cells.items() if name.startswith("percent")}
    if not percent:
        return 0, 0
    top, bottom = min(r for r, _ in percent), max(r for r, _ in percent)
    left, right = min(c for _, c in percent), max(c for _, c in percent)
    formats = {}
    for r, row in enumerate(book[sheet].iter_rows(min_row=top + 1, max_row=bottom + 1, min_col=left + 1,
                                                  max_col=right + 1), start=top):
        for c, cell in enumerate(row, start=left):
            if (r, c) in percent:
                formats[(r, c)] = getattr(cell, "number_format", "") or ""
    converted = 0
    by_row = {record["row"]: record for record in rows.records}
    for r, c in percent:
        record, name = by_row.get(r), rows.cells[(r, c)]
        if record is not None and "%" in formats.get((r, c), "") and record.get(name) is not None:
            record[name] *= 100
            converted += 1
    return converted, len(percent)


def release_date(sheets: Mapping[str, list[list]]) -> date | None:
    """`Date of publication: 19 August 2022` from the cover sheet (whatever it is called); never the file name."""
    for rows in sheets.values():
        for row in rows[:HEADER_SEARCH_ROWS]:
            for cell in row:
                if isinstance(cell, str) and (match := RELEASE.match(normalise(cell))):
                    return cell_date(match[1].title())
    return None


def _frame(rows: Rows, code: str, name: str, kind: str) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows.records).drop(columns=["row"])
    frame.insert(0, "estimate_kind", kind)
    frame.insert(0, "area_name", name)
    frame.insert(0, "area_code", code)
    return frame


def parse_infection_survey(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["workbook"]
    check_not_error_page(file.content, file.name, "Excel workbook")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(file.content))
    except Exception as exc:  # calamine raises its own error types for every kind of damaged file
        raise ParseError(file.name, f"could not be opened as an Excel workbook: {exc}") from exc
    sheets = {sheet: workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
              for sheet in workbook.sheet_names}
    tables = [t for sheet, rows in sheets.items() if (t := find_table(rows, sheet)) is not None]
    notes, parts = [], []

    weekly = _england_weekly(tables)
    if weekly is not None:
        table, group = weekly
        parts.append((table, read_weekly(sheets[table.sheet], table, group, file.name), ENGLAND, "England",
                      "official_weekly"))
    daily = _london_daily(tables, sheets, file.name)
    if daily is not None:
        parts.append((daily, read_daily(sheets[daily.sheet], daily, "london", file.name), LONDON_REGION, "London",
                      "modelled_daily"))
    else:
        notes.append(f"{file.name} has no regional modelled daily table with London (searched sheets: "
                     f"{', '.join(sheets)})")
    regional = next((t for t in tables if t.label == "region" and None in t.estimates), None)
    if regional is not None:
        parts.append((regional, read_regional(sheets[regional.sheet], regional, file.name), LONDON_REGION, "London",
                      "regional_estimate"))
    parts = [part for part in parts if part[1].records]
    if not parts:
        raise ParseError(
            file.name,
            "no sheet has a table headed 'Time period' and 'Estimated average % of the population testing "
            "positive ...' for England, or 'Date' and a London group of 'Modelled % testing positive ...' columns "
            f"(sheets: {', '.join(sheets)})",
        )
    frames = []
    book = openpyxl.load_workbook(io.BytesIO(file.content), read_only=True, data_only=True)
    try:
        converted_counts = [proportions_to_percent(book, table.sheet, rows) for table, rows, *_ in parts]
    finally:
        book.close()
    for (table, rows, code, name, kind), (converted, read) in zip(parts, converted_counts, strict=True):
        unit = (f"; {converted} of {read} values were proportions formatted as percentages, multiplied by 100"
                if converted else "")
        notes.append(f"{kind.replace('_', ' ')} for {name}: sheet {table.sheet.strip()!r}, "
                     f"{len(rows.records)} rows{unit}")
        frames.append(_frame(rows, code, name, kind))
    released = release_date(sheets)
    notes.append(f"release date {released:%d %B %Y} (cover sheet)" if released else
                 "no 'Date of publication' found on the cover sheet")
    clean = _clean(pd.concat(frames, ignore_index=True), file.name)
    for note in notes:
        add_note(clean, note)
    if released:
        clean.attrs["release_date"] = released.isoformat()
    return clean


def _england_weekly(tables: list[Table]) -> tuple[Table, str | None] | None:
    """England's headline table: the one titled for England (not the UK summary's copy), else England's group
    of a table grouped by country."""
    weekly = [t for t in tables if t.label == "time period" and not t.stacked]
    for table in weekly:
        if None in table.estimates and "england" in table.title and "uk countries" not in table.title:
            return table, None
    for table in weekly:
        if "england" in table.estimates:
            return table, "england"
    return None


def _london_daily(tables: list[Table], sheets: Mapping[str, list[list]], file: str) -> Table | None:
    """The current release's regional modelled daily table with London. A sheet stacking earlier publications
    (the historic series) is never taken, except in the final releases whose one regional sheet stacks the current
    block first: then only that first block, and only if no later date appears in the sheet."""
    daily = [t for t in tables if t.label == "date" and "london" in t.estimates]
    current = [t for t in daily if not t.stacked and "historic series" not in t.title]
    if len(current) > 1:
        raise ParseError(file, f"more than one regional modelled daily table: sheets "
                               f"{', '.join(repr(t.sheet) for t in current)}")
    if current:
        return current[0]
    for table in (t for t in daily if "historic series" not in t.title):
        rows = sheets[table.sheet]
        first_block = read_daily(rows, table, "london", file).records
        every = [d for row in rows[table.data_start:] if row and (d := cell_date(row[0])) is not None]
        if first_block and every and max(r["period_end"] for r in first_block) >= max(every):
            return table
    return None


def _clean(raw: pd.DataFrame, file: str) -> pd.DataFrame:
    clean = pd.DataFrame({
        "area_code": raw["area_code"].astype(str),
        "area_name": raw["area_name"].astype(str),
        "estimate_kind": raw["estimate_kind"].astype(str),
        "period_start": pd.to_datetime(raw["period_start"]).astype("datetime64[ns]"),
        "period_end": pd.to_datetime(raw["period_end"]).astype("datetime64[ns]"),
    })
    for column in ("percent_positive", "percent_lower", "percent_upper"):
        clean[column] = (raw[column] if column in raw else pd.Series(float("nan"), index=raw.index)).astype("float64")
    for column in ("people_positive", "people_lower", "people_upper"):
        values = raw[column] if column in raw else pd.Series(float("nan"), index=raw.index)
        clean[column] = pd.to_numeric(values).round().astype("Int64")
    return clean.sort_values(["area_code", "estimate_kind", "period_end"], ignore_index=True)


SOURCE = Source(
    name="ons_infection_survey",
    presentation=Presentation(title="ONS COVID-19 Infection Survey modelled positivity", description=__doc__,
                              date_column="period_end"),
    schema=OnsInfectionSurvey,
    variants=(
        Variant(api="ons", build_requests=build_requests, parse=parse_infection_survey, sample_release="2022-08-19"),
    ),
    freshness=Freshness(expected_lag_days=14, update_every_hours=7 * 24),
    status=Status.ENDED,
    status_note="The ONS COVID-19 Infection Survey ended in March 2023: its final workbook is the latest release.",
)
