"""Rebuild the shipped sample releases under data/samples/ from the real reference files in data/reference/.

Run from the repository root: `.venv/bin/python -m data.rebuild.build_samples`. The output is committed; this
script is kept so anyone can see exactly how each sample was put into its source's published format. Every
figure comes from a real published file; samples that are real files as published are copied, not built here.
See data/PROVENANCE.md.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd

from data.rebuild import reference_values as ref

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
REFERENCE = DATA / "reference"
SAMPLES = DATA / "samples"

# The window the PHE samples cover: the spring 2020 wave in London (about nine weeks).
WINDOW_START = "2020-03-20"
WINDOW_END = "2020-05-20"


def _days(first: str, n: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _write_v2_csv(path: Path, rows: list[dict], metrics: list[str]) -> None:
    """Write rows as the PHE API v2 CSV does: areaCode,areaName,areaType,date,<metrics>, newest date first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["areaCode", "areaName", "areaType", "date", *metrics])
    for row in sorted(rows, key=lambda r: (r["areaCode"], r["date"]), reverse=True):
        writer.writerow(
            [row["areaCode"], row["areaName"], row["areaType"], row["date"]]
            + ["" if row.get(m) is None else row[m] for m in metrics]
        )
    path.write_text(out.getvalue(), encoding="utf-8")


# The PHE samples stand for one release day, 20 November 2020: the upper-tier and nation files are that day's real
# files (copied as published, not built here), and what is rebuilt below is put together from the same day's
# figures where it can be, so the tables agree with one another as a real release's did.
RELEASE_DAY = "2020-11-20"


def build_cases_by_region() -> None:
    """London's daily cases = the sum of the release's 32 London areas (PHE's London region is their sum). No
    cumulative column: the real files of that day carry none for London, and the pipeline rebuilds it."""
    utla = pd.read_csv(SAMPLES / "phe_cases_by_utla" / "utla_all.csv", dtype=str)
    utla = utla[utla.areaCode.str.startswith("E09", na=False)]
    daily = utla.assign(n=utla.newCasesBySpecimenDate.astype(int)).groupby("date")["n"].sum()
    london = [{"areaCode": "E12000007", "areaName": "London", "areaType": "region", "date": day,
               "newCasesBySpecimenDate": int(cases)} for day, cases in daily.items()]
    _write_v2_csv(SAMPLES / "phe_cases_by_region" / "region_london.csv", london, ["newCasesBySpecimenDate"])


# PHE's age bands as the v2 API wrote them, in the GLA's band order (the GLA's label -> PHE's).
GLA_TO_PHE_AGE = {f"{lo} - {hi} years": f"{lo:02d}_{hi:02d}" for lo, hi in zip(range(0, 90, 5), range(4, 90, 5),
                                                                                  strict=True)}
GLA_TO_PHE_AGE |= {"90+ years": "90+", "unassigned": "unassigned"}


def build_cases_by_age() -> None:
    """London's cases by age band, as the v2 CSV `newCasesBySpecimenDateAgeDemographics` exploded them
    (areaCode,areaName,areaType,date,age,cases,rollingSum,rollingRate), from the GLA's own published copy of these
    PHE figures (data/reference/gla_published/phe_cases_age_london.csv, April 2022), cut to the dates before the
    release day. rollingRate is empty for `unassigned` (no population), as in PHE's real files."""
    gla = pd.read_csv(REFERENCE / "gla_published" / "phe_cases_age_london.csv", dtype=str, keep_default_na=False)
    gla = gla[gla.date < RELEASE_DAY]
    order = {label: i for i, label in enumerate(GLA_TO_PHE_AGE)}
    gla = gla.assign(order=gla.age_band.map(order)).sort_values(["date", "order"], ascending=[False, True])
    path = SAMPLES / "phe_cases_by_age" / "region_london_age.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["areaCode", "areaName", "areaType", "date", "age", "cases", "rollingSum", "rollingRate"])
    for row in gla.itertuples():
        rate = "" if row.age_band == "unassigned" else row.rolling_rate
        writer.writerow(["E12000007", "London", "region", row.date, GLA_TO_PHE_AGE[row.age_band], row.cases,
                         row.rolling_sum, rate])
    path.write_text(out.getvalue(), encoding="utf-8")


