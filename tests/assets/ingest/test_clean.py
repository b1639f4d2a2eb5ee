"""A release lacking a measure its predecessor had is drift, not data: for every source, a measure's column renamed
by the publisher never becomes an empty series that validates. The renames are of the publishers' own column names
as the real samples carry them."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.ingest.clean import KeptRelease, check_measures, check_not_behind
from assets.ingest.source import RawFile
from assets.sources import SOURCES
from checks.validation import validate_table
from resources.archive import ArchivedFile
from resources.errors import ParseError, SourceError
from tests.conftest import failure_text, run_source, serve_samples
from tests.samples import PHE_HEALTHCARE_MEASURES, sample_csv_without, sample_files, workbook_with_sheets

# (source, request, the publisher's name for a measure in that file, what the refusal names)
RENAMES = [
    ("phe_cases_by_region", "region_london", "newCasesBySpecimenDate", "newCasesBySpecimenDate"),
    ("phe_cases_by_utla", "utla_all", "newCasesBySpecimenDate", "newCasesBySpecimenDate"),
    ("phe_healthcare", "nhs_region_london", "newAdmissions", "new_admissions for E40000003"),
    ("phe_healthcare", "nhs_region_london", "hospitalCases", "hospital_cases for E40000003"),
    ("phe_cases_by_age", "region_london_age", "rollingSum", "rollingSum"),
    ("phe_cases_by_age", "region_london_age", "rollingRate", "rollingRate"),
    ("phe_cases_by_age_sex", "male_cases", '"value"', "'value' is missing"),
    ("phe_admissions_by_age", "nhs_region_london_admissions_age", '"rate"', "cumulative_rate for E40000003"),
    ("phe_admissions_by_age", "nhs_region_london_admissions_age", '"value"', "'value' is empty"),
    ("nhs_111", "pathways", "TriageCount", "triagecount"),
    ("nhs_111", "online", "Total", "total"),
]


def renamed(content: bytes, name: str) -> bytes:
    """The file with the publisher's column (or JSON key, quoted) renamed."""
    new = name[:-1] + '_renamed"' if name.startswith('"') else name + "_renamed"
    assert name.encode() in content
    return content.replace(name.encode(), new.encode())


def refusal(name: str, files: dict[str, RawFile], previous: pd.DataFrame) -> str | None:
    """What reading, validating and holding the release to its predecessor refuses it with (None: it would be
    stored)."""
    source = SOURCES[name]
    try:
        table = source.sample.parse(files)
        outcome = validate_table(table, source.schema)
        if not outcome.passed:
            return outcome.summary()
        check_measures(source, [], table, previous)
    except (ParseError, SourceError) as error:
        return str(error)
    return None


@pytest.mark.parametrize(("name", "request_name", "column", "named"), RENAMES)
def test_a_renamed_measure_is_refused_naming_it(name: str, request_name: str, column: str, named: str) -> None:
    source = SOURCES[name]
    files = sample_files(source)
    previous = source.sample.parse(files)
    file = files[request_name]
    said = refusal(name, {**files, request_name: RawFile(file.name, renamed(file.content, column))}, previous)
    assert said is not None and named in said


def test_the_ons_people_columns_renamed_are_refused(tmp_path: Path) -> None:
    """The ONS workbook: the regional table's 'Modelled number of people ...' headings reworded."""
    source = SOURCES["ons_infection_survey"]
    files = sample_files(source)
    previous = source.sample.parse(files)
    # Without the historic-series sheet, which holds no regional table and takes openpyxl seconds to load and save.
    book = openpyxl.load_workbook(io.BytesIO(workbook_with_sheets(files["workbook"].content, "1m".__ne__)))
    sheet = book["1f"]
    for column in range(2, sheet.max_column + 1):
        if str(sheet.cell(10, column).value).startswith("Modelled number of people"):
            sheet.cell(10, column).value = "Modelled headcount testing positive"
    out = io.BytesIO()
    book.save(out)
    said = refusal("ons_infection_survey", {"workbook": RawFile(files["workbook"].name, out.getvalue())}, previous)
    assert said is not None and "people_positive for E12000007" in said


def test_an_area_gone_from_a_release_is_refused_naming_it() -> None:
    """The real ONS workbook with London's two tables (the modelled daily series, sheet 1f, and the row per region,
    1e) no longer found, as a changed layout would leave them: England's estimates alone would validate."""
    source = SOURCES["ons_infection_survey"]
    files = sample_files(source)
    previous = source.sample.parse(files)
    cut = workbook_with_sheets(files["workbook"].content, lambda sheet: sheet.strip() not in ("1e", "1f", "1m"))
    said = refusal("ons_infection_survey", {"workbook": RawFile(files["workbook"].name, cut)}, previous)
    assert said is not None and "every figure for E12000007 (it has no rows)" in said, said


def test_a_measure_the_source_says_has_ended_is_a_note() -> None:
    """PHE's mechanical ventilation beds ended with its dashboard (phe_healthcare's ended_measures)."""
    source = SOURCES["phe_healthcare"]
    files = sample_files(source)
    previous = source.sample.parse(files)
    file = files["nhs_region_london"]
    table = source.sample.parse({**files, "nhs_region_london": RawFile(file.name, renamed(
        file.content, "covidOccupiedMVBeds"))})
    check_measures(source, [], table, previous)
    assert table.loc[table["area_code"] == "E40000003", "covid_occupied_mv_beds"].isna().all()
    assert any(note.startswith("covid_occupied_mv_beds") for note in table.attrs["notes"])


