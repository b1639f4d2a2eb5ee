"""ONS COVID-19 Infection Survey: modelled percentage of people testing positive, with its 95% credible interval.

One row per area, kind of estimate and period (`period_start` to `period_end`). `percent_positive` is the
estimated share of people in private households who would test positive; `percent_lower`/`percent_upper` bound
its 95% credible interval; `people_*` are the matching numbers of people where published. `estimate_kind` is
`official_weekly` (the headline weekly estimate) or `modelled_daily` (the model's daily series for a region).
London (E12000007) comes from the regional modelled table; England (E92000001) from the headline table, for
comparison. The survey ended in March 2023: live mode fetches its final workbook. Source: the ONS Excel workbook,
read by header text rather than fixed cell positions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import pandas as pd
from python_calamine import CalamineWorkbook

from assets.parsing import check_not_error_page
from assets.source import Freshness, Presentation, RawFile, Source, SourceRequest, Status, Variant
from checks.geography import ENGLAND, LONDON_REGION
from checks.schemas import OnsInfectionSurvey
from resources.errors import ParseError

GEOGRAPHIES = {"england": (ENGLAND, "England"), "london": (LONDON_REGION, "London")}
# Header wording changed between releases ("confidence/credible", extra spaces): match on stable fragments.
COLUMN_PATTERNS = {
    "period": re.compile(r"^time period"),
    "percent_positive": re.compile(r"^estimated average % of the population testing positive"),
    "percent_lower": re.compile(r"^95% lower .*interval for percentage"),
    "percent_upper": re.compile(r"^95% upper .*interval for percentage"),
    "people_positive": re.compile(r"^estimated average number of people testing positive"),
    "people_lower": re.compile(r"^95% lower .*interval for number"),
    "people_upper": re.compile(r"^95% upper .*interval for number"),
}
REQUIRED = ("period", "percent_positive", "percent_lower", "percent_upper")
# Tables start within the first rows of a sheet (title and notes above the header); looking further only costs
# time on the workbooks' many large sheets that hold other tables.
HEADER_SEARCH_ROWS = 40
PERIOD = re.compile(r"^(\d{1,2} \w+ \d{4}) to (\d{1,2} \w+ \d{4})$")
# Regional modelled tables: a Date column, then "<Geography>\n<measure>" columns for each geography.
MODELLED_MEASURES = {
    "percent_positive": "modelled % testing positive for covid-19",
    "percent_lower": "95% lower credible interval for percentage",
    "percent_upper": "95% upper credible interval for percentage",
}


def build_requests(base_url: str) -> list[SourceRequest]:
    return [SourceRequest("workbook", base_url, ".xlsx", "covid19infectionsurveydatasets20230113england.xlsx")]


def normalise_header(value: object) -> str:
    return " ".join(str(value).split()).lower()


def _geography(rows_above_header: list[list]) -> tuple[str, str] | None:
    """The table's geography from its title line, e.g. '... testing positive for COVID-19, England'."""
    for row in rows_above_header:
        title = normalise_header(row[0]) if row else ""
        for name, geography in GEOGRAPHIES.items():
            if title.endswith(name) or f", {name}" in title:
                return geography
    return None


def _header_map(row: list) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(row):
        header = normalise_header(cell)
        for column, pattern in COLUMN_PATTERNS.items():
            if column not in found and pattern.search(header):
                found[column] = index
    return found


def _weekly_table(rows: list[list], file: str, sheet: str) -> pd.DataFrame | None:
    """The headline table: 'Time period' then estimate, interval and numbers, one geography per sheet."""
    for header_index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns = _header_map(row)
        if not all(c in columns for c in REQUIRED):
            continue
        geography = _geography(rows[:header_index])
        if geography is None:
            return None  # a table of the right shape for a geography we do not publish (e.g. Wales)
        records = []
        for line, data in enumerate(rows[header_index + 1:], start=header_index + 2):
            period = str(data[columns["period"]]).strip() if data else ""
            if not period:
                break  # the table ends at the first blank row; notes may follow
            match = PERIOD.match(" ".join(period.split()))
            if not match:
                raise ParseError(file, f"sheet {sheet!r} row {line}: time period {period!r} is not "
                                       "'d Month yyyy to d Month yyyy'")
            try:
                start, end = (pd.to_datetime(d, format="%d %B %Y").strftime("%Y-%m-%d") for d in match.groups())
            except ValueError as exc:
                raise ParseError(file, f"sheet {sheet!r} row {line}: time period {period!r}: {exc}") from exc
            record = {"period_start": start, "period_end": end}
            for column, index in columns.items():
                if column != "period":
                    record[column] = data[index] if index < len(data) else None
            records.append(record)
        if not records:
            raise ParseError(file, f"sheet {sheet!r} has the estimates header but no rows under it")
        table = pd.DataFrame.from_records(records)
        table.insert(0, "estimate_kind", "official_weekly")
        table.insert(0, "area_name", geography[1])
        table.insert(0, "area_code", geography[0])
        return table
    return None