def build_cases_by_age_sex() -> None:
    for sex in ("male", "female"):
        wide = pd.read_csv(REFERENCE / f"v1_{sex}Cases_region_London_E12000007_PIVOTED_wide.tsv", sep="\t")
        wide = wide[wide.date.between(WINDOW_START, WINDOW_END)].sort_values("date", ascending=False)
        bands = [c for c in wide.columns if c not in ("code", "date", "gender")]
        body = [
            {
                "areaType": "region", "areaCode": "E12000007", "areaName": "London", "date": row["date"],
                # The pivoted copy kept only `value`; `rate` is null rather than invented.
                f"{sex}Cases": [{"age": band, "value": int(row[band]), "rate": None} for band in bands],
            }
            for _, row in wide.iterrows()
        ]
        path = SAMPLES / "phe_cases_by_age_sex" / f"{sex}_cases.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"length": len(body), "body": body}, separators=(",", ":")), encoding="utf-8")


def build_healthcare() -> None:
    """England's healthcare series in the v2 CSV layout the pipeline requests, from carlinmack/covid-graphs' copies of
    the v1 API's England output (a release of about 16 November 2021; their script kept `date,value` only). London's
    file is a real v2 API response, shipped as published (data/PROVENANCE.md)."""
    series = {}
    files = {"newAdmissions": "hospitalisations_newAdmissions", "hospitalCases": "inHospital_hospitalCases",
             "covidOccupiedMVBeds": "inVentilationBeds_covidOccupiedMVBeds"}
    for metric, file in files.items():
        path = REFERENCE / "healthcare" / f"carlinmack_England.{file}_0017ef77.csv"
        series[metric] = dict(line.split(",") for line in path.read_text().split())
    metrics = sorted(series)  # the v2 server wrote metric columns in alphabetical order
    days = sorted(set().union(*series.values()))
    rows = [{"areaCode": "E92000001", "areaName": "England", "areaType": "nation", "date": day,
             **{m: series[m].get(day) for m in metrics}} for day in days]
    _write_v2_csv(SAMPLES / "phe_healthcare" / "nation_england.csv", rows, metrics)


def _iso_week_period(label: str) -> str:
    """'2021-W3' -> '18 January 2021 to 24 January 2021' (Monday to Sunday of that ISO week)."""
    year, week = label.split("-W")
    year_n, week_n = int(year), int(week)
    if week_n == 53:  # GSS-Cogs labelled ISO week 2020-W53 as '2021-W53'
        year_n = 2020
    monday = date.fromisocalendar(year_n, week_n, 1)
    sunday = monday + timedelta(days=6)
    return f"{monday.day} {monday:%B %Y} to {sunday.day} {sunday:%B %Y}"


