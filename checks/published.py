"""The files published to the London Datastore: names, columns, row order and the exact bytes sent.

Two groups. **The GLA's files** are the contract the dataset's existing users read: the names, columns, column
order, row order, missing-value marker, quoting and line ends of the files the GLA's R scripts published (real
copies in data/reference/gla_published/). **Our additional files** carry what the GLA did not publish, under names
of our own. Both are defined here once, without Dagster: the tables are built to it (assets/datastore_tables.py),
the report reads and fingerprints it (reports/), and the publish step checks and sends it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.csv as pacsv

from checks import schemas
from checks.validation import ValidationOutcome, validate_table

# The GLA's files.
GLA_BOROUGHS = "phe_cases_london_boroughs"
GLA_LONDON_ENGLAND = "phe_cases_london_england"
GLA_CASES_AGE = "phe_cases_age_london"
GLA_HEALTHCARE = "phe_healthcare"
GLA_ADMISSIONS_AGE = "phe_healthcare_admissions_age"
# Ours.
BOROUGH_RATES = "phe_cases_rates_london_boroughs"
LONDON_ENGLAND_RATES = "phe_cases_rates_london_england"
AGE_SEX = "phe_cases_age_sex_london"
HEALTHCARE = "phe_healthcare_london"
ONS_POSITIVITY = "ons_positivity_london"
NHS_111 = "nhs_111_999_online_london"


@dataclass(frozen=True)
class CsvStyle:
    """How a file's bytes are written: the missing-value marker, the line end, and whether the header and text
    cells are quoted (R's write.csv does; readr's write_csv and pandas do not, except where a value needs it)."""

    missing: str = ""
    line_end: str = "\n"
    quote_text: bool = False


# Our files: pandas' CSV, empty cells for missing values.
OURS = CsvStyle()
# readr::write_csv, as the GLA's later scripts wrote: LF, unquoted, NA.
READR = CsvStyle(missing="NA")
# utils::write.csv(row.names = FALSE), as the GLA wrote phe_cases_london_england.csv: CRLF, quoted header and text.
WRITE_CSV = CsvStyle(missing="NA", line_end="\r\n", quote_text=True)


@dataclass(frozen=True)
class PublishedTable:
    name: str
    model: type[pa.DataFrameModel]  # its column order is the file's column order
    sort: tuple[str, ...]  # the row order; also the key "what changed" matches rows on
    main_value: str  # the column the report's "largest revisions" are measured on
    description: str  # the resource's description on the Datastore
    gla: bool = False  # one of the GLA's files, whose shape existing users rely on
    style: CsvStyle = OURS
    descending: frozenset[str] = frozenset()  # sort columns in descending order
    ranks: Mapping[str, Sequence[str]] = field(default_factory=dict)  # sort columns ordered by a list, not A-Z

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def columns(self) -> list[str]:
        return list(self.model.to_schema().columns)

    @property
    def date_column(self) -> str:
        """The column that dates each row (a day, a week's end, or an estimate's period end)."""
        return next(c for c in ("date", "week_ending", "period_end") if c in self.columns)

    def to_bytes(self, table: pd.DataFrame) -> bytes:
        """Exactly the bytes published."""
        if self.style == OURS:
            return to_csv_bytes(table)
        return _styled_csv(table, self.style)


def _table(name: str, model: type[pa.DataFrameModel], sort: tuple[str, ...], main_value: str, description: str,
           **kwargs: object) -> PublishedTable:
    return PublishedTable(name, model, sort, main_value, description, **kwargs)


PUBLISHED: dict[str, PublishedTable] = {t.name: t for t in (
    _table(GLA_BOROUGHS, schemas.GlaBoroughCases, ("date", "area_name"), "new_cases",
           "Daily and cumulative lab-confirmed COVID-19 cases by specimen date for London's boroughs (City of "
           "London with Hackney).", gla=True, style=READR),
    _table(GLA_LONDON_ENGLAND, schemas.GlaLondonEngland, ("area_name", "date"), "new_cases",
           "Daily and cumulative lab-confirmed COVID-19 cases by specimen date, London and the rest of England.",
           gla=True, style=WRITE_CSV),
    _table(GLA_CASES_AGE, schemas.GlaCasesAge, ("date", "age_band"), "cases",
           "Daily COVID-19 cases by specimen date in London by age band, with the 7-day sum and rate per 100,000.",
           gla=True, style=READR, descending=frozenset({"date"}), ranks={"age_band": schemas.GLA_AGE_BANDS}),
    _table(GLA_HEALTHCARE, schemas.GlaHealthcare, ("date", "area_name", "healthcare_type"), "patients",
           "COVID-19 patients admitted to hospital, in hospital and in mechanical ventilation beds: London (NHS "
           "region) and the rest of England.", gla=True, style=READR, descending=frozenset({"healthcare_type"})),
    _table(GLA_ADMISSIONS_AGE, schemas.GlaAdmissionsAge, ("age", "week_ending"), "weekly_admissions",
           "Weekly COVID-19 hospital admissions by age band, NHS region London, with the rate per 100,000.",
           gla=True, style=READR, descending=frozenset({"week_ending"})),
    _table(BOROUGH_RATES, schemas.PublishedBoroughCases, ("area_code", "date"), "new_cases",
           "London's boroughs (City of London with Hackney): daily and cumulative cases by specimen date with "
           "rates per 100,000 and 7-day totals and rates."),
    _table(LONDON_ENGLAND_RATES, schemas.PublishedLondonEngland, ("area_code", "date"), "new_cases",
           "London and England: daily and cumulative cases by specimen date with rates per 100,000 and 7-day "
           "totals and rates."),
    _table(AGE_SEX, schemas.PublishedAgeSex, ("date", "sex", "age_band"), "total_cases",
           "Cumulative COVID-19 cases in London by sex and five-year age band."),
    _table(HEALTHCARE, schemas.PublishedHealthcare, ("date",), "new_admissions",
           "COVID-19 hospital admissions (with the 7-day total), patients in hospital and on mechanical "
           "ventilation, NHS region London, one row per day."),
    _table(ONS_POSITIVITY, schemas.PublishedOnsPositivity, ("area_code", "estimate_kind", "period_end"),
           "percent_positive",
           "ONS COVID-19 Infection Survey: modelled % of people testing positive, with 95% credible intervals."),
    _table(NHS_111, schemas.PublishedNhs111, ("date", "site_type", "ccg_code", "sex", "age_band"), "count",
           "Potential COVID-19 triages (111 and 999 calls) and 111 online assessments for London's CCGs."),
)}
GLA_FILES = tuple(name for name, table in PUBLISHED.items() if table.gla)


def in_published_form(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` cut to the table's columns, in its order, rows in its order."""
    table = PUBLISHED[name]

    def rank(column: pd.Series) -> pd.Series:
        order = table.ranks.get(column.name)
        return column.map({value: i for i, value in enumerate(order)}) if order else column

    return frame[table.columns].sort_values(
        list(table.sort), ascending=[c not in table.descending for c in table.sort], key=rank, ignore_index=True,
    )


