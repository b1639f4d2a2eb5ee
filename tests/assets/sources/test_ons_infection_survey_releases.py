"""Every real ONS Infection Survey workbook we hold, May 2020 to March 2023, read by the parser and compared with
values this test reads by openpyxl from named cells (data/reference/ons/, provenance in data/PROVENANCE.md).

The cells were located by reading each workbook; what the test expects of each cell is ONS's own display rule: a
cell formatted as a percentage holds a proportion (0.0271 shown as 2.71%), any other a percentage."""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import column_index_from_string

from assets.ingest.clean import check_measures
from assets.ingest.source import RawFile
from assets.sources.ons_infection_survey import SOURCE, parse_infection_survey
from checks.validation import validate_table
from resources.settings import REPO_ROOT

WORKBOOKS = REPO_ROOT / "data" / "reference" / "ons"
SAMPLE = REPO_ROOT / "data" / "samples" / "ons_infection_survey" / "20220819covid19infectionsurveydatasetsengland.xlsx"
ENGLAND, LONDON = "E92000001", "E12000007"


@dataclass(frozen=True)
class Workbook:
    path: Path
    release: date
    weekly: tuple[str, int, int]  # England's official estimates: sheet, first and last data row
    daily: tuple[str, str, int, int] | None  # London's modelled daily: sheet, London's % column, first and last row
    regional_row: int | None  # London's row in the one-row-per-region sheet 1e (estimate in C, interval in D:E)
    label_year: int | None = None  # the year of period labels written without one


RELEASES = [
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets20201009.xlsx", date(2020, 10, 9), ("1a", 9, 36),
             ("1f", "AL", 8, 49), 13, label_year=2020),
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets202101082.xlsx", date(2021, 1, 8), ("1a", 9, 44),
             ("1f", "BD", 8, 49), 13),
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets2021012928012021212458.xlsx", date(2021, 1, 29),
             ("1a", 8, 46), ("1f", "BD", 8, 49), 13),
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets20210205.xlsx", date(2021, 2, 5), ("1a", 8, 47),
             ("1f", "BD", 8, 49), 13),
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets20210409.xlsx", date(2021, 4, 9), ("1a", 8, 56),
             ("1f", "BD", 8, 49), 13),
    Workbook(WORKBOOKS / "covid19infectionsurveydatasets20211119england.xlsx", date(2021, 11, 19), ("1a", 7, 87),
             ("1f", "BD", 7, 48), 12),
    Workbook(SAMPLE, date(2022, 8, 19), ("1a", 11, 130), ("1f", "BD", 11, 52), 16),
    Workbook(WORKBOOKS / "20230113covid19infectionsurveydatasetsengland.xlsx", date(2023, 1, 13), ("1a", 6, 144),
             ("1f", "BD", 6, 47), 14),
    Workbook(WORKBOOKS / "20230203covid19infectionsurveydatasetsengland.xlsx", date(2023, 2, 3), ("1a", 6, 147),
             ("1f", "BD", 6, 47), None),
    Workbook(WORKBOOKS / "cisdata.xlsx", date(2023, 3, 10), ("1a", 6, 152), ("1e", "BD", 6, 47), None),
]


def displayed(cell) -> float | None:
    """The percentage a cell shows."""
    if not isinstance(cell.value, (int, float)):
        return None
    return cell.value * 100 if "%" in (cell.number_format or "") else float(cell.value)


def cells(sheet, first: int, last: int, first_column: str, width: int) -> list[tuple]:
    left = column_index_from_string(first_column)
    return list(sheet.iter_rows(min_row=first, max_row=last, min_col=left, max_col=left + width - 1))


@functools.cache
def parsed(path: Path) -> pd.DataFrame:
    """The workbook's clean table, read once in this module (its tests only read the tables)."""
    return parse_infection_survey({"workbook": RawFile(path.name, path.read_bytes())})


def rows_of(table: pd.DataFrame, code: str, kind: str) -> pd.DataFrame:
    return table[(table["area_code"] == code) & (table["estimate_kind"] == kind)].reset_index(drop=True)


