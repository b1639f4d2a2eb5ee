"""Each real release in data/, served from a local HTTP server as its publisher served it, read by the source's
Dagster assets in live mode with the documented settings (PIPELINE_MODE=live, CASES_API=phe, PHE_API_URL, ONS_URL,
NHS111_URL), as a user would. Expected values come from the raw files, read here with csv, json or openpyxl."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.sources import SOURCES
from assets.sources.nhs_111 import SAMPLE_FILES
from resources import build_resources
from resources.settings import REPO_ROOT
from tests.conftest import BASE_PATHS, failure_text, route_for, source_assets
from tests.samples import sample_path

PHE = REPO_ROOT / "data" / "reference" / "phe"
RELEASES = REPO_ROOT / "data" / "releases"


def serve(server: HTTPServer, source: str, files: dict[str, Path], headers: dict[str, str] | None = None) -> str:
    """Answer the source's request URLs at this server with the given real files (by request name)."""
    name = SOURCES[source]
    api = name.sample.api
    base = server.url_for(BASE_PATHS[api])
    for request in name.sample.build_requests(base):
        if request.name in files:
            route, query = route_for(request.url)
            server.expect_request(route, query_string=query).respond_with_data(files[request.name].read_bytes(),
                                                                               headers=headers)
    return base


def run_live(source: str, data_dir: Path, monkeypatch, **urls: str) -> pd.DataFrame:
    monkeypatch.setenv("PIPELINE_MODE", "live")
    monkeypatch.setenv("CASES_API", "phe")
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data_dir))
    for setting, url in urls.items():
        monkeypatch.setenv(setting, url)
    resources = build_resources()
    del resources["datastore"]
    result = dg.materialize(source_assets(SOURCES[source]), resources=resources, raise_on_error=False)
    assert result.success, failure_text(result)
    return pd.read_parquet(data_dir / "tables" / f"{source}.parquet")


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return [row for row in reader if list(row.values()) != reader.fieldnames]


def test_the_upper_tier_release_of_20_november_2020(httpserver: HTTPServer, data_dir: Path, monkeypatch) -> None:
    path = sample_path("phe_cases_by_utla", "utla_all.csv")
    url = serve(httpserver, "phe_cases_by_utla", {"utla_all": path})
    table = run_live("phe_cases_by_utla", data_dir, monkeypatch, PHE_API_URL=url)
    london = [r for r in csv_rows(path) if r["areaCode"].startswith("E09")]
    assert len(table) == len(london) == 8414
    latest = max(r["date"] for r in london)
    westminster = next(r for r in london if r["areaCode"] == "E09000033" and r["date"] == latest)
    row = table[(table.area_code == "E09000033") & (table.date == pd.Timestamp(latest))].iloc[0]
    assert row["new_cases"] == int(westminster["newCasesBySpecimenDate"])


def test_a_2020_dashboard_download_with_city_of_london_apart(httpserver: HTTPServer, data_dir: Path,
                                                             monkeypatch) -> None:
    """28 April 2020: every borough twice (upper- and lower-tier), City of London separate from Hackney."""
    path = PHE / "legacy_csv_coronavirus-cases_2020-04-28_LONDON_CUT_first_date_only.csv"
    url = serve(httpserver, "phe_cases_by_utla", {"utla_all": path})
    table = run_live("phe_cases_by_utla", data_dir, monkeypatch, PHE_API_URL=url)
    upper = {r["Area code"]: r for r in csv_rows(path) if r["Area type"] == "Upper tier local authority"}
    assert len(table) == 32 and "E09000001" in upper
    hackney = table[table.area_code == "E09000012"].iloc[0]
    assert hackney["new_cases"] == int(upper["E09000012"]["Daily lab-confirmed cases"]) + int(
        upper["E09000001"]["Daily lab-confirmed cases"])
    assert hackney["cumulative_cases"] == int(upper["E09000012"]["Cumulative lab-confirmed cases"]) + int(
        upper["E09000001"]["Cumulative lab-confirmed cases"])


