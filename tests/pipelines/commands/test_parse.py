"""`make parse`: one real file through a source's parser, touching nothing stored. Two tests run the command as an
analyst does, in a fresh process; the others call its `main` in this one, which prints and returns the same (a
fresh process each took about 2.5 s of the suite's time)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer

from pipelines.commands import parse as command
from resources.settings import REPO_ROOT
from tests.samples import PHE_HEALTHCARE_MEASURES, sample_csv_without, sample_path, sample_rows, ukhsa_records

# make test-fast leaves these out, as it does every command's tests.
pytestmark = pytest.mark.commands


def parse_in_a_fresh_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.commands.parse", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)


def parse(*args: str) -> subprocess.CompletedProcess:
    """The command's exit status and what it printed, from its `main` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = command.main(list(args))
    return subprocess.CompletedProcess(["make", "parse", *args], status, out.getvalue(), err.getvalue())


LEGACY = REPO_ROOT / "data" / "reference" / "phe" / (
    "legacy_csv_coronavirus-cases_2020-04-28_LONDON_CUT_first_date_only.csv")


def test_a_real_file_is_summarised_with_london_s_latest_values() -> None:
    path = LEGACY
    before = sorted(REPO_ROOT.glob("storage/**/*"))
    done = parse_in_a_fresh_process("phe_cases_by_utla", str(path))
    assert done.returncode == 0, done.stderr
    with path.open(newline="") as handle:
        upper = [r for r in csv.DictReader(handle) if r["Area type"] == "Upper tier local authority"]
    assert f"phe_cases_by_utla: 32 rows, {upper[0]['Specimen date']} .. {upper[0]['Specimen date']}" in done.stdout
    camden = next(r for r in upper if r["Area code"] == "E09000007")
    line = next(line for line in done.stdout.splitlines() if "E09000007" in line)
    assert line.split()[-3:-1] == [camden["Daily lab-confirmed cases"], camden["Cumulative lab-confirmed cases"]]
    assert "validation (PheCasesByUtla): passed" in done.stdout
    assert sorted(REPO_ROOT.glob("storage/**/*")) == before  # nothing stored


def test_files_with_spaces_named_for_their_requests_and_a_url(httpserver: HTTPServer) -> None:
    pathways = sample_path("nhs_111", "NHS Pathways Covid-19 data CCG mapped.csv")
    online = sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv")
    httpserver.expect_request("/online.csv").respond_with_data(online.read_bytes())
    done = parse("nhs_111", f'pathways="{pathways}" online={httpserver.url_for("/online.csv")}')
    assert done.returncode == 0, done.stderr
    assert "nhs_111: 111 rows, 2020-03-18 .. 2020-03-18" in done.stdout
    assert "note: NHS Pathways Covid-19 data CCG mapped.csv: 55 London rows kept" in done.stdout


def test_nhs_111_files_given_without_names_or_quotes_read_as_they_do_named() -> None:
    """NHS Digital's file names have spaces: one given as FILE unquoted was split at them ("No such file or
    directory: '.../NHS'"), and files without names were taken for the publication page, which the parser does not
    read ("holds neither the NHS Pathways nor the 111 online file"). Unnamed, they take the names of the files the
    page links to: pathways, then online."""
    pathways = sample_path("nhs_111", "NHS Pathways Covid-19 data CCG mapped.csv")
    online = sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv")
    both = parse("nhs_111", f'pathways="{pathways}" online="{online}"')
    assert both.returncode == 0, both.stderr
    assert parse("nhs_111", f'"{pathways}" "{online}"').stdout == both.stdout
    alone = parse("nhs_111", str(pathways))
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout == parse("nhs_111", f'pathways="{pathways}"').stdout


def test_a_file_taken_for_another_of_its_source_s_files_says_what_it_was_read_as() -> None:
    online = sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv")
    with online.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    done = parse("nhs_111", str(online))
    line = done.stderr.strip()
    assert done.returncode == 1 and "\n" not in line
    assert f"found {', '.join(map(repr, header))}" in line  # the parser's own words, then what it was read as
    assert line.endswith(f"(files given without a name are read as pathways, online in that order, so {online.name} "
                         "as pathways; name them if that is wrong, e.g. online=<file>)")
    with pytest.raises(SystemExit) as refused:
        command.main(["nhs_111", f'pathway="{online}"'])
    assert refused.value.code == "'pathway' is not one of this source's requests: page, pathways, online"


