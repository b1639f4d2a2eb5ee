"""ONS COVID-19 Infection Survey: modelled percentage of people testing positive, with its 95% credible interval.

One row per area and period (`period_start` to `period_end`). `percent_positive` is the official estimate of the
share of people in private households who would test positive; `percent_lower`/`percent_upper` bound its 95%
credible interval; `people_*` are the matching numbers of people. London (E12000007) where the workbook has a
London table, and England (E92000001) for comparison. The survey ended in March 2023: live mode fetches its final
workbook. Source: the ONS weekly Excel workbook, read by header text rather than fixed cell positions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping

import pandas as pd
from python_calamine import CalamineWorkbook

from assets.factory import build_source_assets
from assets.parsing import check_not_error_page
from assets.source import RawFile, SourceRequest, SourceSpec
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
PERIOD = re.compile(r"^(\d{1,2} \w+ \d{4}) to (\d{1,2} \w+ \d{4})$")


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


def _table_from_sheet(rows: list[list], file: str, sheet: str) -> pd.DataFrame | None:
    for header_index, row in enumerate(rows):
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
            record = {"period_start": match[1], "period_end": match[2]}
            for column, index in columns.items():
                if column != "period":
                    record[column] = data[index] if index < len(data) else None
            records.append(record)
        if not records:
            raise ParseError(file, f"sheet {sheet!r} has the estimates header but no rows under it")
        table = pd.DataFrame.from_records(records)
        table.insert(0, "area_name", geography[1])
        table.insert(0, "area_code", geography[0])
        return table
    return None


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
        table = _table_from_sheet(rows, file.name, sheet)
        if table is not None:
            tables.append(table)
    if not tables:
        raise ParseError(
            file.name,
            "no sheet has a table headed 'Time period' and 'Estimated average % of the population testing "
            f"positive ...' for London or England (sheets: {', '.join(workbook.sheet_names)})",
        )
    raw = pd.concat(tables, ignore_index=True)
    clean = pd.DataFrame(
        {
            "area_code": raw["area_code"].astype(str),
            "area_name": raw["area_name"].astype(str),
            "period_start": pd.to_datetime(raw["period_start"], format="%d %B %Y").astype("datetime64[ns]"),
            "period_end": pd.to_datetime(raw["period_end"], format="%d %B %Y").astype("datetime64[ns]"),
        }
    )
    for column in ("percent_positive", "percent_lower", "percent_upper"):
        clean[column] = _number(raw, column, file.name)
    for column in ("people_positive", "people_lower", "people_upper"):
        clean[column] = _number(raw, column, file.name).round().astype("Int64")
    return clean.sort_values(["area_code", "period_end"], ignore_index=True)


SPEC = SourceSpec(
    name="ons_infection_survey",
    title="ONS COVID-19 Infection Survey modelled positivity",
    upstream="ons",
    description=__doc__,
    build_requests=build_requests,
    parse=parse_infection_survey,
    schema=OnsInfectionSurvey,
    date_column="period_end",
)

assets = build_source_assets(SPEC)
