"""Live mode's UKHSA adapter against a local server that pages like the real API: every page fetched and archived,
429 honoured, a malformed page and a looping `next` stopped with the URL named, and the clean table equal to the
one the PHE-format release of the same numbers gives."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from assets.formats.ukhsa_api import ADMISSIONS_BY_DAY, CASES_BY_DAY, OCCUPIED_BEDS_BY_DAY, read_page, records, wide
from assets.ingest.source import RawFile, Source
from assets.sources import SOURCES
from assets.sources.phe_cases_by_region import parse_cases_by_region
from checks.geography import LONDON_BOROUGH_NAMES
from resources.archive import RawArchive
from resources.settings import REPO_ROOT
from tests.conftest import failure_text, pipeline_resources, source_assets
from tests.samples import sample_files, sample_rows, ukhsa_records

REGION = SOURCES["phe_cases_by_region"]
HEALTHCARE = SOURCES["phe_healthcare"]
BOROUGHS = SOURCES["phe_cases_by_utla"]
PER_PAGE = 80  # the server's own page size: London's 283 days and England's 295 make 4 pages per series


def ukhsa_results(file: str, geography: str, kind: str, delayed_days: int = 0) -> list[dict]:
    """The PHE region sample's daily cases for `geography` as UKHSA API records."""
    rows = [r for r in sample_rows("phe_cases_by_region", file) if r["areaName"] == geography]
    return ukhsa_records(rows, kind, geography, CASES_BY_DAY, "newCasesBySpecimenDate", delayed_days)


class PagedApi:
    """Serves each series (geography type, geography, metric -> records; by default the region source's two) in
    pages of PER_PAGE with absolute `next` links. Faults are set per (geography, page), or (geography, metric,
    page) for one metric of a geography."""

    def __init__(self, server: HTTPServer, delayed_days: int = 0,
                 series: dict[tuple[str, str, str], list[dict]] | None = None) -> None:
        self.server, self.hits, self.faults = server, [], {}
        self.series = series or {
            ("Region", "London", CASES_BY_DAY): ukhsa_results("region_london.csv", "London", "Region", delayed_days),
            ("Nation", "England", CASES_BY_DAY): ukhsa_results("nation_england.csv", "England", "Nation",
                                                               delayed_days),
        }
        # Every series path: one the API does not hold is answered 404, as the real one answers.
        server.expect_request(re.compile("/api/themes/infectious_disease/sub_themes/respiratory/topics/COVID-19/"
                                         "geography_types/.+")).respond_with_handler(self.answer)

    @property
    def base(self) -> str:
        return self.server.url_for("/api")

    def answer(self, request: Request) -> Response:
        kind, rest = request.path.split("/geography_types/")[1].split("/geographies/")
        geography, metric = rest.split("/metrics/")
        page = int(request.args.get("page", "1"))
        self.hits.append((geography, page))
        fault = self.faults.pop((geography, metric, page), None) or self.faults.pop((geography, page), None)
        if fault == 429:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        if fault == "malformed":
            return Response('{"count": 62, "next": "http://', status=200, content_type="application/json")
        if fault == 404 or (kind, geography, metric) not in self.series:
            return Response('{"detail": "Not found."}', status=404, content_type="application/json")
        results = [] if fault == "empty" else self.series[(kind, geography, metric)]
        chunk = results[(page - 1) * PER_PAGE: page * PER_PAGE]
        more = page * PER_PAGE < len(results)
        next_page = 1 if fault == "loop" else page + 1
        url = f"{request.base_url}?page_size=365&page={next_page}"
        body = {"count": len(results), "next": url if more or fault == "loop" else None,
                "previous": None if page == 1 else f"{request.base_url}?page_size=365&page={page - 1}",
                "results": chunk}
        return Response(json.dumps(body), status=200, content_type="application/json")


def run_live(api: PagedApi, data_dir: Path, source: Source = REGION) -> dg.ExecuteInProcessResult:
    resources = pipeline_resources(data_dir, {"ukhsa": api.base}, cases_api="ukhsa")
    return dg.materialize(source_assets(source), resources=resources, raise_on_error=False)