def test_a_missing_name_with_spaces_given_unquoted_is_said_to_have_been_split(tmp_path: Path) -> None:
    """Not found whole, an unquoted name with spaces was split at them, and the error named only its first piece
    ("No such file or directory: '.../no'"): it now says that FILE was split and how to quote the name."""
    given = f"{tmp_path}/no such file.csv"
    done = parse("nhs_111", given)
    line = done.stderr.strip()
    assert done.returncode == 1 and "\n" not in line
    assert line.startswith(f"nhs_111 could not read it: [Errno 2] No such file or directory: '{tmp_path}/no'")
    assert line.endswith(f"(FILE is split at its spaces into 3 names; quote a name with spaces in it, e.g. "
                         f"FILE='\"{given}\"')")
    quoted = parse("nhs_111", f'"{given}"')  # quoted, the whole name is the one missing
    assert quoted.stderr.strip() == f"nhs_111 could not read it: [Errno 2] No such file or directory: '{given}'"
    # Two names meant as two, one of them found: only the missing one is named.
    online = tmp_path / "online.csv"
    online.write_bytes(sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv").read_bytes())
    two = parse("nhs_111", f"pathways={tmp_path}/missing.csv online={online}")
    assert two.stderr.strip() == (f"nhs_111 could not read it: [Errno 2] No such file or directory: "
                                  f"'{tmp_path}/missing.csv'")


def test_a_file_that_cannot_be_read_says_why_and_fails() -> None:
    done = parse_in_a_fresh_process("ons_infection_survey", str(REPO_ROOT / "README.md"))
    assert done.returncode == 1
    assert "ons_infection_survey could not read it: README.md: could not be opened as an Excel workbook" in done.stderr


@pytest.mark.parametrize(("files", "said"), [
    ("", "name at least one file: make parse SOURCE=<source> FILE=<path or URL>"),
    ("  ", "name at least one file"),
    ("it's.csv", "the file list \"it's.csv\" cannot be split into names: No closing quotation"),
])
def test_no_file_or_a_stray_quote_is_a_usage_error(files: str, said: str, capsys) -> None:
    """Before, no name read as a file named "" the parser did not recognise, and a stray quote as an unexpected
    ValueError."""
    with pytest.raises(SystemExit) as exited:
        command.main(["nhs_111", files])
    printed = capsys.readouterr().err
    assert exited.value.code == 2 and said in printed and "unexpected" not in printed


def test_what_was_read_and_left_out_is_printed() -> None:
    """The 2020 download lists every borough twice (upper- and lower-tier): the copies are counted, as the csv module
    counts them; an early ONS workbook says which sheets it read and the period label it corrected."""
    with LEGACY.open(newline="") as handle:
        lower = [r for r in csv.DictReader(handle) if r["Area type"] == "Lower tier local authority"]
    done = parse("phe_cases_by_utla", str(LEGACY))
    assert (f"not read, as expected: 1 row of other areas (region); {len(lower)} rows of the same areas under another "
            "area type (ltla)") in done.stdout
    early = REPO_ROOT / "data" / "reference" / "ons" / "covid19infectionsurveydatasets2021012928012021212458.xlsx"
    done = parse("ons_infection_survey", str(early))
    assert done.returncode == 0, done.stderr
    for said in ("note: official weekly for England: sheet '1a', 38 rows",
                 "note: modelled daily for London: sheet '1f', 42 rows",
                 "note: period label corrected: sheet '1a' row 44: '3 January 2012 to 9 January 2021' read as",
                 "not read, as expected: 8 rows of other regions (sheet '1e')",
                 "validation (OnsInfectionSurvey): passed"):
        assert said in done.stdout


# --- Every failure is one line naming the file and where in it (issue 23, item 6). Each input is a shipped sample
# with one small edit, as an analyst's copy of a release would come.

UTLA = sample_path("phe_cases_by_utla", "utla_all.csv")
PATHWAYS = sample_path("nhs_111", "NHS Pathways Covid-19 data CCG mapped.csv")
ONLINE = sample_path("nhs_111", "111 Online Covid-19 data_CCG mapped.csv")


def edited_csv(source: Path, target: Path, edit: Callable[[list[list[str]], int], int]) -> int:
    """`source` rewritten to `target` (as the csv module writes it) after `edit(rows, header_width)`, which changes
    `rows` (the header first) and returns the 0-based index of the row it changed; the file line of that row."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    changed = edit(rows, len(rows[0]))
    with target.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return changed + 1


def camden_row(rows: list[list[str]]) -> int:
    """The first row of Camden (a London borough, so the parser keeps it) in the upper-tier file."""
    code = rows[0].index("areaCode")
    return next(i for i, row in enumerate(rows) if i and row[code] == "E09000007")


def set_cell(column: str, value: str) -> Callable[[list[list[str]], int], int]:
    def edit(rows: list[list[str]], _: int) -> int:
        index = camden_row(rows)
        rows[index][rows[0].index(column)] = value
        return index
    return edit


def assert_one_line(done: subprocess.CompletedProcess, *named: str) -> str:
    """Exit 1, stderr one line without a traceback, naming each of `named`; that line."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for said in named:
        assert said in lines[0], lines[0]
    return lines[0]


def test_text_in_an_upper_tier_count_names_the_file_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "utla_text.csv"
    line = edited_csv(UTLA, path, set_cell("newCasesBySpecimenDate", "abc"))
    done = parse("phe_cases_by_utla", str(path))
    assert_one_line(done, "utla_text.csv", "column 'newCasesBySpecimenDate'", f"line {line}: 'abc'")


def test_text_in_an_nhs_111_count_names_the_file_column_and_line(tmp_path: Path) -> None:
    london = {"E38000011"}  # NHS Bexley CCG: a London row, so the parser reads its count

    def edit(rows: list[list[str]], _: int) -> int:
        index = next(i for i, row in enumerate(rows) if row[rows[0].index("CCGCode")] in london)
        rows[index][rows[0].index("TriageCount")] = "lots"
        return index

    path = tmp_path / "pathways text.csv"
    line = edited_csv(PATHWAYS, path, edit)
    done = parse("nhs_111", f'pathways="{path}" online="{ONLINE}"')
    assert_one_line(done, "pathways text.csv", "column 'TriageCount'", f"line {line}: 'lots'")


def test_a_utf16_nhs_111_file_reads_as_its_utf8_original(tmp_path: Path) -> None:
    """Excel's "Unicode text" is UTF-16 with a byte-order mark: decoded, the same table comes out."""
    original = parse("nhs_111", f'pathways="{PATHWAYS}" online="{ONLINE}"')
    assert original.returncode == 0, original.stderr
    for encoding in ("utf-16", "utf-16-be"):
        path = tmp_path / f"online {encoding}.csv"
        # Python's "utf-16" writes a byte-order mark (little-endian here); the big-endian one is written by hand.
        text = ONLINE.read_text(encoding="utf-8")
        path.write_bytes(text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding))
        utf16 = parse("nhs_111", f'pathways="{PATHWAYS}" online="{path}"')
        assert utf16.returncode == 0, utf16.stderr
        assert utf16.stdout.replace(path.name, ONLINE.name) == original.stdout