def test_london_from_a_2020_download_and_england_from_the_nation_release(httpserver: HTTPServer, data_dir: Path,
                                                                         monkeypatch) -> None:
    london_path = RELEASES / "2020-08-29" / "phe_cases_by_region" / "region_london.csv"
    england_path = sample_path("phe_cases_by_region", "nation_england.csv")
    url = serve(httpserver, "phe_cases_by_region", {"region_london": london_path, "nation_england": england_path})
    table = run_live("phe_cases_by_region", data_dir, monkeypatch, PHE_API_URL=url)
    london = csv_rows(london_path)
    latest = max(london, key=lambda r: r["Specimen date"])
    row = table[(table.area_code == "E12000007")].set_index("date").loc[pd.Timestamp(latest["Specimen date"])]
    assert (row["new_cases"], row["cumulative_cases"]) == (int(latest["Daily lab-confirmed cases"]),
                                                          int(latest["Cumulative lab-confirmed cases"]))
    england = [r for r in csv_rows(england_path) if r["areaName"] == "England"]
    assert (table.area_code == "E92000001").sum() == len(england)


def test_admissions_by_age_of_20_november_2020(httpserver: HTTPServer, data_dir: Path, monkeypatch) -> None:
    path = sample_path("phe_admissions_by_age", "nhsregion_cumAdmissionsByAge.json")
    url = serve(httpserver, "phe_admissions_by_age", {"nhs_region_london_admissions_age": path})
    table = run_live("phe_admissions_by_age", data_dir, monkeypatch, PHE_API_URL=url)
    london = [r for r in json.loads(path.read_text())["data"] if r["areaName"] == "London"]
    latest = max(london, key=lambda r: r["date"])
    got = table[table.date == pd.Timestamp(latest["date"])]["cumulative_admissions"].sum()
    assert got == sum(band["value"] for band in latest["cumAdmissionsByAge"])


def test_london_healthcare_of_december_2023(httpserver: HTTPServer, data_dir: Path, monkeypatch) -> None:
    london_path = sample_path("phe_healthcare", "nhs_region_london.csv")
    url = serve(httpserver, "phe_healthcare", {"nhs_region_london": london_path,
                                               "nation_england": sample_path("phe_healthcare", "nation_england.csv")})
    table = run_live("phe_healthcare", data_dir, monkeypatch, PHE_API_URL=url)
    rows = csv_rows(london_path)
    latest = max(rows, key=lambda r: r["date"])
    row = table[table.area_code == "E40000003"].set_index("date").loc[pd.Timestamp(latest["date"])]
    assert (row["new_admissions"], row["hospital_cases"]) == (int(latest["newAdmissions"]),
                                                             int(latest["hospitalCases"]))
    assert pd.isna(row["covid_occupied_mv_beds"]) and latest["covidOccupiedMVBeds"] == ""


def test_the_ons_workbook_of_19_august_2022(httpserver: HTTPServer, data_dir: Path, monkeypatch) -> None:
    path = sample_path("ons_infection_survey", "20220819covid19infectionsurveydatasetsengland.xlsx")
    httpserver.expect_request(BASE_PATHS["ons"]).respond_with_data(path.read_bytes())
    table = run_live("ons_infection_survey", data_dir, monkeypatch, ONS_URL=httpserver.url_for(BASE_PATHS["ons"]))
    sheet = openpyxl.load_workbook(path, read_only=True, data_only=True)["1f"]
    [[day, estimate]] = [[row[0].value, row[55].value] for row in sheet.iter_rows(min_row=52, max_row=52)]
    london = table[(table.area_code == "E12000007") & (table.estimate_kind == "modelled_daily")]
    assert london.set_index("period_end").loc[pd.Timestamp(day), "percent_positive"] == estimate


