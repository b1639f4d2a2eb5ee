"""The ONS Infection Survey parser on the real 19 August 2022 workbook (shipped as the sample), on edits of it that
try what a release could do, and on period labels. Every real release we hold is read in
test_ons_infection_survey_releases.py. Expected values are read with openpyxl by cell address, or from the GSS-Cogs
CSV of the 13 Jan 2023 sheet, never through the parser; edited workbooks say what was edited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from assets.ingest.source import RawFile
from assets.sources.ons_infection_survey import SAMPLE, SOURCE, parse_infection_survey, read_period
from checks.validation import validate_table
from data.rebuild import reference_values
from resources.errors import ParseError
from resources.settings import REPO_ROOT
from tests.samples import sample_files, sample_path, workbook_with_sheets

REBUILT_2023 = REPO_ROOT / "data" / "reference" / "ons" / "covid19infectionsurveydatasets20230113england_REBUILT.xlsx"


@pytest.fixture(scope="module")
def real() -> openpyxl.Workbook:
    """The shipped workbook as openpyxl reads it, with the sheets these tests read cells of."""
    read = {"Cover sheet", "1a", "1e", "1f"}
    content = workbook_with_sheets(sample_path("ons_infection_survey", SAMPLE).read_bytes(), read.__contains__)
    return openpyxl.load_workbook(io.BytesIO(content), data_only=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return parse_infection_survey(sample_files(SOURCE))


@pytest.fixture(scope="module")
def small_real() -> bytes:
    """The real workbook without the sheets no test edits, so that editing it takes a second, not ten (the
    historic-series sheet alone has 4,700 rows). Every sheet kept is as published."""
    kept = {"Cover sheet", "Contents", "UK summary - positivity", "1a", "1e", "1f"}
    return workbook_with_sheets(sample_path("ons_infection_survey", SAMPLE).read_bytes(), kept.__contains__)


def edited(workbook: Path | bytes, edit: Callable[[openpyxl.Workbook], None]) -> dict[str, RawFile]:
    content = workbook.read_bytes() if isinstance(workbook, Path) else workbook
    book = openpyxl.load_workbook(io.BytesIO(content))
    edit(book)
    out = io.BytesIO()
    book.save(out)
    return {"workbook": RawFile(SAMPLE, out.getvalue())}


def rows_of(table: pd.DataFrame, code: str, kind: str) -> pd.DataFrame:
    return table[(table["area_code"] == code) & (table["estimate_kind"] == kind)].set_index("period_end")


def test_london_s_whole_modelled_series_comes_from_the_regional_table(real, table) -> None:
    sheet = real["1f"]
    london_column = next(c for c in range(1, sheet.max_column + 1) if sheet.cell(9, c).value == "London")
    expected = {}
    for row in range(11, sheet.max_row + 1):
        day = sheet.cell(row, 1).value
        if not isinstance(day, datetime):
            break
        expected[pd.Timestamp(day)] = tuple(sheet.cell(row, london_column + i).value for i in range(3))
    london = rows_of(table, "E12000007", "modelled_daily")
    assert len(london) == len(expected) == 42
    assert {d: (r.percent_positive, r.percent_lower, r.percent_upper) for d, r in london.iterrows()} == expected
    latest = london.loc[pd.Timestamp("2022-08-06")]
    assert (latest["percent_positive"], latest["percent_lower"], latest["percent_upper"]) == (
        real["1f"]["BD52"].value, real["1f"]["BE52"].value, real["1f"]["BF52"].value)
    assert latest["people_positive"] == real["1f"]["BG52"].value


def test_england_s_official_estimates_skip_the_label_rows_and_take_the_england_sheet(real, table) -> None:
    sheet = real["1a"]
    expected = {}
    for row in range(10, sheet.max_row + 1):
        period = sheet.cell(row, 1).value
        if isinstance(period, str) and period.startswith("Source"):
            break
        if isinstance(period, str) and " to " in period and period[0].isdigit():
            end = pd.Timestamp(datetime.strptime(period.split(" to ")[1], "%d %B %Y"))
            expected[end] = (sheet.cell(row, 2).value, sheet.cell(row, 3).value, sheet.cell(row, 4).value)
    england = rows_of(table, "E92000001", "official_weekly")
    assert {d: (r.percent_positive, r.percent_lower, r.percent_upper) for d, r in england.iterrows()} == expected
    last = england.loc[pd.Timestamp("2022-08-06")]
    assert (last["period_start"], last["percent_positive"], last["people_positive"]) == (
        pd.Timestamp("2022-07-31"), real["1a"]["B130"].value, real["1a"]["E130"].value)
    assert "official weekly for England: sheet '1a'" in " ".join(table.attrs["notes"])  # not the UK summary's copy


def test_london_s_row_of_the_regional_table_and_the_release_date(real, table) -> None:
    [row] = rows_of(table, "E12000007", "regional_estimate").itertuples()
    reference = real["1e"]["A4"].value
    assert row.period_start == row.Index == pd.Timestamp(reference)
    assert real["1e"]["A16"].value == "London"
    assert (row.percent_positive, row.percent_lower, row.percent_upper) == (
        real["1e"]["C16"].value, real["1e"]["D16"].value, real["1e"]["E16"].value)
    assert real["Cover sheet"]["B18"].value == "Date of publication: 19 August 2022"
    assert table.attrs["release_date"] == "2022-08-19"
    assert validate_table(table, SOURCE.schema).passed


def test_the_historic_series_sheet_is_never_read_as_the_current_release(table, small_real) -> None:
    london = rows_of(table, "E12000007", "modelled_daily")
    assert london.index.min() == pd.Timestamp("2022-06-26")  # 1m would reach back to 2020
    without_1f = workbook_with_sheets(sample_path("ons_infection_survey", SAMPLE).read_bytes(), "1f".__ne__)
    parsed = parse_infection_survey({"workbook": RawFile(SAMPLE, without_1f)})
    assert rows_of(parsed, "E12000007", "modelled_daily").empty
    assert any("no regional modelled daily table with London" in note for note in parsed.attrs["notes"])


def test_proportions_formatted_as_percentages_are_turned_into_percentages(table, small_real) -> None:
    """Early workbooks stored 0.0261 and showed 2.61% (format 0.00%); made here from the real 1e row."""
    def as_proportions(book):
        sheet = book["1e"]
        for cell in ("C16", "D16", "E16"):
            sheet[cell].value = sheet[cell].value / 100
            sheet[cell].number_format = "0.00%"

    parsed = parse_infection_survey(edited(small_real, as_proportions))
    before = rows_of(table, "E12000007", "regional_estimate").iloc[0]
    after = rows_of(parsed, "E12000007", "regional_estimate").iloc[0]
    assert after["percent_positive"] == pytest.approx(before["percent_positive"])
    assert after["percent_upper"] == pytest.approx(before["percent_upper"])
    assert any("3 of 3 values were proportions" in note for note in parsed.attrs["notes"])


def test_the_2023_layout_region_and_measure_in_one_cell(table) -> None:
    """The rebuilt 13 Jan 2023 workbook: 1a with '... for percentage' headers, 1k with 'London\\r\\n<measure>' cells."""
    parsed = parse_infection_survey({"workbook": RawFile(REBUILT_2023.name, REBUILT_2023.read_bytes())})
    reference = list(csv.DictReader((REPO_ROOT / "data" / "reference" /
                                     "20230113covid19infectionsurveydatasetengland_sheet1a.csv").open()))
    england = rows_of(parsed, "E92000001", "official_weekly")
    assert england["percent_positive"].tolist() == [float(r["percentage_pop_est"]) for r in reference]
    london = rows_of(parsed, "E12000007", "modelled_daily")
    source = {line.split()[0]: [float(v) for v in line.split()[1:]]
              for line in reference_values.LONDON_ONS_MODELLED.strip().splitlines()}
    estimate, upper, lower = source["2022-03-10"]
    row = london.loc[pd.Timestamp("2022-03-10")]
    assert row["percent_positive"] == pytest.approx(estimate * 100, abs=1e-4)
    assert (row["percent_lower"], row["percent_upper"]) == (pytest.approx(lower * 100, abs=1e-4),
                                                            pytest.approx(upper * 100, abs=1e-4))


def test_three_header_rows_and_text_dates(table, small_real) -> None:
    """Early 2021: region / measure with a merged '95% credible interval' / 'Lower', 'Upper' on their own row, and
    some date cells as text; made from the real 1f by adding the third row and writing the dates as text."""
    def early_2021(book):
        sheet = book["1f"]
        sheet.insert_rows(11)
        for column in range(2, sheet.max_column + 1):
            measure = sheet.cell(10, column).value or ""
            if measure.startswith("95% Lower"):
                sheet.cell(10, column).value = "95% credible interval"
                sheet.cell(11, column).value = "Lower"
            elif measure.startswith("95% Upper"):
                sheet.cell(10, column).value = None
                sheet.cell(11, column).value = "Upper"
        for row in range(12, 54):
            day = sheet.cell(row, 1).value
            if isinstance(day, datetime):
                sheet.cell(row, 1).value = f"{day.day} {day:%B %Y}"

    parsed = parse_infection_survey(edited(small_real, early_2021))
    pd.testing.assert_frame_equal(rows_of(parsed, "E12000007", "modelled_daily"),
                                  rows_of(table, "E12000007", "modelled_daily"))


def test_a_final_release_stacking_the_current_block_first_is_read_from_that_block(table, small_real) -> None:
    """The last releases kept one regional sheet with the current block first and earlier publications below it;
    made from the real 1f by adding an older 'Publication Date' block under it."""
    def stacked(book):
        sheet = book["1f"]
        start = sheet.max_row + 2
        sheet.cell(start, 1).value = "Publication Date: 12 August 2022"
        for offset, row in enumerate(range(9, 52)):  # the header rows and earlier days again
            for column in range(1, sheet.max_column + 1):
                sheet.cell(start + 1 + offset, column).value = sheet.cell(row, column).value

    parsed = parse_infection_survey(edited(small_real, stacked))
    assert rows_of(parsed, "E12000007", "modelled_daily").equals(rows_of(table, "E12000007", "modelled_daily"))


def test_header_found_by_text_when_rows_move_and_spacing_changes(small_real) -> None:
    def move(book):
        sheet = book["1a"]
        sheet.insert_rows(1, amount=3)  # more note rows above the table than usual
        sheet.cell(row=12, column=2).value = "Estimated  average %\nof the population testing positive for COVID-19 "

    parsed = parse_infection_survey(edited(small_real, move))
    assert len(rows_of(parsed, "E92000001", "official_weekly")) == 119


def test_workbook_without_the_tables_names_the_sheets(small_real) -> None:
    def drop(book):
        for name in ("1a", "1e", "1f", "UK summary - positivity"):
            book.remove(book[name])

    with pytest.raises(ParseError, match=r"no sheet has a table headed 'Time period'.*sheets: Cover sheet, Contents"):
        parse_infection_survey(edited(small_real, drop))


def test_a_value_that_is_not_a_number_names_its_cell(small_real) -> None:
    def spoil(book):
        book["1f"]["BD30"].value = "2.1 (provisional)"

    with pytest.raises(ParseError, match=r"sheet '1f' cell BD30: '2.1 \(provisional\)' is not a number"):
        parse_infection_survey(edited(small_real, spoil))


def test_an_html_page_instead_of_the_workbook() -> None:
    page = b"<!DOCTYPE html><html><body>Page not found</body></html>"
    with pytest.raises(ParseError, match="HTML page where a Excel workbook file was expected"):
        parse_infection_survey({"workbook": RawFile(SAMPLE, page)})


def test_crossed_interval_fails_validation(table) -> None:
    crossed = table.copy()
    row = crossed.index[crossed["estimate_kind"] == "modelled_daily"][5]
    crossed.loc[row, "percent_lower"] = crossed.loc[row, "percent_positive"] + 1
    outcome = validate_table(crossed, SOURCE.schema)
    assert not outcome.passed and outcome.failure_count == 1
    assert f"table: credible interval not ordered lower <= estimate <= upper failed for 1 row (e.g. row {row})" in (
        outcome.summary())


@pytest.mark.parametrize(("label", "released", "start", "end"), [
    # Labels as real releases wrote them (the workbooks of data/reference/ons/); the dates as a reader takes them.
    ("27 April to 10 May 2020", None, "2020-04-27", "2020-05-10"),
    ("6 July to 12 July 2020 ", None, "2020-07-06", "2020-07-12"),
    ("26 April to 01 May", date(2020, 10, 9), "2020-04-26", "2020-05-01"),
    ("between 11th May to 24th May 2020", None, "2020-05-11", "2020-05-24"),
    ("27 December 2020 to 2 January 2021", None, "2020-12-27", "2021-01-02"),
    # Across a year end with a year on the second date only, or on neither (dated from the release).
    ("27 December to 2 January 2021", None, "2020-12-27", "2021-01-02"),
    ("28 December to 3 January", date(2021, 1, 8), "2020-12-28", "2021-01-03"),
])
def test_period_labels_as_ons_wrote_them(label, released, start, end) -> None:
    period = read_period(label, released)
    assert (period.start, period.end, period.correction) == (date.fromisoformat(start), date.fromisoformat(end),
                                                              None)


def test_a_year_that_cannot_be_right_is_corrected_from_the_second_date_and_said() -> None:
    typo = read_period("3 January 2012 to 9 January 2021", None)  # 29 Jan 2021, sheet 1a row 44
    assert (typo.start, typo.end) == (date(2021, 1, 3), date(2021, 1, 9))
    assert "read as 3 January 2021 to 9 January 2021" in typo.correction
    after = read_period("10 January 2021 to 16 January 2020", None)  # the first date after the second
    assert (after.start, after.end) == (date(2020, 1, 10), date(2020, 1, 16)) and after.correction
    with pytest.raises(ValueError, match="no year and the release date is unknown"):
        read_period("26 April to 01 May", None)
    with pytest.raises(ValueError, match="cannot be placed within 92 days"):
        read_period("10 January to 9 January 2021", None)
    assert read_period("Fortnightly weighted estimates", None) is None


def test_rows_that_look_like_data_and_are_not_read_are_named_and_more_than_a_handful_fail(small_real) -> None:
    """Rows a parser cannot read are named (sheet, row, label, why); six of them fail validation with the list."""
    def add_rows(count):
        def edit(book):
            sheet = book["1a"]
            for offset in range(count):
                sheet.insert_rows(20)
                sheet.cell(20, 1).value = f"Week {offset + 32}"
                sheet.cell(20, 2).value = 1.5
        return edit

    one = parse_infection_survey(edited(small_real, add_rows(1)))
    [left_out] = one.attrs["left_out"]
    assert (left_out["where"], left_out["label"]) == ("sheet '1a' row 20", "Week 32")
    assert any("1 row(s) that look like data were left out: sheet '1a' row 20 'Week 32': not a period" in note
               for note in one.attrs["notes"])
    assert validate_table(one, SOURCE.schema).passed
    assert len(rows_of(one, "E92000001", "official_weekly")) == 119  # every real row still read

    six = parse_infection_survey(edited(small_real, add_rows(6)))
    outcome = validate_table(six, SOURCE.schema)
    assert not outcome.passed
    assert "6 rows that look like data left out unread (more than 5) failed for 6 rows" in outcome.summary()
    assert "sheet '1a' row 20 'Week 37'" in outcome.summary()


def test_other_regions_rows_are_counted_not_named(table) -> None:
    assert any("not read, as expected: 8 rows of other regions (sheet '1e')" in note for note in table.attrs["notes"])


def test_the_release_date_without_a_cover_sheet_date_comes_from_the_name_then_the_metadata(small_real) -> None:
    def no_cover_date(book):
        book["Cover sheet"]["B18"].value = None

    files = edited(small_real, no_cover_date)
    named = parse_infection_survey(files)
    assert named.attrs["release_date"] == "2022-08-19"  # 20220819covid19infectionsurveydatasetsengland.xlsx
    assert "release date 19 August 2022 (from the file's name)" in named.attrs["notes"]
    content = files["workbook"].content
    unnamed = parse_infection_survey({"workbook": RawFile("latest.xlsx", content)})
    modified = openpyxl.load_workbook(io.BytesIO(content), read_only=True).properties.modified.date()
    assert unnamed.attrs["release_date"] == modified.isoformat()
    assert f"release date {modified.day} {modified:%B %Y} (from the workbook's last-modified date)" in (
        unnamed.attrs["notes"])


def test_other_wordings_of_the_estimate_heading_are_read(table, small_real) -> None:
    """'% testing positive for COVID-19' (2020-21) and 'Estimated % ...' (other ONS tables' wording), made by
    rewording the real 1f's London headings."""
    for wording in ("% testing positive for COVID-19", "Estimated % testing positive for COVID-19"):
        def reword(book, wording=wording):
            sheet = book["1f"]
            for column in range(2, sheet.max_column + 1):
                if sheet.cell(10, column).value == "Modelled % testing positive for COVID-19":
                    sheet.cell(10, column).value = wording

        parsed = parse_infection_survey(edited(small_real, reword))
        pd.testing.assert_frame_equal(rows_of(parsed, "E12000007", "modelled_daily"),
                                      rows_of(table, "E12000007", "modelled_daily"))