@pytest.fixture(scope="module", params=RELEASES, ids=lambda w: w.path.name)
def release(request) -> tuple[Workbook, pd.DataFrame, openpyxl.Workbook]:
    workbook = request.param
    book = openpyxl.load_workbook(workbook.path, read_only=True, data_only=True)
    yield workbook, parsed(workbook.path), book
    book.close()


def test_england_s_official_estimates_every_period_and_value(release) -> None:
    workbook, table, book = release
    sheet, first, last = workbook.weekly
    expected = []
    for label, *values in cells(book[sheet], first, last, "A", 7):
        if displayed(values[0]) is None:
            continue  # a section's label row ("Change to fortnightly weighted estimates")
        end = label.value.strip().split(" to ")[1]
        end = f"{end} {workbook.label_year}" if workbook.label_year else end
        expected.append((pd.Timestamp(datetime.strptime(end, "%d %B %Y")),
                         *(pytest.approx(displayed(v)) for v in values[:3]),
                         *(v.value for v in values[3:6])))
    england = rows_of(table, ENGLAND, "official_weekly")
    assert len(england) == len(expected)
    assert [tuple(row) for row in england[["period_end", "percent_positive", "percent_lower", "percent_upper",
                                           "people_positive", "people_lower", "people_upper"]].itertuples(
        index=False)] == expected


def test_london_s_modelled_daily_series_every_day_with_its_interval(release) -> None:
    workbook, table, book = release
    sheet, column, first, last = workbook.daily
    day_cells = cells(book[sheet], first, last, "A", 1)
    expected = [(pd.Timestamp(day.value), *(pytest.approx(displayed(v)) for v in values[:3]),
                 *(v.value for v in values[3:6]))
                for (day,), values in zip(day_cells, cells(book[sheet], first, last, column, 6), strict=True)]
    london = rows_of(table, LONDON, "modelled_daily")
    assert len(london) == len(expected) == 42
    assert [tuple(row) for row in london[["period_end", "percent_positive", "percent_lower", "percent_upper",
                                          "people_positive", "people_lower", "people_upper"]].itertuples(
        index=False)] == expected


def test_london_s_row_of_the_regional_table_where_the_release_has_one(release) -> None:
    workbook, table, book = release
    regional = rows_of(table, LONDON, "regional_estimate")
    if workbook.regional_row is None:  # removed in 2023
        assert regional.empty
        return
    [(name, *values)] = cells(book["1e"], workbook.regional_row, workbook.regional_row, "A", 5)
    assert name.value == "London"
    assert regional[["percent_positive", "percent_lower", "percent_upper"]].values.tolist() == [
        [pytest.approx(displayed(v)) for v in values[1:4]]]


def test_the_release_date_and_validation(release) -> None:
    workbook, table, book = release
    cover = " ".join(str(v) for row in book["Cover sheet"].iter_rows(values_only=True) for v in row if v)
    written = re.search(r"Date of publication:\s*(\d{1,2})(?:st|nd|rd|th)? (\w+ \d{4})", cover)
    assert written is not None
    assert date.fromisoformat(table.attrs["release_date"]) == workbook.release == datetime.strptime(
        f"{written[1]} {written[2]}", "%d %B %Y").date()
    assert validate_table(table, SOURCE.schema).passed
    assert "left_out" not in table.attrs  # every row that looks like data was read