def test_all_pages_fetched_archived_and_equal_to_the_phe_release(httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver)
    result = run_live(api, data_dir)
    assert result.success, failure_text(result)
    assert sorted(api.hits) == sorted([(g, p) for g in ("London", "England") for p in (1, 2, 3, 4)])
    archived = RawArchive(data_dir=str(data_dir)).latest_for_source(REGION.name)
    assert sorted(e.request for e in archived) == sorted(
        f"ukhsa_{s}_cases_p{p}" for s in ("london", "england") for p in (1, 2, 3, 4))
    live = pd.read_parquet(data_dir / "tables" / "phe_cases_by_region.parquet")
    phe = parse_cases_by_region(sample_files(REGION))
    columns = ["area_code", "area_name", "date", "new_cases"]
    pd.testing.assert_frame_equal(live[columns], phe[columns])
    # The UKHSA API has no cumulative count: it is rebuilt from the whole daily history, which starts in early 2020.
    for code, group in live.groupby("area_code"):
        assert group["cumulative_cases"].tolist() == group["new_cases"].astype(int).cumsum().tolist(), code
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(REGION.name)]
    assert event.materialization.metadata["format"].value == "UKHSA data dashboard API"


def test_a_429_on_one_page_is_honoured(httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver)
    api.faults[("England", 3)] = 429
    started = time.monotonic()
    result = run_live(api, data_dir)
    assert result.success, failure_text(result)
    assert time.monotonic() - started >= 1.0
    assert api.hits.count(("England", 3)) == 2


@pytest.mark.parametrize(("fault", "problem"), [("malformed", "is not valid JSON"),
                                                ("loop", "links back to a page already fetched")])
def test_a_bad_page_stops_the_source_naming_its_url(fault, problem, httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver)
    api.faults[("London", 2)] = fault
    result = run_live(api, data_dir)
    assert not result.success
    message = failure_text(result)
    assert "[phe_cases_by_region]" in message and problem in message
    bad_url = "/geographies/London/metrics/COVID-19_cases_casesByDay?page_size=365&page="
    assert bad_url in message
    if fault == "malformed":  # the bad page itself is archived for whoever investigates, but is not the latest
        [page] = (data_dir / "raw" / REGION.name).glob("*/*_ukhsa_london_cases_p2.json.gz")
        assert gzip.decompress(page.read_bytes()).startswith(b'{"count": 62, "next": "http://')
        assert RawArchive(data_dir=str(data_dir)).latest(REGION.name, "ukhsa_london_cases_p2") is None


def test_days_inside_the_reporting_delay_are_marked_provisional(httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver, delayed_days=4)
    assert run_live(api, data_dir).success
    table = pd.read_parquet(data_dir / "tables" / "phe_cases_by_region.parquet")
    london = table[table["area_code"] == "E12000007"].sort_values("date")
    assert london["provisional"].tolist()[-4:] == [True] * 4 and not london["provisional"].iloc[:-4].any()


def test_real_ukhsa_records_are_read() -> None:
    """Real records from the API (England test positivity, 2024, collected by a public project): the shape parses."""
    real = json.loads((REPO_ROOT / "data" / "reference" /
                       "ukhsa_results_covid19_testing_positivity7DayRolling_England_2024.json").read_text())
    page = json.dumps({"count": len(real), "next": None, "previous": None, "results": real}).encode()
    frame = records({"ukhsa_england_positivity_p1": RawFile("page.json", page)})
    assert len(frame) == len(real)
    first = frame.sort_values("date").iloc[0]
    assert (first["area_code"], f"{first['date']:%Y-%m-%d}", first["value"]) == (
        real[0]["geography_code"], real[0]["date"], real[0]["metric_value"])
    assert read_page(page, "page.json")["next"] is None


@pytest.mark.parametrize(("fault", "said"), [(404, "not found (404)"), ("empty", "has no results")])
def test_a_geography_the_api_gives_nothing_for_fails_the_source_and_the_last_good_table_stays(
        fault, said, httpserver: HTTPServer, data_dir: Path) -> None:
    """England answered with nothing (a name the API does not hold, or no longer): the table would have London
    alone, and the Datastore's London and Rest of England file could not be made. The source fails in one line
    naming England; the table of the night before stays."""
    api = PagedApi(httpserver)
    assert run_live(api, data_dir).success
    stored = data_dir / "tables" / "phe_cases_by_region.parquet"
    before = stored.read_bytes()
    api.faults[("England", 1)] = fault
    result = run_live(api, data_dir)
    assert not result.success
    message = failure_text(result)
    assert ("[phe_cases_by_region] the UKHSA API's /themes/infectious_disease/sub_themes/respiratory/topics/"
            "COVID-19/geography_types/Nation/geographies/England/metrics/COVID-19_cases_casesByDay: no series "
            f"answered for England (Nation) (COVID-19_cases_casesByDay {said})") in message, message
    assert stored.read_bytes() == before
    if fault == 404:
        [raw] = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "raw"]
        assert "geographies/England" in raw.materialization.metadata["not_found"].value