def test_a_vanished_measure_fails_the_source_and_keeps_the_last_good_table(httpserver: HTTPServer,
                                                                           data_dir: Path) -> None:
    """The issue's case end to end: a release whose newAdmissions column was renamed, after a good one."""
    source = SOURCES["phe_healthcare"]
    good = run_source(source, data_dir, serve_samples(httpserver, source))
    assert good.success, failure_text(good)
    stored = data_dir / "tables" / "phe_healthcare.parquet"
    good_table = stored.read_bytes()
    file = sample_files(source)["nhs_region_london"]
    httpserver.clear()
    bad = run_source(source, data_dir, serve_samples(httpserver, source, replace={
        file.name: renamed(file.content, "newAdmissions")}))
    assert not bad.success
    message = failure_text(bad)
    assert "[phe_healthcare]" in message and "new_admissions for E40000003: empty in this release" in message
    assert stored.read_bytes() == good_table


RELEASES = Path(__file__).parents[3] / "data" / "releases"


def regional_release(day: str, dated: str, origin: str = "download") -> tuple[list[ArchivedFile], pd.DataFrame]:
    """The real London and England downloads of the night `day`, as files dated `dated` by their publisher, and
    their clean table, as the clean step finds them (`origin`: downloaded, or served from the shipped samples)."""
    source = SOURCES["phe_cases_by_region"]
    folder = RELEASES / day / "phe_cases_by_region"
    files = {name: RawFile(f"{name}.csv", (folder / f"{name}.csv").read_bytes())
             for name in ("region_london", "nation_england")}
    entries = [ArchivedFile(source=source.name, request=name, url=f"https://example.test/{name}", path=file.name,
                            sha256="0" * 64, bytes=len(file.content), status=200,
                            fetched_at="2026-12-07T20:30:00+00:00",
                            headers={"Last-Modified": f"{pd.Timestamp(dated):%a, %d %b %Y} 15:00:00 GMT"},
                            origin=origin)
               for name, file in files.items()]
    table = source.variant("phe").parse(files)
    table.attrs["origin"] = origin  # as record_provenance stamps it, and the kept vintage's Parquet file keeps it
    return entries, table


@pytest.mark.parametrize(("kept_day", "served", "dated", "refused"), [
    ("2020-07-22", "2020-07-21", "2020-07-21", True),  # the night before, served again: an old copy
    ("2020-07-21", "2020-07-22", "2020-07-20", False),  # dated earlier, its figures further: new, the publisher's date
    ("2020-07-22", "2020-07-22", "2020-07-22", False),  # the same day's release again (a correction)
])
def test_a_release_dated_before_the_kept_one_is_refused_only_if_its_figures_are_no_newer(
        kept_day: str, served: str, dated: str, refused: bool) -> None:
    _, kept_table = regional_release(kept_day, kept_day)
    kept = KeptRelease(pd.Timestamp(kept_day).date(), kept_table, f"vintages/phe_cases_by_region/{kept_day}.parquet")
    entries, table = regional_release(served, dated)
    try:
        check_not_behind(SOURCES["phe_cases_by_region"], entries, table, kept)
    except SourceError as error:
        assert refused and "an old copy served again by a cache or mirror?" in str(error), error
    else:
        assert not refused


def test_the_samples_run_on_a_storage_of_live_releases_are_named_as_samples() -> None:
    """`make run` (sample mode, the quick start) on the storage a live run used: the shipped samples are years older
    than the live releases kept, and the refusal says that, not that a cache served an old copy."""
    _, live_table = regional_release("2020-07-22", "2020-07-22")
    kept = KeptRelease(pd.Timestamp("2020-07-22").date(), live_table, "vintages/phe_cases_by_region/2020-07-22.parquet")
    entries, table = regional_release("2020-07-21", "2020-07-21", origin="sample")
    with pytest.raises(SourceError) as refused:
        check_not_behind(SOURCES["phe_cases_by_region"], entries, table, kept)
    assert ("the shipped sample (its release of 21 Jul 2020) is older than the live release of 22 Jul 2020 kept in "
            "this storage: run the samples with a storage of their own (PIPELINE_DATA_DIR=<another folder> make "
            "run)") in str(refused.value)


@pytest.mark.parametrize(("name", "cut", "named"), [
    # Files holding none of the healthcare measures (a mirror's files of other metrics): every area empty.
    ("phe_healthcare", {"nhs_region_london": {"drop_columns": PHE_HEALTHCARE_MEASURES},
                        "nation_england": {"drop_columns": PHE_HEALTHCARE_MEASURES}},
     "no figures for NHS region London (E40000003), England (E92000001)"),
    # A borough file without Westminster's rows.
    ("phe_cases_by_utla", {"utla_all": {"keep_row": lambda row: row["areaCode"] != "E09000033"}},
     "no figures for Westminster (E09000033)"),
])
def test_a_release_without_an_area_the_source_must_cover_is_refused_on_a_first_run(
        name: str, cut: dict, named: str, httpserver: HTTPServer, data_dir: Path) -> None:
    """Nothing kept to compare with (check_measures has no previous release): the release validates, and would be
    published with the area missing or empty."""
    source = SOURCES[name]
    files = sample_files(source)
    replace = {files[request].name: sample_csv_without(name, files[request].name, **how)
               for request, how in cut.items()}
    result = run_source(source, data_dir, serve_samples(httpserver, source, replace=replace))
    assert not result.success
    message = failure_text(result)
    assert f"[{name}]" in message and named in message, message
    assert not (data_dir / "tables" / f"{name}.parquet").exists()