@pytest.mark.parametrize("variant", ["first release", "later headers"])
def test_the_nhs_111_release_found_from_its_page(variant: str, httpserver: HTTPServer, data_dir: Path,
                                                   monkeypatch, tmp_path: Path) -> None:
    page = sample_path("nhs_111", "page.html").read_bytes()
    files = {name: sample_path("nhs_111", file) for name, file in SAMPLE_FILES.items()}
    if variant == "later headers":
        # Later releases: `sex`, the April 2020 CCGs themselves (no mapping columns), CRLF, empty rows at the end.
        # Made from the same real rows, each 2019 CCG's count added to its April 2020 CCG's.
        totals: dict[tuple, int] = {}
        for r in csv_rows(files["online"]):
            key = (r["journeydate"], r["gender"], r["ageband"], r["April20 mapped CCGCode"], r["April20 mappedCCGName"])
            totals[key] = totals.get(key, 0) + int(r["Total"])
        later = tmp_path / "online.csv"
        with later.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(["journeydate", "sex", "ageband", "ccgcode", "ccgname", "Total"])
            writer.writerows([*key, total] for key, total in totals.items())
            writer.writerows([[""] * 6] * 20)
        files["online"] = later
    httpserver.expect_request(BASE_PATHS["nhs111"]).respond_with_data(page, content_type="text/html")
    for name, file in SAMPLE_FILES.items():
        route = str(Path(BASE_PATHS["nhs111"]).parent / file)
        httpserver.expect_request(route).respond_with_data(files[name].read_bytes())
    table = run_live("nhs_111", data_dir, monkeypatch, NHS111_URL=httpserver.url_for(BASE_PATHS["nhs111"]))
    online = csv_rows(sample_path("nhs_111", SAMPLE_FILES["online"]))
    london = {"E38000004", "E38000020", "E38000031", "E38000035", "E38000048", "E38000070", "E38000074",
              "E38000077", "E38000082", "E38000084", "E38000113", "E38000138", "E38000186", "E38000192",
              "E38000202", "E38000240", "E38000244", "E38000245"}  # the 18 of NHS region London, April 2020
    assert table.loc[table.site_type == "online", "count"].sum() == sum(
        int(r["Total"]) for r in online if r["April20 mapped CCGCode"] in london)


def test_summer_2020_downloads_with_counts_as_decimals_and_days_left_blank(httpserver: HTTPServer, data_dir: Path,
                                                                            monkeypatch) -> None:
    """The dashboard downloads of July 2020 wrote counts as `1.0` and left a few days blank, giving the count before
    and the change beside it (2020-07-21: England's 20 February). Read as whole numbers; a blank day is its previous
    report plus the change, and a note says so."""
    folder = RELEASES / "2020-07-21" / "phe_cases_by_region"
    url = serve(httpserver, "phe_cases_by_region", {"region_london": folder / "region_london.csv",
                                                   "nation_england": folder / "nation_england.csv"})
    table = run_live("phe_cases_by_region", data_dir, monkeypatch, PHE_API_URL=url)
    expected = {}
    for name in ("region_london.csv", "nation_england.csv"):
        for row in csv_rows(folder / name):
            daily = row["Daily lab-confirmed cases"].strip()
            count = (float(daily) if daily else
                     float(row["Previously reported daily cases"]) + float(row["Change in daily cases"]))
            assert count == int(count)
            expected[(row["Area code"], row["Specimen date"])] = int(count)
    blank = [(row["Area code"], row["Specimen date"]) for name in ("region_london.csv", "nation_england.csv")
             for row in csv_rows(folder / name) if not row["Daily lab-confirmed cases"].strip()]
    assert blank == [("E92000001", "2020-02-20")] and expected[blank[0]] == 0
    got = {(row.area_code, f"{row.date:%Y-%m-%d}"): row.new_cases for row in table.itertuples()}
    assert got == expected
    stored = pd.read_parquet(data_dir / "vintages" / "phe_cases_by_region")  # the release kept too
    assert len(stored) == len(expected)


