from __future__ import annotations

import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from assets.nhs_111 import SOURCE, find_data_links, parse_nhs_111
from assets.source import RawFile
from checks.lookups import london_ccg_codes
from checks.validation import validate_table
from resources.errors import ParseError
from tests.conftest import BASE_PATHS, failure_text, run_source
from tests.samples import csv_bytes, sample_path, sample_rows

PAGE_URL = "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/latest"


def shipped_files() -> dict[str, RawFile]:
    return {
        name: RawFile(file, sample_path("nhs_111", file).read_bytes())
        for name, file in {"pathways": "NHS_Pathways_SYNTHETIC_sample.csv",
                           "online": "111_Online_SYNTHETIC_sample.csv"}.items()
    }


def test_links_are_found_by_their_titles_including_the_publishers_typo() -> None:
    links = find_data_links(sample_path("nhs_111", "page.html").read_bytes(), PAGE_URL)
    assert links == {
        "pathways": "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/"
                    "NHS_Pathways_SYNTHETIC_sample.csv",
        "online": "https://digital.nhs.uk/data-and-information/publications/statistical/mi-potential/"
                  "111_Online_SYNTHETIC_sample.csv",
    }


def test_a_page_without_the_links_says_which_title_is_missing(httpserver: HTTPServer, data_dir: Path) -> None:
    page = b'<html><body><a href="x.csv" title="NHS Pathways Potential COVID-19 Open Data">x</a></body></html>'
    httpserver.expect_request(BASE_PATHS["nhs111"]).respond_with_data(page, content_type="text/html")
    result = run_source(SOURCE, data_dir, httpserver.url_for(BASE_PATHS["nhs111"]))
    assert not result.success
    assert re.search(r"\[nhs_111\].*no link titled '111 online potential coivd-19 open data'", failure_text(result))


def test_london_counts_match_the_files() -> None:
    table = parse_nhs_111(shipped_files())
    london = set(london_ccg_codes())
    pathways = sample_rows("nhs_111", "NHS_Pathways_SYNTHETIC_sample.csv")
    online = sample_rows("nhs_111", "111_Online_SYNTHETIC_sample.csv")
    calls_111 = sum(int(r["TriageCount"]) for r in pathways if r["CCGCode"] in london and r["SiteType"] == "111")
    assessments = sum(int(r["Total"]) for r in online if r["ccgcode"] in london)
    assert table[table.site_type == "111"]["count"].sum() == calls_111
    assert table[table.site_type == "online"]["count"].sum() == assessments
    assert set(table["ccg_code"]) <= london
    assert validate_table(table, SOURCE.schema).passed


def test_header_case_and_spacing_do_not_matter_but_missing_columns_do() -> None:
    rows = sample_rows("nhs_111", "NHS_Pathways_SYNTHETIC_sample.csv")
    recased = [{k.upper(): v for k, v in r.items()} for r in rows]
    files = shipped_files() | {"pathways": RawFile("pathways.csv", csv_bytes(recased))}
    assert len(parse_nhs_111(files)) == len(parse_nhs_111(shipped_files()))

    without = [{k: v for k, v in r.items() if k != "TriageCount"} for r in rows]
    files = shipped_files() | {"pathways": RawFile("pathways.csv", csv_bytes(without))}
    with pytest.raises(ParseError, match=r"pathways\.csv: missing column\(s\) 'triagecount'; found 'SiteType'"):
        parse_nhs_111(files)
