"""ONS COVID-19 Infection Survey: the estimated percentage of people testing positive, with its 95% interval.

One row per area, kind of estimate and period (`period_start` to `period_end`). `percent_positive` is the
estimated share of people in private households who would test positive, as a percentage; `percent_lower` and
`percent_upper` bound its 95% credible (or confidence) interval; `people_*` are the matching numbers of people where
published. `estimate_kind` is `official_weekly` (England's headline estimates, one per week or fortnight),
`modelled_daily` (London's modelled daily series in this release) or `regional_estimate` (London's row of the
release's one-row-per-region table, for its reference day, where the workbook has one). The survey ended in March
2023: live mode fetches its final workbook.

Every release from the first (28 May 2020) to the last is read, although the workbooks changed layout often, so
tables are found by what they hold, never by sheet number:
- England's official estimates: the table headed `Time period` and an estimate of the % testing positive, titled for
  England (not the UK summary's copy), in all its sections (fortnightly, then modelled); in the first release, which
  had no such table, the headline tables of one estimate each ("between 11th May to 24th May 2020").
- London's modelled daily series: a `Date` column and a London group of estimate columns, with any number of columns
  per region (the "1 in N" ratios beside them are not read), never the stacked "historic series" sheet. The first
  release had no regional table: London's absence is noted, not a failure.
- London's row of the table with one row per region, where there is one.
One, two or three header rows (region, measure, `Lower`/`Upper`), a region and measure in one cell
(`London\\nModelled % ...`), line breaks and spacing in headers, text dates and Excel dates are all read.

Period labels are read as ONS wrote them: a year missing on the first date comes from the second (across a year
end), a year missing on both from the release date; a first date's year that cannot be right (after the second date,
or months before it, as in `3 January 2012 to 9 January 2021`) is corrected from the second date and the correction
is noted. Whether a value is a proportion (0.0333, shown as 3.33% by the cell's format, as early workbooks stored it)
or a percentage is decided cell by cell from the cell's own number format. The release date is read from the cover
sheet, else from the file's name, else from the workbook's metadata, and the notes say which.

Every row of a table read that looks like data (a label and a number) and was not read is named in the notes (sheet,
row, label, why); other regions' rows and earlier publications stacked below the current one are counted.
"""

from __future__ import annotations

import calendar
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from python_calamine import CalamineWorkbook

from assets.formats.reading import LeftOut, add_note, check_not_error_page, note_left_out
from assets.formats.xlsx import PercentFormats
from assets.ingest.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import ENGLAND, LONDON_REGION
from checks.schemas import OnsInfectionSurvey
from resources.errors import ParseError

SAMPLE = "20220819covid19infectionsurveydatasetsengland.xlsx"
# Tables start within the first rows of a sheet (title and notes above the header); looking further only costs
# time on the workbooks' many large sheets that hold other tables.
HEADER_SEARCH_ROWS = 40
# The estimate itself: "Estimated average % of the population testing positive for COVID-19", "... that had
# COVID-19 (weighted)" (2020), "Modelled % testing positive for COVID-19", "% testing positive for COVID-19"
# (the regional tables of 2020-21; antibody tables say "for antibodies" and variant tables "new variant
# compatible": they are not this), and "Estimated % ..." (a wording other ONS tables used: a release we have not seen
# could).
POINT = re.compile(r"^((estimated( average)?|modelled) % (of the population )?(testing positive|that had)"
                   r"|% testing positive for covid)")
PEOPLE = re.compile(r"^((estimated average|modelled|estimated|estimate of the) number of people"
                    r"|number testing positive for covid)")
LOWER = re.compile(r"^95% lower")
UPPER = re.compile(r"^95% upper")
PUBLICATION = re.compile(r"^publication date:?\s")
RELEASE = re.compile(r"^date of publication:\s*(.+)$")
TABLE_END = ("source:", "notes:", "note:")
MISSING = {"", "-", "*", "[c]", "[x]", "n/a", "na"}
MONTHS = {name.casefold(): number for number, name in enumerate(calendar.month_name) if name} | {
    name.casefold(): number for number, name in enumerate(calendar.month_abbr) if name} | {"sept": 9}
