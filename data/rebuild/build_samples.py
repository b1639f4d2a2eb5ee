"""Rebuild the shipped sample releases under data/samples/ from the real reference files in data/reference/.

Run from the repository root: `.venv/bin/python -m data.rebuild.build_samples`. The output is committed; this
script is kept so anyone can see exactly how each sample was put into its source's published format. Every
figure comes from a real published file, except the NHS 111/999/online sample, which is synthetic (no real copy of
those CSVs was available) and says so in its file name. See data/PROVENANCE.md.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
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


def build_cases_by_region() -> None:
    metrics = ["newCasesBySpecimenDate", "cumCasesBySpecimenDate"]
    london = []
    cumulative = 0
    for day, cases in zip(
        _days(ref.LONDON_CASES_FIRST_DATE, len(ref.LONDON_DAILY_CASES)), ref.LONDON_DAILY_CASES, strict=True
    ):
        cumulative += cases
        if WINDOW_START <= day <= WINDOW_END:
            london.append(
                {"areaCode": "E12000007", "areaName": "London", "areaType": "region", "date": day,
                 "newCasesBySpecimenDate": cases, "cumCasesBySpecimenDate": cumulative}
            )
    _write_v2_csv(SAMPLES / "phe_cases_by_region" / "region_london.csv", london, metrics)

    nation = pd.read_csv(REFERENCE / "v1_csv_SDK_getcsv_nation_cases_deaths_release_2023-12-14T180005.csv")
    england = nation[(nation.areaName == "England") & nation.date.between(WINDOW_START, WINDOW_END)]
    rows = england[["areaCode", "areaName", "areaType", "date", *metrics]].to_dict("records")
    _write_v2_csv(SAMPLES / "phe_cases_by_region" / "nation_england.csv", rows, metrics)


def build_cases_by_utla() -> None:
    names = pd.read_csv(REFERENCE / "phe_dashboard_geoglist_all_areas.csv")
    names = dict(zip(names[names.areaType == "utla"].areaCode, names[names.areaType == "utla"].areaName, strict=True))
    rows = []
    for line in ref.LONDON_BOROUGH_CASES.strip().splitlines():
        day, *pairs = line.split()
        for number, pair in enumerate(pairs, start=2):
            code = f"E090000{number:02d}"
            new_cases, total_cases = (int(v) for v in pair.split(","))
            rows.append({"areaCode": code, "areaName": names[code], "areaType": "utla", "date": day,
                         "newCasesBySpecimenDate": new_cases, "cumCasesBySpecimenDate": total_cases})
    _write_v2_csv(
        SAMPLES / "phe_cases_by_utla" / "utla_all.csv", rows, ["newCasesBySpecimenDate", "cumCasesBySpecimenDate"]
    )


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
    admissions = pd.read_csv(REFERENCE / "v1_cumAdmissionsByAge_nhsRegion_London_E40000003_PIVOTED_wide.tsv", sep="\t")
    bands = [c for c in admissions.columns if c not in ("code", "date", "type", "gender")]
    cumulative = admissions.set_index("date")[bands].sum(axis=1)
    new_admissions = cumulative.diff()
    in_hospital = dict(
        zip(_days(ref.LONDON_HOSPITAL_FIRST_DATE, len(ref.LONDON_PEOPLE_IN_HOSPITAL)), ref.LONDON_PEOPLE_IN_HOSPITAL,
            strict=True)
    )
    rows = []
    for day, count in in_hospital.items():
        admitted = new_admissions.get(day)
        rows.append(
            {"areaCode": "E40000003", "areaName": "London", "areaType": "nhsRegion", "date": day,
             "newAdmissions": None if admitted is None or pd.isna(admitted) else int(admitted),
             "hospitalCases": count,
             # No real London series for patients on mechanical ventilation was available: left empty (null),
             # as the API itself returned empty cells for days without a value.
             "covidOccupiedMVBeds": None}
        )
    _write_v2_csv(
        SAMPLES / "phe_healthcare" / "nhs_region_london.csv", rows,
        ["newAdmissions", "hospitalCases", "covidOccupiedMVBeds"],
    )


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


def build_nhs_111_synthetic() -> None:
    """A format-only stand-in: seeded random counts in the documented NHS Digital column layout."""
    rng = np.random.default_rng(20210401)
    days = _days("2021-04-01", 56)
    pathways = io.StringIO()
    writer = csv.writer(pathways, lineterminator="\r\n")
    writer.writerow(["SiteType", "Call Date", "Sex", "AgeBand", "CCGCode", "CCGName", "TriageCount"])
    online = io.StringIO()
    online_writer = csv.writer(online, lineterminator="\r\n")
    online_writer.writerow(["journeydate", "sex", "ageband", "ccgcode", "ccgname", "Total"])
    for day in days:
        dmy = date.fromisoformat(day).strftime("%d/%m/%Y")
        for code, name in SYNTHETIC_CCGS:
            for sex in ("Female", "Male"):
                for band in SYNTHETIC_AGE_BANDS:
                    for site in ("111", "999"):
                        count = int(rng.poisson(12 if site == "111" else 3))
                        writer.writerow([site, dmy, sex, band, code, name, count])
                    online_writer.writerow([dmy, sex, band, code, name, int(rng.poisson(8))])
    folder = SAMPLES / "nhs_111"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "NHS_Pathways_SYNTHETIC_sample.csv").write_text(pathways.getvalue(), encoding="utf-8")
    (folder / "111_Online_SYNTHETIC_sample.csv").write_text(online.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    build_cases_by_region()
    build_cases_by_utla()
    build_cases_by_age_sex()
    build_healthcare()
    build_ons_workbook()
    build_nhs_111_synthetic()
    print(f"samples written under {SAMPLES}")