def test_a_utf16_file_of_another_csv_source_keeps_its_column_names(tmp_path: Path) -> None:
    path = tmp_path / "utla_all_utf16.csv"
    path.write_bytes(UTLA.read_text(encoding="utf-8").encode("utf-16"))
    done = parse("phe_cases_by_utla", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.replace(path.name, UTLA.name) == parse("phe_cases_by_utla", str(UTLA)).stdout


def test_a_file_in_another_encoding_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "utla_latin1.csv"
    line = edited_csv(UTLA, path, set_cell("areaName", "Camdén"))
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    done = parse("phe_cases_by_utla", str(path))
    assert_one_line(done, "utla_latin1.csv", "is not UTF-8 or UTF-16 text", f"line {line:,}", "column 'areaName'")


@pytest.mark.parametrize(("delimiter", "said"), [(";", "separated by semicolons"), ("\t", "separated by tabs")],
                         ids=["semicolons", "tabs"])
def test_a_csv_saved_with_another_separator_says_so(delimiter: str, said: str, tmp_path: Path) -> None:
    """Excel saves "CSV" with `;` where the decimal mark is a comma, and its text files with tabs: the one line says
    which separator it found and how to save the file, not only that every column is missing."""
    with UTLA.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    path = tmp_path / "utla_excel.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    line = assert_one_line(parse("phe_cases_by_utla", str(path)), "utla_excel.csv", said,
                           "save it as comma-separated CSV")
    # The header as one name: the file's first line, as written.
    assert f"found {delimiter.join(rows[0])!r}; its columns are" in line