# `27 April to 10 May 2020`, `between 11th May to 24th May 2020`, `21 August and 01 October 2020`: a day and month,
# each with or without a year.
DAY_MONTH_YEAR = r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?(?:\s+(\d{4}))?"
PERIOD = re.compile(rf"^(?:between\s+)?{DAY_MONTH_YEAR}\s+(?:to|and|-|–)\s+{DAY_MONTH_YEAR}$", re.IGNORECASE)
TRAILING_DAY = re.compile(r"(\d{1,2}(?:st|nd|rd|th)? [a-z]+ \d{4})\s*$", re.IGNORECASE)
# A survey period is a week or a fortnight (a few weeks at the start): a first date further back than this before
# the second has a mistyped year.
LONGEST_PERIOD = timedelta(days=92)
MEASURES = ("percent_positive", "percent_lower", "percent_upper", "people_positive", "people_lower", "people_upper")


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("workbook", base_url, ".xlsx", SAMPLE)]


def normalise(value: object) -> str:
    """Header text as compared: no-break spaces and line-break styles unified, spaces collapsed, none around '/'
    (`confidence/ credible`), each line trimmed, lower case."""
    if value is None:
        return ""
    if not isinstance(value, str):
        # A number or a date: its text has no spaces to collapse, line breaks or slashes (most cells searched).
        return str(value).casefold()
    text = value.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\s*/\s*", "/", "\n".join(line for line in lines if line)).casefold()


def label_of(row: list) -> str:
    """A row's first cell as written, spaces collapsed (the label that names a row in a note)."""
    return " ".join(str(row[0] if row and row[0] is not None else "").split())


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
        # A header names the estimate in a column of its own; a row whose label alone names it is the first
        # release's one-estimate table (read by read_headline).
        if not any(POINT.search(cell.split("\n")[-1]) for cell in cells[1:]):
            continue
        above = _cells(rows[r - 1]) if r else []
        below = _cells(rows[r + 1]) if r + 1 < len(rows) else []
        # The row above names the groups (regions, countries) only if it has names over the estimate columns; a note
        # above a one-row header (`I don't use this table...`) sits in the first column alone.
        grouped = any(above[1:])
        # A third header row of `Lower`/`Upper` under a merged `95% ... interval` cell (2020 to early 2021).
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
        label = measures[0] or (above[0] if above and grouped else "")
        title = " ".join(" ".join(_cells(row)) for row in rows[:r])
        stacked = any(PUBLICATION.match(normalise(row[0]) if row else "") for row in rows)
        return Table(sheet, r, r + (2 if split else 1), label, title, _bind(groups, measures), stacked)
    return None