def healthcare_series() -> dict[tuple[str, str, str], list[dict]]:
    """The PHE healthcare sample's admissions and patients in hospital, London's and England's, as UKHSA series."""
    series = {}
    for kind, geography, file in (("NHS Region", "London", "nhs_region_london.csv"),
                                  ("Nation", "England", "nation_england.csv")):
        rows = sample_rows("phe_healthcare", file)
        series[(kind, geography, ADMISSIONS_BY_DAY)] = ukhsa_records(rows, kind, geography, ADMISSIONS_BY_DAY,
                                                                  "newAdmissions")
        series[(kind, geography, OCCUPIED_BEDS_BY_DAY)] = ukhsa_records(rows, kind, geography, OCCUPIED_BEDS_BY_DAY,
                                                                     "hospitalCases")
    return series


def test_healthcare_reads_each_area_s_two_series_and_a_metric_missing_is_a_note(
        httpserver: HTTPServer, data_dir: Path, tmp_path: Path) -> None:
    api = PagedApi(httpserver, series=healthcare_series())
    assert run_live(api, data_dir, HEALTHCARE).success
    table = pd.read_parquet(data_dir / "tables" / "phe_healthcare.parquet")
    for code, file in (("E40000003", "nhs_region_london.csv"), ("E92000001", "nation_england.csv")):
        area = table[table["area_code"] == code].set_index("date")
        for column, metric in (("new_admissions", "newAdmissions"), ("hospital_cases", "hospitalCases")):
            expected = {pd.Timestamp(r["date"]): int(r[metric]) for r in sample_rows("phe_healthcare", file)
                        if r[metric]}
            assert area[column].dropna().astype(int).to_dict() == expected, (code, column)
        assert area["covid_occupied_mv_beds"].isna().all()  # the UKHSA API has no ventilation measure

    # London's patients in hospital not held, on a first run (after a release with them, check_measures refuses
    # it): London's admissions are still read, and the note says what is missing.
    api.faults[("London", OCCUPIED_BEDS_BY_DAY, 1)] = 404
    first = tmp_path / "first"
    result = run_live(api, first, HEALTHCARE)
    assert result.success, failure_text(result)
    table = pd.read_parquet(first / "tables" / "phe_healthcare.parquet")
    london = table[table["area_code"] == "E40000003"]
    assert london["hospital_cases"].isna().all() and london["new_admissions"].notna().any()
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(HEALTHCARE.name)]
    assert (f"the UKHSA API does not hold {OCCUPIED_BEDS_BY_DAY} for London (NHS Region) (404): left out"
            in event.materialization.metadata["notes"].value)


def test_healthcare_with_nothing_for_london_fails_naming_it(httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver, series=healthcare_series())
    api.faults[("London", ADMISSIONS_BY_DAY, 1)] = 404
    api.faults[("London", OCCUPIED_BEDS_BY_DAY, 1)] = "empty"
    result = run_live(api, data_dir, HEALTHCARE)
    assert not result.success
    message = failure_text(result)
    assert (f"no series answered for London (NHS Region) ({ADMISSIONS_BY_DAY} not found (404); "
            f"{OCCUPIED_BEDS_BY_DAY} has no results)") in message, message
    assert not (data_dir / "tables" / "phe_healthcare.parquet").exists()