def test_the_first_release_england_s_two_headline_estimates_and_no_london() -> None:
    """28 May 2020: no table by period or region, one estimate per sheet ('1': 11-24 May, '4': 26 April-2 May)."""
    path = WORKBOOKS / "covid19infectionsurveydatasets20200528.xlsx"
    table = parsed(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    expected = []
    for sheet, start, end in (("4", "2020-04-26", "2020-05-02"), ("1", "2020-05-11", "2020-05-24")):
        [percent] = cells(book[sheet], 9, 9, "B", 3)
        [people] = cells(book[sheet], 10, 10, "B", 3)
        assert book[sheet]["A9"].value.startswith("Estimated average % of the population that had COVID-19")
        expected.append((pd.Timestamp(start), pd.Timestamp(end), *(pytest.approx(displayed(v)) for v in percent),
                         *(v.value for v in people)))
    england = rows_of(table, ENGLAND, "official_weekly")
    assert [tuple(r) for r in england[["period_start", "period_end", "percent_positive", "percent_lower",
                                       "percent_upper", "people_positive", "people_lower", "people_upper"]]
            .itertuples(index=False)] == expected
    assert set(table["area_code"]) == {ENGLAND}
    assert any("no regional modelled daily table with London" in note for note in table.attrs["notes"])
    assert table.attrs["release_date"] == "2020-05-28"
    assert validate_table(table, SOURCE.schema).passed


def test_period_labels_without_a_year_and_with_a_mistyped_one_are_dated_and_noted() -> None:
    """9 Oct 2020 writes no year at all ('26 April to 01 May'); 29 Jan 2021 writes '3 January 2012 to 9 January
    2021' for the week of 3 January 2021 and none on most first dates ('27 April to 10 May 2020')."""
    october = rows_of(parsed(WORKBOOKS / "covid19infectionsurveydatasets20201009.xlsx"), ENGLAND, "official_weekly")
    assert (october["period_start"].iloc[0], october["period_end"].iloc[0]) == (pd.Timestamp("2020-04-26"),
                                                                                pd.Timestamp("2020-05-01"))
    january = parsed(WORKBOOKS / "covid19infectionsurveydatasets2021012928012021212458.xlsx")
    england = rows_of(january, ENGLAND, "official_weekly").set_index("period_end")
    assert england.loc[pd.Timestamp("2021-01-09"), "period_start"] == pd.Timestamp("2021-01-03")
    assert england.loc[pd.Timestamp("2020-05-10"), "period_start"] == pd.Timestamp("2020-04-27")
    assert england.loc[pd.Timestamp("2021-01-02"), "period_start"] == pd.Timestamp("2020-12-27")
    assert any("'3 January 2012 to 9 January 2021' read as 3 January 2021 to 9 January 2021" in note
               and "row 44" in note for note in january.attrs["notes"])


def test_the_2023_official_estimates_match_the_csv_ons_s_partners_made_of_the_same_sheet() -> None:
    """A second, independent reading of 13 Jan 2023's sheet 1a: the GSS-Cogs CSV of it, which labels each period by
    the calendar year and ISO week of its first day (3 January 2021 is its 2021-W53) and keeps the last period of a
    week where two overlap."""
    published = {r["week"]: (float(r["percentage_pop_est"]), float(r["percentage_pop_est_lci"]),
                             float(r["percentage_pop_est_uci"]), int(r["pop_est"]))
                 for r in csv.DictReader((REPO_ROOT / "data" / "reference" /
                                          "20230113covid19infectionsurveydatasetengland_sheet1a.csv").open())}
    england = rows_of(parsed(WORKBOOKS / "20230113covid19infectionsurveydatasetsengland.xlsx"), ENGLAND,
                      "official_weekly")
    by_week = {f"{start.year}-W{start.isocalendar().week}": (positive, lower, upper, people)
               for start, positive, lower, upper, people in england[["period_start", "percent_positive",
                                                                      "percent_lower", "percent_upper",
                                                                      "people_positive"]].itertuples(index=False)}
    assert len(published) > 120
    assert by_week == published


def test_each_release_in_turn_is_held_to_the_one_before_without_a_refusal() -> None:
    """The releases as the nightly meets them, oldest first from the first (England only): a measure or an area a
    release had and the next lacks is refused (clean.check_measures). None of the real workbooks is refused, though
    the regional table went in February 2023 and London's daily series moved sheet in March."""
    first = WORKBOOKS / "covid19infectionsurveydatasets20200528.xlsx"
    previous = parsed(first)
    for workbook in RELEASES:
        table = parsed(workbook.path)
        check_measures(SOURCE, [], table, previous)  # raises SourceError on a refusal
        assert set(previous["area_code"]) <= set(table["area_code"]), workbook.path.name
        previous = table