def _cell_date(value: object) -> str | None:
    """A date cell as ISO text: calamine gives dates, older files numbers (Excel serials) or text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (pd.Timestamp("1899-12-30") + pd.Timedelta(days=int(value))).strftime("%Y-%m-%d")
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    text = str(value).strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d %B %Y"):
        try:
            return pd.to_datetime(text, format=fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    return ""


def _modelled_tables(rows: list[list], file: str, sheet: str) -> list[pd.DataFrame]:
    """Regional modelled daily tables: 'Date', then an estimate and its interval per geography."""
    for header_index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        headers = [normalise_header(cell) for cell in row]
        if not headers or headers[0] != "date":
            continue
        tables = []
        for name, (code, area_name) in GEOGRAPHIES.items():
            columns = {
                column: next((i for i, h in enumerate(headers) if h == f"{name} {measure}"), None)
                for column, measure in MODELLED_MEASURES.items()
            }
            if columns["percent_positive"] is None:
                continue
            missing = [MODELLED_MEASURES[c] for c, i in columns.items() if i is None]
            if missing:
                raise ParseError(file, f"sheet {sheet!r}: {area_name} has no column(s) {missing}")
            records = []
            for line, data in enumerate(rows[header_index + 1:], start=header_index + 2):
                day = _cell_date(data[0]) if data else None
                if day is None:
                    break
                if day == "":
                    raise ParseError(file, f"sheet {sheet!r} row {line}: {data[0]!r} is not a date")
                records.append({"period_start": day, "period_end": day,
                                **{column: data[index] for column, index in columns.items()}})
            if records:
                table = pd.DataFrame.from_records(records)
                table.insert(0, "estimate_kind", "modelled_daily")
                table.insert(0, "area_name", area_name)
                table.insert(0, "area_code", code)
                tables.append(table)
        if tables:
            return tables
    return []


def _number(table: pd.DataFrame, column: str, file: str) -> pd.Series:
    if column not in table:
        return pd.Series(pd.NA, index=table.index, dtype="float64")
    values = pd.to_numeric(table[column].replace("", None), errors="coerce")
    bad = values.isna() & table[column].notna() & (table[column].astype(str).str.strip() != "")
    if bad.any():
        raise ParseError(file, f"column {column!r} has non-numeric values: {table[column][bad].head(3).tolist()}")
    return values.astype("float64")


def parse_infection_survey(files: Mapping[str, RawFile]) -> pd.DataFrame:
    file = files["workbook"]
    check_not_error_page(file.content, file.name, "Excel workbook")
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(file.content))
    except Exception as exc:  # calamine raises its own error types for every kind of damaged file
        raise ParseError(file.name, f"could not be opened as an Excel workbook: {exc}") from exc
    tables = []
    for sheet in workbook.sheet_names:
        rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        weekly = _weekly_table(rows, file.name, sheet)
        tables.extend([weekly] if weekly is not None else _modelled_tables(rows, file.name, sheet))
    if not tables:
        raise ParseError(
            file.name,
            "no sheet has a table headed 'Time period' and 'Estimated average % of the population testing "
            "positive ...', or 'Date' and '<region> Modelled % testing positive ...', for London or England "
            f"(sheets: {', '.join(workbook.sheet_names)})",
        )
    raw = pd.concat(tables, ignore_index=True)
    clean = pd.DataFrame(
        {
            "area_code": raw["area_code"].astype(str),
            "area_name": raw["area_name"].astype(str),
            "estimate_kind": raw["estimate_kind"].astype(str),
            "period_start": pd.to_datetime(raw["period_start"], format="%Y-%m-%d").astype("datetime64[ns]"),
            "period_end": pd.to_datetime(raw["period_end"], format="%Y-%m-%d").astype("datetime64[ns]"),
        }
    )
    for column in ("percent_positive", "percent_lower", "percent_upper"):
        clean[column] = _number(raw, column, file.name)
    for column in ("people_positive", "people_lower", "people_upper"):
        clean[column] = _number(raw, column, file.name).round().astype("Int64")
    return clean.sort_values(["area_code", "estimate_kind", "period_end"], ignore_index=True)


SOURCE = Source(
    name="ons_infection_survey",
    presentation=Presentation(title="ONS COVID-19 Infection Survey modelled positivity", description=__doc__,
                              date_column="period_end"),
    schema=OnsInfectionSurvey,
    variants=(
        Variant(api="ons", build_requests=build_requests, parse=parse_infection_survey, sample_release="2023-01-13"),
    ),
    freshness=Freshness(expected_lag_days=14, update_every_hours=7 * 24),
    status=Status.ENDED,
    status_note="The ONS COVID-19 Infection Survey ended in March 2023: its final workbook is the latest release.",
)