def _bind(groups: list[str | None], measures: list[str]) -> dict[str | None, Estimate]:
    """Each estimate and the interval columns that follow it (by position: in some releases every interval heading
    reads the same, whichever estimate it belongs to), and the number of people with its interval. Columns after
    anything else (a "1 in N" ratio and its interval) are not read."""
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
    text = re.sub(r"^(\d{1,2})(st|nd|rd|th)\b", r"\1", " ".join(str(value or "").split()), flags=re.IGNORECASE)
    for fmt in ("%d %B %Y", "%Y-%m-%d", "%d/%m/%Y", "%d %b %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    correction: str | None = None  # how a mistyped year was corrected, for the notes
    year_from_release: bool = False  # the label had no year: it came from the release date


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def read_period(label: str, released: date | None) -> Period | None:
    """A period label as ONS wrote it (see the module's help); None if the label is not a period. A period that
    cannot be dated (no year and no release date, or no survey period whichever year is taken) is a ValueError
    saying why."""
    match = PERIOD.match(" ".join(label.split()))
    if match is None:
        return None
    day1, month1, year1, day2, month2, year2 = match.groups()
    first, second = MONTHS.get(month1.casefold()), MONTHS.get(month2.casefold())
    if first is None or second is None:
        return None
    from_release = year1 is None and year2 is None
    if year2 is not None:
        end_year = int(year2)
    elif year1 is not None:  # `27 December 2020 to 2 January`: the second date in the year of or after the first
        end_year = int(year1) + (1 if (second, int(day2)) < (first, int(day1)) else 0)
    elif released is not None:  # no year at all: the latest such day on or before the release
        end_year = released.year - (1 if (second, int(day2)) > (released.month, released.day) else 0)
    else:
        raise ValueError("the period has no year and the release date is unknown")
    end = _day(end_year, second, int(day2))
    inferred = None if end is None else _day(end.year, first, int(day1))
    if end is not None and inferred is not None and inferred > end:
        inferred = _day(end.year - 1, first, int(day1))
    if end is None or inferred is None:
        raise ValueError("a date in the period does not exist")
    if end - inferred > LONGEST_PERIOD:
        raise ValueError(f"the first date cannot be placed within {LONGEST_PERIOD.days} days before the second")
    if year1 is None:
        return Period(inferred, end, year_from_release=from_release)
    start = _day(int(year1), first, int(day1))
    if start is not None and end - LONGEST_PERIOD <= start <= end:
        return Period(start, end)
    return Period(inferred, end, correction=f"{' '.join(label.split())!r} read as {inferred:%-d %B %Y} to "
                                            f"{end:%-d %B %Y} (its first date is not within a survey period "
                                            "before the second)")


def _title_period(text: str, released: date | None) -> Period | None:
    """The period a table's title line gives, if it is one that can be dated."""
    try:
        return read_period(text, released)
    except ValueError:
        return None


def _is_number(value: object) -> bool:
    """Whether a cell holds a number, read as the values of a table are (_number)."""
    try:
        return _number(value, "", "") is not None
    except ParseError:
        return False


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


def _where(sheet: str, row: int) -> str:
    return f"sheet {sheet.strip()!r} row {row + 1}"


@dataclass
class Rows:
    """What one table gave: its records, where each value was (for its number format), the rows that look like data
    and were not read, the rows skipped by design (counted by kind), and the period labels corrected."""

    sheet: str
    records: list[dict] = field(default_factory=list)
    cells: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)  # (row, column) -> (record, field)
    left_out: list[LeftOut] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)
    corrections: list[str] = field(default_factory=list)
    years_from_release: int = 0

    def read(self, rows: list[list], r: int, columns: Mapping[str, int | None], record: dict, file: str) -> None:
        """Read the row's values into `record` (columns: field -> column); keep it if it has an estimate."""
        cells = {}
        for name, column in columns.items():
            if column is None:
                continue
            value = rows[r][column] if column < len(rows[r]) else None
            record[name] = _number(value, f"sheet {self.sheet!r} cell {_excel(column)}{r + 1}", file)
            cells[(r, column)] = name
        if record.get("percent_positive") is None:
            if any(record.get(name) is not None for name in columns):
                self.left_out.append(LeftOut(_where(self.sheet, r), label_of(rows[r]), "no estimate in the row"))
            return
        for cell, name in cells.items():
            self.cells[cell] = (len(self.records), name)
        self.records.append(record)


def _columns(estimate: Estimate) -> dict[str, int | None]:
    return {"percent_positive": estimate.percent, "percent_lower": estimate.lower, "percent_upper": estimate.upper,
            **estimate.people}


def _has_number(row: list) -> bool:
    return any(_is_number(cell) for cell in row[1:] if cell is not None and cell != "")


def _table_rows(rows: list[list], table: Table) -> range:
    """The table's rows: from its first data row to `Source:`/`Notes:` or the next table's header."""
    for r in range(table.data_start, len(rows)):
        first = normalise(rows[r][0]) if rows[r] else ""
        if first.startswith(TABLE_END) or any(POINT.search(cell) for cell in _cells(rows[r][1:])):
            return range(table.data_start, r)
    return range(table.data_start, len(rows))


def read_weekly(rows: list[list], table: Table, group: str | None, file: str, released: date | None) -> Rows:
    """England's official estimates: one row per period, in every section (the label rows between sections, such as
    `Fortnightly weighted estimates`, have no numbers)."""
    out = Rows(table.sheet)
    for r in _table_rows(rows, table):
        label = label_of(rows[r])
        if not label:
            continue
        try:
            period = read_period(label, released)
        except ValueError as error:
            if _has_number(rows[r]):
                out.left_out.append(LeftOut(_where(table.sheet, r), label, str(error)))
            continue
        if period is None:
            if _has_number(rows[r]):
                out.left_out.append(LeftOut(_where(table.sheet, r), label,
                                            "not a period 'd Month [yyyy] to d Month yyyy'"))
            continue
        if period.correction:
            out.corrections.append(f"{_where(table.sheet, r)}: {period.correction}")
        out.years_from_release += period.year_from_release
        out.read(rows, r, _columns(table.estimates[group]),
                 {"period_start": period.start, "period_end": period.end}, file)
    return out