def write_ons_workbook(
    path: Path, weekly: list[tuple], london_daily: list[tuple], other_sheets: dict[str, list[list]] | None = None
) -> None:
    """An ONS-layout workbook: sheet 1a (England's official weekly estimates: time period, %, lower, upper, people,
    lower, upper), sheet 1k (London's modelled daily estimates: date, %, lower, upper), and `other_sheets` (the
    benchmark's stand-ins for the many other tables of a real workbook)."""
    book = openpyxl.Workbook()
    contents = book.active
    contents.title = "Contents"
    contents.append(["COVID-19 Infection Survey: England"])
    contents.append(["Table 1a", "Official reported estimates of the percentage of the population testing positive"])
    table = book.create_sheet("1a")
    table.append(["Table 1a: Official reported estimates of the percentage of the population testing positive "
                  "for COVID-19, England"])
    table.append(["This worksheet contains one table. Some cells refer to notes which can be found in the notes "
                  "worksheet."])
    table.append(["Estimates are for the community population in private residential households."])
    table.append(["Source: Office for National Statistics - COVID-19 Infection Survey"])
    table.append([
        "Time period",
        "Estimated average % of the population testing positive for COVID-19",
        "95% Lower confidence/credible interval for percentage",
        "95% Upper confidence/credible interval for percentage",
        " Estimated average number of people testing positive for COVID-19",
        "95% Lower confidence/credible interval for number",
        "95% Upper confidence/credible interval for number",
    ])
    for row in weekly:
        table.append(list(row))
    # Modelled daily regional estimates, laid out as the ONS workbooks do (read that way by ai4ci/ggoutbreak's
    # data-raw/covid-infection-survey.R): a Date column, then three columns per geography whose headers are
    # "<Geography>\r\n<measure>".
    modelled = book.create_sheet("1k")
    modelled.append(["Table 1k: Modelled daily estimates of the percentage of the population testing positive for "
                     "COVID-19, by region, England"])
    modelled.append(["This worksheet contains one table."])
    modelled.append(["Modelled estimates are subject to revision as more data become available."])
    modelled.append(["Source: Office for National Statistics - COVID-19 Infection Survey"])
    modelled.append([])
    modelled.append([
        "Date",
        "London\r\nModelled % testing positive for COVID-19",
        "London\r\n95% Lower credible interval for percentage",
        "London\r\n95% Upper credible interval for percentage",
    ])
    for day, estimate, lower, upper in london_daily:
        modelled.append([day, estimate, lower, upper])
        modelled.cell(row=modelled.max_row, column=1).number_format = "dd/mm/yyyy"
    for name, rows in (other_sheets or {}).items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed document dates keep the rebuilt file byte-stable between runs of this script.
    book.properties.created = book.properties.modified = datetime(2023, 1, 13)
    book.save(path)


def build_ons_workbook() -> None:
    sheet = pd.read_csv(REFERENCE / "20230113covid19infectionsurveydatasetengland_sheet1a.csv")
    weekly = [
        (_iso_week_period(row.week), row.percentage_pop_est, row.percentage_pop_est_lci, row.percentage_pop_est_uci,
         row.pop_est, row.pop_est_lci, row.pop_est_uci)
        for row in sheet.itertuples(index=False)
    ]
    # London's figures come from epiforecasts/inc2prev (proportions, turned into percentages here).
    london = []
    for line in ref.LONDON_ONS_MODELLED.strip().splitlines():
        day, estimate, upper, lower = line.split()
        london.append((datetime.fromisoformat(day), round(float(estimate) * 100, 4), round(float(lower) * 100, 4),
                       round(float(upper) * 100, 4)))
    write_ons_workbook(SAMPLES / "ons_infection_survey" / "covid19infectionsurveydatasets20230113england.xlsx",
                       weekly, london)


# NHS region London CCGs from April 2021 (five CCGs), plus two non-London CCGs so London filtering is exercised.
SYNTHETIC_CCGS = [
    ("93C", "NHS North Central London CCG"),
    ("A3A8R", "NHS North East London CCG"),
    ("W2U3Z", "NHS North West London CCG"),
    ("72Q", "NHS South East London CCG"),
    ("36L", "NHS South West London CCG"),
    ("15N", "NHS Devon CCG"),
    ("99E", "NHS Basildon and Brentwood CCG"),
]
SYNTHETIC_AGE_BANDS = ["0-18 years", "19-69 years", "70-120 years"]


if __name__ == "__main__":
    build_cases_by_region()
    build_cases_by_age()
    build_cases_by_age_sex()
    build_healthcare()
    build_ons_workbook()
    print(f"samples written under {SAMPLES}")