def test_an_xlsx_given_to_a_csv_source_is_named_not_read(tmp_path: Path) -> None:
    workbook = sample_path("ons_infection_survey", "20220819covid19infectionsurveydatasetsengland.xlsx")
    path = tmp_path / "utla_all.xlsx"
    path.write_bytes(workbook.read_bytes())
    for source, given in (("phe_cases_by_utla", str(path)), ("phe_cases_by_region", str(path)),
                          ("nhs_111", f"pathways={path}")):
        done = parse(source, given)
        assert_one_line(done, "utla_all.xlsx", "is not UTF-8 or UTF-16 text", "Excel")


@pytest.mark.parametrize(("edit", "said"), [
    (set_cell("newCasesBySpecimenDate", "-5"), "column 'new_cases'"),
    (set_cell("date", "2031-11-19"), "column 'date'"),
    (lambda rows, _: (rows.insert(camden_row(rows) + 1, list(rows[camden_row(rows)])), camden_row(rows))[1],
     "duplicates"),
], ids=["negative count", "date in 2031", "duplicate row"])
def test_a_table_that_fails_validation_prints_the_summary_and_exits_1(
        tmp_path: Path, edit: Callable[[list[list[str]], int], int], said: str) -> None:
    path = tmp_path / "utla_invalid.csv"
    edited_csv(UTLA, path, edit)
    done = parse("phe_cases_by_utla", str(path))
    line = assert_one_line(done, "utla_invalid.csv", "failed validation (PheCasesByUtla)", said)
    assert "area_code E09000007" in line  # the row, by the values that find it in the file
    assert "validation (PheCasesByUtla): FAILED" in done.stdout