def read_daily(rows: list[list], table: Table, group: str | None, file: str) -> Rows:
    """A modelled daily series: one row per date, until the first row whose first cell is not a date (the `Source:`
    line, the next block of a stacked sheet). Dated rows further down are counted as earlier publications in a
    stacked sheet, and named as left out in any other."""
    out = Rows(table.sheet)
    r = table.data_start
    while r < len(rows) and (day := cell_date(rows[r][0] if rows[r] else None)) is not None:
        out.read(rows, r, _columns(table.estimates[group]), {"period_start": day, "period_end": day}, file)
        r += 1
    below = [r for r in range(r, len(rows)) if rows[r] and cell_date(rows[r][0]) is not None
             and not isinstance(rows[r][0], (int, float)) and _has_number(rows[r])]
    if table.stacked:
        out.expected["rows of earlier publications stacked below the current one"] = len(below)
    else:
        out.left_out += [LeftOut(_where(table.sheet, r), label_of(rows[r]), "a dated row below the table's end")
                         for r in below]
    return out


def read_regional(rows: list[list], table: Table, file: str) -> Rows:
    """London's row of a one-row-per-region table, dated by the reference day (or period) above the header; the
    other regions' rows are counted."""
    out = Rows(table.sheet)
    reference = None
    for r in range(table.header_row):
        first, label = (rows[r][0] if rows[r] else None), label_of(rows[r])
        if (period := _title_period(label, None)) is not None:
            reference = (period.start, period.end)
        elif (day := cell_date(first)) is not None and not isinstance(first, (int, float)):
            reference = (day, day)
        elif (ending := TRAILING_DAY.search(label)) and (day := cell_date(ending[1])) is not None:
            reference = (day, day)  # the title's end: `... by region, England, 31 December 2022` (2023)
    others = 0
    for r in _table_rows(rows, table):
        if not rows[r] or not _has_number(rows[r]):
            continue
        if normalise(rows[r][0]) != "london":
            others += 1
        elif reference is None:
            out.left_out.append(LeftOut(_where(table.sheet, r), "London", "no reference day above the table"))
        else:
            out.read(rows, r, _columns(table.estimates[None]),
                     {"period_start": reference[0], "period_end": reference[1]}, file)
    out.expected["rows of other regions"] = others
    return out


def read_headline(rows: list[list], sheet: str, file: str, released: date | None) -> Rows | None:
    """The first release's one-estimate tables (`Overall estimated % ... in England between 11th May to 24th May
    2020`): the estimate in the row labelled with it, the interval under `Lower`/`Upper` above, the number of people
    in the row labelled with it. None if the sheet is not such a table for England."""
    title = [r for r in range(min(len(rows), HEADER_SEARCH_ROWS)) if rows[r] and not _has_number(rows[r])]
    estimate = next((r for r in range(min(len(rows), HEADER_SEARCH_ROWS))
                     if POINT.search(normalise(rows[r][0] if rows[r] else "")) and _has_number(rows[r])), None)
    if estimate is None or "england" not in " ".join(normalise(rows[r][0]) for r in title if r < estimate):
        return None
    period = next((p for r in title if r < estimate
                   and (p := _title_period(label_of(rows[r]), released))), None)
    if period is None:
        return None
    bounds = {cell: c for r in range(estimate) for c, cell in enumerate(_cells(rows[r])) if cell in ("lower", "upper")}
    people = next((r for r in range(estimate + 1, min(len(rows), estimate + 4))
                   if rows[r] and PEOPLE.search(normalise(rows[r][0]))), None)
    out = Rows(sheet)
    record = {"period_start": period.start, "period_end": period.end}
    columns = {"percent_positive": 1, "percent_lower": bounds.get("lower"), "percent_upper": bounds.get("upper")}
    if people is not None:  # the people's row read into the same record, after the estimate's row
        for name, column in {"people_positive": 1, "people_lower": bounds.get("lower"),
                             "people_upper": bounds.get("upper")}.items():
            if column is not None and column < len(rows[people]):
                record[name] = _number(rows[people][column], f"sheet {sheet!r} cell {_excel(column)}{people + 1}",
                                       file)
    out.read(rows, estimate, columns, record, file)
    return out