def test_a_day_left_blank_without_a_previous_report_is_the_step_in_its_cumulative_count() -> None:
    """The download of 1 July 2020 left Hackney's and City of London's 20 March blank with no previous report; their
    cumulative counts say how many (Hackney 65 after 56 the day before; City of London's first day, 5)."""
    from assets.ingest.source import RawFile
    from assets.sources.phe_cases_by_utla import parse_cases_by_utla

    path = PHE / "dashboard_download_2020-07-01_utla_Hackney_and_City_CUT.csv"
    cumulative = {(row["Area code"], row["Specimen date"]): int(row["Cumulative lab-confirmed cases"])
                  for row in csv_rows(path)}
    table = parse_cases_by_utla({"utla_all": RawFile(path.name, path.read_bytes())})
    day = table[table["date"] == "2020-03-20"].iloc[0]
    hackney = cumulative[("E09000012", "2020-03-20")] - cumulative[("E09000012", "2020-03-19")]
    city = cumulative[("E09000001", "2020-03-20")]  # its first line
    assert (hackney, city) == (9, 5)
    assert day["area_code"] == "E09000012" and day["new_cases"] == hackney + city
    assert any("2 day(s) with no daily count" in note for note in table.attrs["notes"])


def test_an_old_release_served_again_is_refused_and_the_newer_table_kept(httpserver: HTTPServer, data_dir: Path,
                                                                        monkeypatch) -> None:
    """A cache or mirror behind the publisher serving the release before the one already kept (dated earlier, its
    figures ending earlier) would have become the current table, and the next report and publish, a release back,
    quietly. The clean step refuses it naming both, and keeps the newer table; moved aside, the newer release no
    longer holds it back."""
    def night(day: str) -> str:
        folder = RELEASES / day / "phe_cases_by_region"
        httpserver.clear()
        # Served as the API served it that afternoon: Last-Modified is the release's date.
        return serve(httpserver, "phe_cases_by_region", {name: folder / f"{name}.csv" for name in
                                                         ("region_london", "nation_england")},
                     headers={"Last-Modified": f"{datetime.fromisoformat(day):%a, %d %b %Y} 15:00:00 GMT"})

    def ends(day: str) -> str:  # the last specimen date in the release's files, read with the csv module
        folder = RELEASES / day / "phe_cases_by_region"
        return max(row["Specimen date"] for name in ("region_london.csv", "nation_england.csv")
                   for row in csv_rows(folder / name))

    newer = run_live("phe_cases_by_region", data_dir, monkeypatch, PHE_API_URL=night("2020-07-22"))
    stored = data_dir / "tables" / "phe_cases_by_region.parquet"
    kept = stored.read_bytes()
    assert f"{newer.date.max():%Y-%m-%d}" == ends("2020-07-22") == "2020-07-22"

    url = night("2020-07-21")
    resources = build_resources()
    del resources["datastore"]
    result = dg.materialize(source_assets(SOURCES["phe_cases_by_region"]), resources=resources,
                            raise_on_error=False)
    vintage = data_dir / "vintages" / "phe_cases_by_region" / "2020-07-22.parquet"
    assert not result.success and stored.read_bytes() == kept
    assert (f"this release is dated 21 Jul 2020, before the release of 22 Jul 2020 already kept, and its figures "
            f"end on 21 Jul 2020 (the kept release's on 22 Jul 2020): an old copy served again by a cache or mirror? "
            f"Nothing was stored; the last good table stays. If the publisher has withdrawn the newer release, move "
            f"{vintage} aside") in failure_text(result)

    vintage.rename(tmp := vintage.with_suffix(".aside"))
    older = run_live("phe_cases_by_region", data_dir, monkeypatch, PHE_API_URL=url)
    assert f"{older.date.max():%Y-%m-%d}" == ends("2020-07-21") and tmp.exists()
