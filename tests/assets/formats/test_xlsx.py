"""Which cells of the real ONS workbooks show percentages, read from their XML (assets/formats/xlsx.py), against
openpyxl's reading of the same cells' formats; and a workbook whose XML it cannot follow, read through openpyxl."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from assets.formats.xlsx import PercentFormats
from assets.ingest.source import RawFile
from assets.sources.ons_infection_survey import parse_infection_survey
from resources.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "samples" / "ons_infection_survey" / "20220819covid19infectionsurveydatasetsengland.xlsx"
WORKBOOKS = [*sorted((REPO_ROOT / "data" / "reference" / "ons").glob("*.xlsx")), SAMPLE]
# The sheets the parser reads formats in (the official estimates, London's daily series, the row per region); the
# first rows and columns hold the tables of every release.
SHEETS, ROWS, COLUMNS = ("1a", "1b", "1e", "1f"), range(0, 60), range(0, 60)


@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda path: path.name)
def test_the_cells_shown_as_percentages_are_those_openpyxl_finds(path: Path) -> None:
    content = path.read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    formats = PercentFormats(content)
    try:
        for sheet in (s for s in SHEETS if s in book.sheetnames):
            expected = {(r, c)
                        for r, row in enumerate(book[sheet].iter_rows(min_row=1, max_row=ROWS.stop,
                                                                      max_col=COLUMNS.stop))
                        for c, cell in enumerate(row) if "%" in (getattr(cell, "number_format", "") or "")}
            assert formats.cells(sheet, ROWS, COLUMNS) == expected, sheet
    finally:
        formats.close()
        book.close()


def without_cell_references(content: bytes, sheet_part: str) -> bytes:
    """The workbook with its sheet's cells stripped of their `r` references (optional in the file format)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as book, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in book.infolist():
            data = book.read(item)
            if item.filename == sheet_part:
                data = re.sub(rb'(<c\b[^>]*?) r="[A-Z]+\d+"', rb"\1", data)
            copy.writestr(item, data)
    return out.getvalue()


def test_a_sheet_whose_cells_have_no_references_is_read_through_openpyxl() -> None:
    """The 9 October 2020 workbook stores London's daily series as proportions shown as percentages (sheet 1f)."""
    path = REPO_ROOT / "data" / "reference" / "ons" / "covid19infectionsurveydatasets20201009.xlsx"
    content = path.read_bytes()
    formats = PercentFormats(content)
    part = formats._parts["1f"]
    formats.close()
    stripped = without_cell_references(content, part)
    assert PercentFormats(stripped).cells("1f", ROWS, COLUMNS) is None
    original = parse_infection_survey({"workbook": RawFile(path.name, content)})
    read = parse_infection_survey({"workbook": RawFile(path.name, stripped)})
    london = read[read["estimate_kind"] == "modelled_daily"]
    assert len(london) and london["percent_positive"].max() > 0.1  # percentages, not proportions
    pd.testing.assert_frame_equal(read, original)