def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """Our files' bytes: UTF-8 CSV, no index, ISO dates, empty cells for missing values."""
    return table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n").encode("utf-8")


def format_number(value: float) -> str:
    """A double as R prints it in a CSV: the shortest text that reads back as the same double (so a difference of
    two 1-decimal rates keeps its floating-point tail, e.g. 8.100000000000023, exactly as the GLA's files show
    it), without a trailing `.0`."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _text_cells(column: pd.Series, style: CsvStyle) -> list[str]:
    missing = column.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column):
        cells = column.dt.strftime("%Y-%m-%d").tolist()
    elif pd.api.types.is_integer_dtype(column):
        cells = [str(v) for v in column.astype("Int64").fillna(0).tolist()]
    elif pd.api.types.is_float_dtype(column):
        cells = [format_number(v) if not math.isnan(v) else "" for v in column.tolist()]
    else:
        texts = column.astype("string").fillna("").tolist()
        if style.quote_text:
            cells = ['"' + text.replace('"', '""') + '"' for text in texts]
        else:
            cells = [f'"{t.replace(chr(34), chr(34) * 2)}"' if any(c in t for c in ',"\r\n') else t for t in texts]
    return [style.missing if gone else cell for cell, gone in zip(cells, missing, strict=True)]


def _styled_csv(table: pd.DataFrame, style: CsvStyle) -> bytes:
    header = [f'"{c}"' if style.quote_text else c for c in table.columns]
    columns = [_text_cells(table[c], style) for c in table.columns]
    lines = [",".join(header), *(",".join(row) for row in zip(*columns, strict=True))]
    return (style.line_end.join(lines) + style.line_end).encode("utf-8")


def published_bytes(tables: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """Each table's file exactly as published, by table name (serialised once, for the version and the files)."""
    return {name: PUBLISHED[name].to_bytes(table) for name, table in tables.items()}


def read_back(content: bytes) -> pd.DataFrame:
    """A published file read back as its text: every cell as written (a missing-value marker included), so two
    versions' files compare as their users read them. Read by pyarrow: a version's files are tens of megabytes at
    national scale, which pandas' reader takes four times as long over."""
    header = next(csv.reader([content.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")]), [])
    return pacsv.read_csv(
        io.BytesIO(content), parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pyarrow.string()), null_values=[],
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    ).to_pandas()


def by_file_name(contents: Mapping[str, bytes]) -> dict[str, bytes]:
    """The same files (published_bytes) keyed by their file names, as they are sent and kept beside the report."""
    return {PUBLISHED[name].file_name: content for name, content in contents.items()}


def by_table_name(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Published files keyed by file name (as kept beside a report) keyed by table name again, as published_bytes
    gives them; a file no table publishes now is left out."""
    return {name: files[table.file_name] for name, table in PUBLISHED.items() if table.file_name in files}


def fingerprint_bytes(contents: Mapping[str, bytes]) -> str:
    """The report version: a content hash of exactly these published files (by table name)."""
    digest = hashlib.sha256()
    for name in sorted(contents):
        digest.update(name.encode() + b"\n" + contents[name] + b"\n")
    return digest.hexdigest()[:12]


def fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """The report version of these tables: fingerprint_bytes of their published bytes."""
    return fingerprint_bytes(published_bytes(tables))


def validate_published(tables: Mapping[str, pd.DataFrame]) -> dict[str, ValidationOutcome]:
    """Run every published table's model; returns the outcomes by table name."""
    return {name: validate_table(tables[name], table.model) for name, table in PUBLISHED.items()}


def rest_of_england(england: pd.Series, london: pd.Series) -> tuple[pd.Series, list]:
    """England minus London, aligned on the index (dates). Where it would be negative (the two series disagree)
    it is left empty rather than clipped, and those index values are returned for the report to name."""
    difference = england.astype("Int64") - london.astype("Int64")
    negative = difference < 0
    return difference.mask(negative.fillna(False)), list(difference.index[negative.fillna(False)])
