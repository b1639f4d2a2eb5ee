"""Read the shipped samples directly (csv/json/openpyxl), independent of the pipeline's parsers, so tests can
compare the pipeline's output with numbers taken straight from the files."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import unescape

from assets.ingest.source import RawFile, Source
from resources.settings import samples_dir


def sample_path(source: str, file: str) -> Path:
    return samples_dir() / source / file


def sample_rows(source: str, file: str) -> list[dict[str, str]]:
    """The file's rows as text. Real releases that concatenated one response per area repeat the header line
    before each area: those lines are not rows."""
    with sample_path(source, file).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return [row for row in reader if list(row.values()) != reader.fieldnames]


def sample_json(source: str, file: str) -> dict:
    return json.loads(sample_path(source, file).read_text(encoding="utf-8"))


def sample_files(source: Source) -> dict[str, RawFile]:
    """The shipped files keyed by request name, as the clean asset would receive them."""
    return source.sample_files()


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# The three healthcare columns of PHE's download (phe_healthcare's measures as published).
PHE_HEALTHCARE_MEASURES = ("newAdmissions", "hospitalCases", "covidOccupiedMVBeds")


def sample_csv_without(source: str, file: str, keep_row: Callable[[dict[str, str]], bool] = lambda row: True,
                       drop_columns: tuple[str, ...] = ()) -> bytes:
    """A shipped CSV again through the csv module, without the rows `keep_row` rejects and the `drop_columns`."""
    return csv_bytes([{name: value for name, value in row.items() if name not in drop_columns}
                      for row in sample_rows(source, file) if keep_row(row)])


def ukhsa_records(rows: list[dict[str, str]], kind: str, geography: str, metric: str, column: str,
                  delayed_days: int = 0) -> list[dict]:
    """Rows of a PHE-format sample as UKHSA API records of `metric` (the documented record shape; `column` the
    sample's column of it); a day the sample left blank has no record, as the API leaves out days with no value."""
    rows = sorted((r for r in rows if r[column]), key=lambda r: r["date"])
    return [
        {"theme": "infectious_disease", "sub_theme": "respiratory", "topic": "COVID-19", "geography_type": kind,
         "geography": geography, "geography_code": row["areaCode"], "metric": metric, "metric_group": "cases",
         "stratum": "default", "sex": "all", "age": "all", "year": int(row["date"][:4]), "epiweek": 1,
         "date": row["date"], "metric_value": int(row[column]),
         "in_reporting_delay_period": index >= len(rows) - delayed_days}
        for index, row in enumerate(rows)
    ]


def revised_london_file(day: str, extra: int) -> bytes:
    """The shipped London cases file with `extra` cases added on `day`: a later release that revised one day."""
    rows = sample_rows("phe_cases_by_region", "region_london.csv")
    for row in rows:
        if row["date"] == day:
            row["newCasesBySpecimenDate"] = str(int(row["newCasesBySpecimenDate"]) + extra)
    return csv_bytes(rows)


def clean_sample_tables(origin: str = "sample") -> dict:
    """Every source's clean table parsed from the shipped samples (what the nightly run stores), recorded as
    obtained from `origin` ("sample" as in sample mode; "download" as if served by the upstreams)."""
    from assets.sources import SOURCES

    tables = {name: source.parse_sample() for name, source in SOURCES.items()}
    for table in tables.values():
        table.attrs["origin"] = origin
    return tables


def sample_populations() -> dict[str, int]:
    """Population per area straight from the lookup CSV (five-year bands only), for independent checks."""
    from resources.settings import LOOKUPS_DIR

    totals: dict[str, int] = {}
    with (LOOKUPS_DIR / "populations_mid2020.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["age"] not in ("00_59", "60+"):
                totals[row["areaCode"]] = totals.get(row["areaCode"], 0) + int(row["population"])
    return totals


def expected_headline(file: str, reporting_delay_days: int) -> dict:
    """The report's headline numbers for one area (the file's first: London, or England in the file of the four
    nations), computed straight from a cases-by-region sample file."""
    from datetime import date, timedelta

    rows = sample_rows("phe_cases_by_region", file)
    code = rows[0]["areaCode"]
    cases = {date.fromisoformat(r["date"]): int(r["newCasesBySpecimenDate"]) for r in rows if r["areaCode"] == code}
    complete = max(cases) - timedelta(days=reporting_delay_days)
    week = sum(cases[complete - timedelta(days=i)] for i in range(7))
    before = sum(cases[complete - timedelta(days=i)] for i in range(7, 14))
    return {"complete_day": complete, "cases_on_day": cases[complete], "seven_day_total": week,
            "previous_seven_day_total": before, "change": week - before,
            "seven_day_rate": round(week / sample_populations()[code] * 100_000, 1), "area_code": code}


def workbook_with_sheets(content: bytes, keep: Callable[[str], bool]) -> bytes:
    """An .xlsx whose table of sheets (xl/workbook.xml) lists only the sheets `keep` accepts, every other part
    unchanged: a reader sees no other sheet, and those it sees hold the published cells. openpyxl takes 5-10 s to
    load and save the real ONS workbook for its 8 MB historic-series sheet; this, well under a second."""
    def listed(sheet: re.Match) -> str:
        return sheet[0] if keep(unescape(sheet[1], {"&quot;": '"'})) else ""

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as book, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy:
        for item in book.infolist():
            data = book.read(item)
            if item.filename == "xl/workbook.xml":
                data = re.sub(r'<sheet name="([^"]*)"[^>]*/>', listed, data.decode("utf-8")).encode("utf-8")
            copy.writestr(item, data)
    return out.getvalue()
