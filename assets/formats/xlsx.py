"""Which cells of an .xlsx workbook are formatted as percentages, read from the workbook's XML.

calamine (python-calamine) reads cell values only. openpyxl reads formats too, but it builds the workbook's whole
stylesheet first: 0.13 s of the ONS sample's 0.3 s parse, every night. A cell's format is two look-ups in the
file: its style index (`<c r="B7" s="12">` in the sheet) into `cellXfs` in xl/styles.xml, whose `numFmtId` is a
built-in format (9 `0%` and 10 `0.00%` are the percentages) or one of `numFmts`. Anything this cannot follow (a
sheet or its part not found, a cell without its reference) returns None, and the caller asks openpyxl instead.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from xml.etree import ElementTree

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# Excel's built-in number formats that show a percentage (ECMA-376 part 1, 18.8.30).
BUILTIN_PERCENT = {9, 10}
REFERENCE = re.compile(r"([A-Z]+)(\d+)")


class PercentFormats:
    """An open workbook's percentage-formatted cells, sheet by sheet; `cells` returns None where it cannot tell."""

    def __init__(self, content: bytes) -> None:
        self._zip = zipfile.ZipFile(io.BytesIO(content))
        self._parts = self._sheet_parts()
        self._styles = self._percent_styles()

    def close(self) -> None:
        self._zip.close()

    def _xml(self, name: str) -> ElementTree.Element | None:
        try:
            return ElementTree.fromstring(self._zip.read(name))
        except (KeyError, ElementTree.ParseError):
            return None

    def _sheet_parts(self) -> dict[str, str]:
        """Sheet name -> the zip member holding it (xl/workbook.xml and its relationships)."""
        book, rels = self._xml("xl/workbook.xml"), self._xml("xl/_rels/workbook.xml.rels")
        if book is None or rels is None:
            return {}
        targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{PACKAGE_RELATIONSHIPS}Relationship")}
        parts = {}
        for sheet in book.iter(f"{MAIN}sheet"):
            target = targets.get(sheet.get(RELATIONSHIP), "")
            if target:
                # Targets are relative to xl/, or absolute within the package.
                parts[sheet.get("name")] = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                    posixpath.join("xl", target))
        return parts

    def _percent_styles(self) -> set[int] | None:
        """The indexes into cellXfs (a cell's `s`) whose number format shows a percentage."""
        styles = self._xml("xl/styles.xml")
        if styles is None:
            return None
        try:
            codes = {int(fmt.get("numFmtId", -1)): fmt.get("formatCode", "")
                     for fmt in styles.iter(f"{MAIN}numFmt")}
            cell_xfs = styles.find(f"{MAIN}cellXfs")
            if cell_xfs is None:
                return set()
            return {index for index, xf in enumerate(cell_xfs.findall(f"{MAIN}xf"))
                    if (number_format := int(xf.get("numFmtId", 0))) in BUILTIN_PERCENT
                    or "%" in codes.get(number_format, "")}
        except ValueError:  # an id that is not a number: not a stylesheet this can follow
            return None

    def cells(self, sheet: str, rows: range, columns: range) -> set[tuple[int, int]] | None:
        """The (row, column) pairs, counted from 0, in `rows` x `columns` of `sheet` whose format shows a
        percentage; None when the workbook's XML cannot say."""
        part = self._parts.get(sheet)
        if self._styles is None or part is None:
            return None
        found = set()
        try:
            with self._zip.open(part) as xml:
                for _, element in ElementTree.iterparse(xml):
                    if element.tag != f"{MAIN}c":
                        if element.tag == f"{MAIN}row":
                            element.clear()  # a row's cells are done with: keep memory flat on long sheets
                        continue
                    match = REFERENCE.fullmatch(element.get("r", ""))
                    if match is None:
                        return None
                    row, column = int(match[2]) - 1, _column(match[1])
                    if row in rows and column in columns and int(element.get("s", 0)) in self._styles:
                        found.add((row, column))
        except (KeyError, ValueError, ElementTree.ParseError):
            return None
        return found


def _column(letters: str) -> int:
    """`A` -> 0, `BD` -> 55. openpyxl.utils' column_index_from_string, less one, without importing openpyxl (which
    every process loading the definitions would then pay for)."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1
