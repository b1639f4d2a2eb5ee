from __future__ import annotations

import csv
import io

import openpyxl
import pandas as pd
import pytest

from assets.ons_infection_survey import SOURCE, parse_infection_survey
from assets.source import RawFile
from checks.validation import validate_table
from data.rebuild import reference_values
from resources.errors import ParseError
from resources.settings import REPO_ROOT
from tests.samples import sample_files, sample_path

WORKBOOK = "covid19infectionsurveydatasets20230113england.xlsx"


def reference_rows() -> list[dict[str, str]]:
    path = REPO_ROOT / "data" / "reference" / "20230113covid19infectionsurveydatasetengland_sheet1a.csv"
    return list(csv.DictReader(path.open()))


def workbook_bytes(edit) -> bytes:
    book = openpyxl.load_workbook(sample_path("ons_infection_survey", WORKBOOK))
    edit(book)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_england_estimates_match_the_published_sheet() -> None:
    table = parse_infection_survey(sample_files(SOURCE))
    table = table[table["area_code"] == "E92000001"].reset_index(drop=True)
    reference = reference_rows()
    assert len(table) == len(reference)
    assert set(table["estimate_kind"]) == {"official_weekly"}
    assert table["percent_positive"].tolist() == [float(r["percentage_pop_est"]) for r in reference]
    assert table["people_upper"].sum() == sum(int(r["pop_est_uci"]) for r in reference)
    first = table.iloc[0]
    assert (first["period_start"], first["period_end"]) == (pd.Timestamp("2020-04-27"), pd.Timestamp("2020-05-03"))
    assert validate_table(table, SOURCE.schema).passed


def test_london_modelled_daily_series_matches_its_source() -> None:
    table = parse_infection_survey(sample_files(SOURCE))
    london = table[table["area_code"] == "E12000007"].set_index("period_end")
    source = {
        line.split()[0]: [float(v) for v in line.split()[1:]]
        for line in reference_values.LONDON_ONS_MODELLED.strip().splitlines()
    }
    assert len(london) == len(source) == 28
    estimate, upper, lower = source["2022-03-10"]
    row = london.loc[pd.Timestamp("2022-03-10")]
    assert row["percent_positive"] == pytest.approx(estimate * 100, abs=1e-4)
    assert (row["percent_lower"], row["percent_upper"]) == (
        pytest.approx(lower * 100, abs=1e-4), pytest.approx(upper * 100, abs=1e-4)
    )
    assert set(london["estimate_kind"]) == {"modelled_daily"}
    assert (london["period_start"] == london.index).all()
    assert validate_table(table, SOURCE.schema).passed


def test_header_found_by_text_when_rows_move_and_spacing_changes() -> None:
    def move(book):
        sheet = book["1a"]
        sheet.insert_rows(1, amount=3)  # more note rows above the table than usual
        sheet.cell(row=8, column=2).value = "Estimated  average %  of the population testing positive for COVID-19"

    files = {"workbook": RawFile(WORKBOOK, workbook_bytes(move))}
    table = parse_infection_survey(files)
    assert (table["area_code"] == "E92000001").sum() == len(reference_rows())


def test_workbook_without_the_table_names_the_sheets() -> None:
    def drop(book):
        del book["1a"]
        del book["1k"]

    with pytest.raises(ParseError, match=r"no sheet has a table headed 'Time period'.*sheets: Contents"):
        parse_infection_survey({"workbook": RawFile(WORKBOOK, workbook_bytes(drop))})


def test_an_html_page_instead_of_the_workbook() -> None:
    page = b"<!DOCTYPE html><html><body>Page not found</body></html>"
    with pytest.raises(ParseError, match="HTML page where a Excel workbook file was expected"):
        parse_infection_survey({"workbook": RawFile(WORKBOOK, page)})


def test_crossed_interval_fails_validation() -> None:
    table = parse_infection_survey(sample_files(SOURCE))
    table.loc[5, "percent_lower"] = table.loc[5, "percent_positive"] + 1  # a London modelled row
    outcome = validate_table(table, SOURCE.schema)
    assert not outcome.passed
    assert outcome.failure_count == 1
    assert "table: credible interval not ordered lower <= estimate <= upper failed for 1 row(s) (e.g. row 5)" in (
        outcome.summary()
    )


def test_a_regional_table_missing_an_interval_column_is_named() -> None:
    def drop_upper(book):
        book["1k"].cell(row=6, column=4).value = "London\r\nSomething else"

    with pytest.raises(ParseError, match=r"sheet '1k': London has no column\(s\) \['95% upper credible"):
        parse_infection_survey({"workbook": RawFile(WORKBOOK, workbook_bytes(drop_upper))})
