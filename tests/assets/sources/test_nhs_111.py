"""NHS 111/999/online on the real first release (1 April 2020; the shipped files are its first 300 rows each):
London is decided by the ONS CCG lookups, read here with the csv module, and by the release's own April 2020
mapping; every row left out is counted. Later releases' header generation (Sex, no mapping) is made from the same
real rows."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.formats.reading import text_as_utf8
from assets.ingest.source import RawFile
from assets.sources.nhs_111 import SOURCE, find_data_links, parse_nhs_111
from checks.validation import validate_table
from resources.errors import ParseError
from resources.settings import REPO_ROOT
from tests.conftest import BASE_PATHS, failure_text, run_source
from tests.samples import csv_bytes, sample_path, sample_rows

PAGE_URL = "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/latest"
PATHWAYS = "NHS Pathways Covid-19 data CCG mapped.csv"
ONLINE = "111 Online Covid-19 data_CCG mapped.csv"


def shipped_files() -> dict[str, RawFile]:
    return {name: RawFile(file, sample_path("nhs_111", file).read_bytes())
            for name, file in {"pathways": PATHWAYS, "online": ONLINE}.items()}


def lookup_rows(year: str) -> list[dict[str, str]]:
    """An ONS CCG -> STP -> NHS region lookup, read with the csv module."""
    name = {"2020": "Clinical_Commissioning_Group_to_STP_and_NHS_England__Region___April_2020__Lookup_in_England.csv",
            "2021": "Clinical_Commissioning_Group_to_STP_and_NHS_England_(Region)_(April_2021)_Lookup_in_England.csv"}
    with (REPO_ROOT / "data" / "lookups" / name[year]).open(newline="") as handle:
        return list(csv.DictReader(handle))


def london_codes() -> set[str]:
    codes = set()
    for year in ("20", "21"):
        for row in lookup_rows(f"20{year}"):
            if row[f"NHSER{year}CD"] == "E40000003":
                codes |= {row[f"CCG{year}CD"], row[f"CCG{year}CDH"]}
    return codes


def test_links_are_found_by_their_titles_including_the_publishers_typo() -> None:
    links = find_data_links(sample_path("nhs_111", "page.html").read_bytes(), PAGE_URL)
    assert links == {
        "pathways": "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/"
                    "NHS%20Pathways%20Covid-19%20data%20CCG%20mapped.csv",
        "online": "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/"
                  "111%20Online%20Covid-19%20data_CCG%20mapped.csv",
    }


def test_a_page_without_the_links_says_which_title_is_missing(httpserver: HTTPServer, data_dir: Path) -> None:
    page = b'<html><body><a href="x.csv" title="NHS Pathways Potential COVID-19 Open Data">x</a></body></html>'
    httpserver.expect_request(BASE_PATHS["nhs111"]).respond_with_data(page, content_type="text/html")
    result = run_source(SOURCE, data_dir, httpserver.url_for(BASE_PATHS["nhs111"]))
    assert not result.success
    assert re.search(r"\[nhs_111\].*no link titled '111 online potential coivd-19 open data'", failure_text(result))


def test_the_lookups_give_london_twenty_ccg_codes_in_each_code_system() -> None:
    codes = london_codes()
    assert len([c for c in codes if c.startswith("E38")]) == 20 and len(codes) == 40
    assert {"07L", "93C", "W2U3Z", "A3A8R", "72Q", "36L", "E38000255", "E38000256"} <= codes


def test_london_counts_match_the_files_by_the_release_s_own_april_2020_mapping() -> None:
    table = parse_nhs_111(shipped_files())
    london = london_codes()
    pathways = sample_rows("nhs_111", PATHWAYS)
    online = sample_rows("nhs_111", ONLINE)
    kept_calls = [r for r in pathways if r["April20 mapped CCGCode"] in london]
    kept_online = [r for r in online if r["April20 mapped CCGCode"] in london]
    assert kept_calls and kept_online
    for site in ("111", "999"):
        assert table.loc[table.site_type == site, "count"].sum() == sum(
            int(r["TriageCount"]) for r in kept_calls if r["SiteType"] == site)
    assert table.loc[table.site_type == "online", "count"].sum() == sum(int(r["Total"]) for r in kept_online)
    # Each row keeps its CCG as published (the 2019 CCG in this release) ...
    assert sorted(table["ccg_code"]) == sorted(r["CCGCode"] for r in kept_calls + kept_online)
    assert "E38000005" in set(table["ccg_code"])  # Barnet, a 2019 CCG merged into North Central London in 2020
    # ... and gains the April 2021 London CCG it belongs to (via its STP in the ONS lookups).
    stp_of = {r["CCG20CD"]: r["STP20CD"] for r in lookup_rows("2020")}
    ccg21_of_stp = {r["STP21CD"]: r["CCG21CD"] for r in lookup_rows("2021") if r["NHSER21CD"] == "E40000003"}
    expected = sorted(ccg21_of_stp[stp_of[r["April20 mapped CCGCode"]]] for r in kept_calls + kept_online)
    assert sorted(table["merged_ccg_code"]) == expected
    assert validate_table(table, SOURCE.schema).passed


def test_rows_left_out_are_counted_by_reason() -> None:
    table = parse_nhs_111(shipped_files())
    pathways = sample_rows("nhs_111", PATHWAYS)
    welsh = sum(1 for r in pathways if r["CCGCode"].startswith(("W", "S")))
    nulls = sum(1 for r in pathways if r["CCGCode"] == "NULL")
    assert welsh and nulls
    [note] = [n for n in table.attrs["notes"] if n.startswith(PATHWAYS)]
    assert f"{welsh} from outside England" in note and f"{nulls} with the code NULL" in note


def test_the_later_header_generation_reads_the_same_rows() -> None:
    """Later releases said Sex/sex, kept CCGs in April 2020 codes and dropped the mapped columns, and ended with
    empty rows; built here from the real first release's rows."""
    totals: dict[tuple, int] = {}  # each 2019 CCG's count added to its April 2020 CCG's, as later releases had them
    for row in sample_rows("nhs_111", PATHWAYS):
        key = (row["SiteType"], row["Call Date"], row["Gender"], row["AgeBand"], row["April20 mapped CCGCode"],
               row["April20 mapped CCGName"])
        totals[key] = totals.get(key, 0) + int(row["TriageCount"])
    names = ["SiteType", "Call Date", "Sex", "AgeBand", "CCGCode", "CCGName"]
    later = [{**dict(zip(names, key, strict=True)), "TriageCount": str(total)} for key, total in totals.items()]
    content = csv_bytes(later).replace(b"\n", b"\r\n") + b",,,,,,\r\n" * 50
    table = parse_nhs_111({"pathways": RawFile("pathways.csv", content)})
    first = parse_nhs_111({"pathways": shipped_files()["pathways"]})
    assert table["count"].sum() == first["count"].sum()
    assert table.groupby("merged_ccg_code")["count"].sum().equals(first.groupby("merged_ccg_code")["count"].sum())
    assert validate_table(table, SOURCE.schema).passed
    assert any("50 with no code (empty rows)" in note for note in table.attrs["notes"])