@pytest.fixture
def machine_time_zone(monkeypatch) -> Iterator[Callable[[str], None]]:
    """Sets this process's local time zone (TZ, as a server's would be), and puts it back after the test."""
    def use(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Etc/GMT-14"], ids=["UTC-12", "UTC+14"])
def test_future_dates_are_judged_by_london_s_calendar_not_the_machine_s(tmp_path: Path, zone: str,
                                                                         machine_time_zone) -> None:
    """A row dated today in London is not in the future, and one dated tomorrow is, whatever time zone the machine
    runs in: at any moment one of these two zones' dates differs from London's (26 hours apart), and "today" was the
    machine's own."""
    machine_time_zone(zone)
    today = datetime.now(ZoneInfo("Europe/London")).date()
    for day, passes in ((today, True), (today + timedelta(days=1), False)):
        path = tmp_path / f"utla_{day}.csv"
        edited_csv(UTLA, path, set_cell("date", day.isoformat()))
        done = parse("phe_cases_by_utla", str(path))
        if passes:
            assert done.returncode == 0 and "validation (PheCasesByUtla): passed" in done.stdout, done.stderr
        else:
            assert_one_line(done, path.name, "column 'date': date is in the future")


def test_an_unexpected_error_is_one_line_and_verbose_adds_the_traceback(monkeypatch, capsys) -> None:
    """An error the command does not expect (a bug met while reading a real file) is one line; --verbose adds the
    traceback. The file that used to cause one (JSON records that are not objects) is now a named ParseError, so
    the fault is put in here, in process: validation raising."""
    def broken_check(table, schema):
        raise RuntimeError("a check that was never run on such a table")

    monkeypatch.setattr(command, "validate_table", broken_check)
    monkeypatch.delenv("VERBOSE", raising=False)
    path = sample_path("phe_cases_by_age_sex", "female_cases.json")
    assert command.main(["phe_cases_by_age_sex", f"female_cases={path}"]) == 1
    quiet = capsys.readouterr().err
    [line] = quiet.strip().splitlines()
    assert line.startswith(f"phe_cases_by_age_sex could not read female_cases={path}: unexpected RuntimeError: a "
                           "check that was never run") and "VERBOSE=1" in line and "Traceback" not in quiet
    assert command.main(["phe_cases_by_age_sex", f"female_cases={path}", "--verbose"]) == 1
    verbose = capsys.readouterr().err
    assert "Traceback" in verbose and "broken_check" in verbose
    assert verbose.strip().splitlines()[-1].startswith("phe_cases_by_age_sex could not read")


def test_a_release_without_london_says_so_above_the_latest_values() -> None:
    """The ONS's first workbook (28 May 2020) has England's estimate only: its latest row is shown, under a heading
    that does not call it London's."""
    workbook = REPO_ROOT / "data" / "reference" / "ons" / "covid19infectionsurveydatasets20200528.xlsx"
    done = parse("ons_infection_survey", str(workbook))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "latest values for London:" not in lines
    heading = lines.index("latest values (the table has no row for London):")
    assert lines[heading + 2].split()[:2] == ["E92000001", "England"]  # England's ONS code, below the column names


def test_a_release_without_figures_for_an_area_it_must_cover_is_named(tmp_path: Path) -> None:
    """The nation file of 20 November 2020 read alone as the regional source: England's rows, a note that London's
    are not there (its other file holds them), exit 0. A whole healthcare release whose two files hold none of the
    measures (the real files with those columns left out): refused in one line, as the pipeline refuses it."""
    done = parse("phe_cases_by_region", str(sample_path("phe_cases_by_region", "nation_england.csv")))
    assert done.returncode == 0, done.stderr
    assert ("areas: no figures for London (E12000007): the pipeline stores a release only with figures for each (read "
            "alone, one file of several may lack some)") in done.stdout
    # The borough source's one file is a whole release: without Westminster's lines, refused.
    path = tmp_path / "utla_all.csv"
    path.write_bytes(sample_csv_without("phe_cases_by_utla", "utla_all.csv",
                                        keep_row=lambda row: row["areaCode"] != "E09000033"))
    done = parse("phe_cases_by_utla", str(path))
    assert done.returncode == 1
    assert ("areas: no figures for Westminster (E09000033): the pipeline stores a release only with figures for "
            "each\n") in done.stdout
    assert done.stderr.splitlines() == ["phe_cases_by_utla: utla_all.csv: no figures for Westminster (E09000033): the "
                                        "pipeline would not store this release"]
    files = []
    for name in ("nhs_region_london", "nation_england"):
        path = tmp_path / f"{name}.csv"
        path.write_bytes(sample_csv_without("phe_healthcare", f"{name}.csv", drop_columns=PHE_HEALTHCARE_MEASURES))
        files.append(f"{name}={path}")
    done = parse("phe_healthcare", " ".join(files))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "phe_healthcare: nhs_region_london.csv, nation_england.csv: no figures for NHS region London (E40000003), "
        "England (E92000001): the pipeline would not store this release"]


def test_one_page_of_the_ukhsa_api_is_read_alone(tmp_path: Path) -> None:
    """A page of London's series without England's: read, with a note; in the pipeline a geography that gave
    nothing fails the source, but here the other pages were only not given. Made from the region sample's London
    rows, in the API's record shape."""
    rows = [r for r in sample_rows("phe_cases_by_region", "region_london.csv") if r["areaCode"] == "E12000007"]
    results = ukhsa_records(rows, "Region", "London", "COVID-19_cases_casesByDay", "newCasesBySpecimenDate")
    page = tmp_path / "london_p1.json"
    page.write_text(json.dumps({"count": len(results), "next": None, "previous": None, "results": results}))
    done = parse("--api", "ukhsa", "phe_cases_by_region", str(page))
    assert done.returncode == 0, done.stderr
    assert f"phe_cases_by_region: {len(rows):,} rows" in done.stdout
    assert "areas: no figures for England (E92000001)" in done.stdout
    # England's pages were not given: not that the API does not hold them (a 404, as it said before).
    assert "note: COVID-19_cases_casesByDay for England (Nation): no page of it given: left out" in done.stdout
    assert "(404)" not in done.stdout