def borough_series(hackney: str = "Hackney") -> dict[tuple[str, str, str], list[dict]]:
    """The 20 November 2020 release's London boroughs as UKHSA series, City of London as the lower-tier authority
    UKHSA holds it as. The release has Hackney and City of London together; the split is made up here (City a
    twentieth of the pair, Hackney the rest), so folded together they are the release's figures again."""
    rows = [r for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if r["areaCode"].startswith("E09")]
    series = {}
    for code, name in LONDON_BOROUGH_NAMES.items():
        if code == "E09000001":
            area = [{**r, "areaCode": code, "newCasesBySpecimenDate": str(int(r["newCasesBySpecimenDate"]) // 20)}
                    for r in rows if r["areaCode"] == "E09000012"]
            series[("Lower Tier Local Authority", name, CASES_BY_DAY)] = ukhsa_records(
                area, "Lower Tier Local Authority", name, CASES_BY_DAY, "newCasesBySpecimenDate")
            continue
        area = [r for r in rows if r["areaCode"] == code]
        if code == "E09000012":
            area = [{**r, "newCasesBySpecimenDate": str(int(r["newCasesBySpecimenDate"])
                                                        - int(r["newCasesBySpecimenDate"]) // 20)} for r in area]
        series[("Upper Tier Local Authority", hackney if code == "E09000012" else name, CASES_BY_DAY)] = ukhsa_records(
            area, "Upper Tier Local Authority", name, CASES_BY_DAY, "newCasesBySpecimenDate")
    return series


def test_boroughs_are_read_with_city_of_london_folded_into_hackney(httpserver: HTTPServer, data_dir: Path) -> None:
    api = PagedApi(httpserver, series=borough_series())
    result = run_live(api, data_dir, BOROUGHS)
    assert result.success, failure_text(result)
    table = pd.read_parquet(data_dir / "tables" / "phe_cases_by_utla.parquet")
    expected = {(r["areaCode"], pd.Timestamp(r["date"])): int(r["newCasesBySpecimenDate"])
                for r in sample_rows("phe_cases_by_utla", "utla_all.csv") if r["areaCode"].startswith("E09")}
    assert len({code for code, _ in expected}) == 32
    got = {(row.area_code, row.date): int(row.new_cases) for row in table.itertuples()}
    assert got == expected


def test_boroughs_without_hackney_fail_rather_than_publish_city_of_london_as_hackney_and_city(
        httpserver: HTTPServer, data_dir: Path) -> None:
    """Hackney under a name the API does not hold: folded, City of London's figures alone would be published as
    E09000012 "Hackney and City of London". The source fails naming Hackney."""
    api = PagedApi(httpserver, series=borough_series(hackney="Hackney and City of London"))
    result = run_live(api, data_dir, BOROUGHS)
    assert not result.success
    assert "no series answered for Hackney (Upper Tier Local Authority)" in failure_text(result)
    assert not (data_dir / "tables" / "phe_cases_by_utla.parquet").exists()


def test_city_of_london_is_asked_for_as_the_lower_tier_authority_ukhsa_holds_it_as() -> None:
    from assets.sources.phe_cases_by_utla import build_live_requests

    urls = {r.name: r.url for r in build_live_requests("https://api.example")}
    assert "/geography_types/Lower%20Tier%20Local%20Authority/geographies/City%20of%20London/" in urls[
        "ukhsa_e09000001_cases_p1"]
    assert "/geography_types/Upper%20Tier%20Local%20Authority/geographies/Hackney/" in urls["ukhsa_e09000012_cases_p1"]


def test_results_not_read_are_counted_or_named() -> None:
    """An age stratum is counted; the same result twice is counted; a second, different value for a day is named
    (the first is read). Made from the sample's London records."""
    london = ukhsa_results("region_london.csv", "London", "Region")
    by_age = [{**london[0], "age": "00-04", "metric_value": 3}, {**london[1], "sex": "female", "metric_value": 2}]
    again, changed = dict(london[5]), {**london[6], "metric_value": london[6]["metric_value"] + 7}
    page = json.dumps({"count": 0, "next": None, "previous": None,
                       "results": [*london, *by_age, again, changed]}).encode()
    table = wide(records({"london_cases_p1": RawFile("london_p1.json", page)}), {CASES_BY_DAY: "new_cases"})
    assert len(table) == len(london)
    assert table.set_index("date").loc[pd.Timestamp(london[6]["date"]), "new_cases"] == london[6]["metric_value"]
    notes = " ".join(table.attrs["notes"])
    assert "2 results for one age or sex" in notes and "1 repeated results (the same value twice)" in notes
    [named] = table.attrs["left_out"]
    assert named["where"] == f"{CASES_BY_DAY} for {london[6]['date']}"
    assert f"a second value {float(changed['metric_value'])!r}" in named["why"]