def test_an_english_code_in_no_lookup_is_not_silently_dropped() -> None:
    rows = sample_rows("nhs_111", ONLINE)
    for row in rows[:4]:
        row["April20 mapped CCGCode"] = "E38999999"
    table = parse_nhs_111({"online": RawFile("online.csv", csv_bytes(rows))})
    assert any("4 rows have English CCG codes in neither" in note and "E38999999" in note
               for note in table.attrs["notes"])


def test_header_case_and_spacing_do_not_matter_but_missing_columns_do() -> None:
    rows = sample_rows("nhs_111", PATHWAYS)
    recased = [{k.upper(): v for k, v in r.items()} for r in rows]
    files = shipped_files() | {"pathways": RawFile("pathways.csv", csv_bytes(recased))}
    assert len(parse_nhs_111(files)) == len(parse_nhs_111(shipped_files()))

    without = [{k: v for k, v in r.items() if k != "TriageCount"} for r in rows]
    files = shipped_files() | {"pathways": RawFile("pathways.csv", csv_bytes(without))}
    with pytest.raises(ParseError, match=r"pathways\.csv: missing column\(s\) 'triagecount'; found 'SiteType'"):
        parse_nhs_111(files)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be"])
def test_a_release_saved_with_a_byte_order_mark_reads_as_the_utf8_one(encoding: str) -> None:
    """Excel saves "Unicode text" as UTF-16 with a byte-order mark, and "CSV UTF-8" with a UTF-8 one."""
    files = shipped_files()
    text = files["online"].content.decode("utf-8")
    # Python's "utf-16" writes a little-endian mark; the big-endian codec writes none, so it is added.
    content = text.encode(encoding) if encoding != "utf-16-be" else b"\xfe\xff" + text.encode(encoding)
    saved = {**files, "online": RawFile(ONLINE, content)}
    pd.testing.assert_frame_equal(parse_nhs_111(saved), parse_nhs_111(files))


def test_a_utf8_release_is_not_copied_to_be_read() -> None:
    """The encoding is told from the first bytes: a UTF-8 file (most, and the largest) is read as it is."""
    content = shipped_files()["pathways"].content
    assert text_as_utf8(content, PATHWAYS) is content


def test_text_in_a_count_names_the_header_s_column_and_the_file_line() -> None:
    files = shipped_files()
    lines = files["pathways"].content.decode("utf-8").split("\n")
    index = next(i for i, line in enumerate(lines) if ",E38000011," in line)  # NHS Bexley CCG: a London row
    lines[index] = lines[index].rsplit(",", 1)[0] + ",lots"
    edited = {**files, "pathways": RawFile(PATHWAYS, "\n".join(lines).encode("utf-8"))}
    with pytest.raises(ParseError, match=rf"column 'TriageCount' .* \(line {index + 1}: 'lots'\)"):
        parse_nhs_111(edited)