def proportions_to_percent(formats: PercentFormats, content: bytes, rows: Rows) -> tuple[int, int]:
    """Multiply by 100 every value whose cell is formatted as a percentage: it holds a proportion (early workbooks
    stored 0.0333 and showed 3.33%). calamine reads values only: the formats come from the workbook's XML
    (assets/formats/xlsx.py), or from openpyxl where that cannot tell. Returns (cells converted, cells read)."""
    percent = {cell: place for cell, place in rows.cells.items() if place[1].startswith("percent")}
    if not percent:
        return 0, 0
    top, bottom = min(r for r, _ in percent), max(r for r, _ in percent)
    left, right = min(c for _, c in percent), max(c for _, c in percent)
    formatted = formats.cells(rows.sheet, range(top, bottom + 1), range(left, right + 1))
    if formatted is None:
        formatted = _percent_cells_by_openpyxl(content, rows.sheet, top, bottom, left, right)
    converted = 0
    for cell in formatted & percent.keys():
        record, name = percent[cell]
        if rows.records[record].get(name) is not None:
            rows.records[record][name] *= 100
            converted += 1
    return converted, len(percent)


def _percent_cells_by_openpyxl(content: bytes, sheet: str, top: int, bottom: int, left: int,
                               right: int) -> set[tuple[int, int]]:
    """The percentage-formatted cells of a rectangle (counted from 0), as openpyxl reads their formats."""
    # Imported here, not with the module: every process that loads the definitions (the code server, make approve)
    # would pay for it, and only a workbook whose XML xlsx.PercentFormats cannot follow needs it.
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        return {(r, c)
                for r, row in enumerate(book[sheet].iter_rows(min_row=top + 1, max_row=bottom + 1,
                                                              min_col=left + 1, max_col=right + 1), start=top)
                for c, cell in enumerate(row, start=left)
                if "%" in (getattr(cell, "number_format", "") or "")}
    finally:
        book.close()


def release_date(sheets: Mapping[str, list[list]], file: RawFile) -> tuple[date | None, str]:
    """The release date and where it came from: `Date of publication: 19 August 2022` (or `28th May 2020`) on the
    cover sheet, else the date in the file's name (`...datasets20201009.xlsx`), else the workbook's last-modified
    date."""
    for rows in sheets.values():
        for row in rows[:HEADER_SEARCH_ROWS]:
            for cell in row:
                if isinstance(cell, str) and (match := RELEASE.match(normalise(cell))):
                    if (day := cell_date(match[1].title())) is not None:
                        return day, "the cover sheet"
    for digits in re.findall(r"(?<!\d)(20\d{6})", file.name):
        if (day := _day(int(digits[:4]), int(digits[4:6]), int(digits[6:]))) is not None:
            return day, "the file's name"
    try:
        with zipfile.ZipFile(io.BytesIO(file.content)) as archive:
            core = archive.read("docProps/core.xml").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile):
        core = ""
    if match := re.search(r"<dcterms:modified[^>]*>(\d{4})-(\d{2})-(\d{2})", core):
        return date(*map(int, match.groups())), "the workbook's last-modified date"
    return None, ""


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


def _regional(tables: list[Table], sheets: Mapping[str, list[list]]) -> Table | None:
    """The one-row-per-region table: ungrouped estimates, and a London row among other regions' rows (its first
    column heading is `Region`, or empty in 2020-21)."""
    for table in tables:
        if None not in table.estimates or table.stacked or "historic series" in table.title:
            continue
        labels = {normalise(sheets[table.sheet][r][0]) for r in _table_rows(sheets[table.sheet], table)
                  if sheets[table.sheet][r]}
        if "london" in labels and len(labels & {"north east", "south east", "south west", "east midlands"}) >= 2:
            return table
    return None


def _headline(sheets: Mapping[str, list[list]], file: str, released: date | None) -> list[Rows]:
    """The first release's one-estimate tables for England, each a different period."""
    found: dict[tuple[date, date], Rows] = {}
    for sheet, rows in sheets.items():
        read = read_headline(rows, sheet, file, released)
        if read is not None and read.records:
            period = (read.records[0]["period_start"], read.records[0]["period_end"])
            found.setdefault(period, read)
    return list(found.values())


@dataclass
class Part:
    """One series read from the workbook: what it is and the rows it came from."""

    rows: Rows
    code: str
    name: str
    kind: str


def parse_infection_survey(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["workbook"]
    check_not_error_page(file.content, file.name, "Excel workbook")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(file.content))
    except Exception as exc:  # calamine raises its own error types for every kind of damaged file
        raise ParseError(file.name, f"could not be opened as an Excel workbook: {exc}") from exc
    sheets = {sheet: workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
              for sheet in workbook.sheet_names}
    released, released_from = release_date(sheets, file)
    parts, notes = _read_parts(sheets, file.name, released)
    if not parts:
        raise ParseError(
            file.name,
            "no sheet has a table headed 'Time period' and 'Estimated average % of the population testing "
            "positive ...' for England, or 'Date' and a London group of 'Modelled % testing positive ...' columns "
            f"(sheets: {', '.join(sheets)})",
        )
    formats = PercentFormats(file.content)
    try:
        units = [proportions_to_percent(formats, file.content, part.rows) for part in parts]
    finally:
        formats.close()
    for part, (converted, read) in zip(parts, units, strict=True):
        unit = (f"; {converted} of {read} values were proportions formatted as percentages, multiplied by 100"
                if converted else "")
        notes.append(f"{part.kind.replace('_', ' ')} for {part.name}: sheet {part.rows.sheet.strip()!r}, "
                     f"{len(part.rows.records)} row{'' if len(part.rows.records) == 1 else 's'}{unit}")
        if part.rows.years_from_release:
            notes.append(f"{part.rows.years_from_release} period label(s) in sheet {part.rows.sheet.strip()!r} have "
                         f"no year: taken from the release date")
        notes += [f"period label corrected: {correction}" for correction in part.rows.corrections]
    notes.append(f"release date {released:%-d %B %Y} (from {released_from})" if released else
                 "no release date: no 'Date of publication' on the cover sheet, no date in the file's name or "
                 "the workbook's metadata")
    clean = _clean(pd.concat([_frame(part) for part in parts], ignore_index=True))
    for note in notes:
        add_note(clean, note)
    note_left_out(clean, file.name, [row for part in parts for row in part.rows.left_out],
                  _expected(parts))
    if released:
        clean.attrs["release_date"] = released.isoformat()
    return clean


def _read_parts(sheets: Mapping[str, list[list]], file: str, released: date | None) -> tuple[list[Part], list[str]]:
    """Each series the workbook has, and notes on what it lacks."""
    tables = [t for sheet, rows in sheets.items() if (t := find_table(rows, sheet)) is not None]
    parts, notes = [], []
    if (weekly := _england_weekly(tables)) is not None:
        table, group = weekly
        parts.append(Part(read_weekly(sheets[table.sheet], table, group, file, released), ENGLAND, "England",
                          "official_weekly"))
    else:
        parts += [Part(rows, ENGLAND, "England", "official_weekly") for rows in _headline(sheets, file, released)]
    if (daily := _london_daily(tables, sheets, file)) is not None:
        parts.append(Part(read_daily(sheets[daily.sheet], daily, "london", file), LONDON_REGION, "London",
                          "modelled_daily"))
    else:
        notes.append(f"{file} has no regional modelled daily table with London (searched sheets: "
                     f"{', '.join(sheets)})")
    if (regional := _regional(tables, sheets)) is not None:
        parts.append(Part(read_regional(sheets[regional.sheet], regional, file), LONDON_REGION, "London",
                          "regional_estimate"))
    return [part for part in parts if part.rows.records or part.rows.left_out], notes


def _expected(parts: list[Part]) -> dict[str, int]:
    expected: dict[str, int] = {}
    for part in parts:
        for kind, count in part.rows.expected.items():
            key = f"{kind} (sheet {part.rows.sheet.strip()!r})"
            expected[key] = expected.get(key, 0) + count
    return expected


def _frame(part: Part) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(part.rows.records,
                                      columns=["period_start", "period_end", *MEASURES])
    frame.insert(0, "estimate_kind", part.kind)
    frame.insert(0, "area_name", part.name)
    frame.insert(0, "area_code", part.code)
    return frame


def _clean(raw: pd.DataFrame) -> pd.DataFrame:
    clean = pd.DataFrame({
        "area_code": raw["area_code"].astype(str),
        "area_name": raw["area_name"].astype(str),
        "estimate_kind": raw["estimate_kind"].astype(str),
        "period_start": pd.to_datetime(raw["period_start"]).astype("datetime64[ns]"),
        "period_end": pd.to_datetime(raw["period_end"]).astype("datetime64[ns]"),
    })
    for column in ("percent_positive", "percent_lower", "percent_upper"):
        clean[column] = raw[column].astype("float64")
    for column in ("people_positive", "people_lower", "people_upper"):
        clean[column] = pd.to_numeric(raw[column]).round().astype("Int64")
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
