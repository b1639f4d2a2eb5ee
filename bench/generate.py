"""Seeded generator of larger releases for the benchmark, in exactly the shipped samples' formats.

Scales (docs/development.md, "Performance"):
- `london`: the shipped samples as they are.
- `england`: every English upper- and lower-tier authority (~450 areas) in the cases-by-authority file and every
  England CCG (~106) in the NHS 111 files, over the shipped samples' dates.
- `england_4y`: the same areas over four years of daily history (2020-03-01 to 2024-02-28) for every source:
  about 0.66 million borough rows, 2.8 million NHS 111 rows with sex and age bands, London's age bands, and an
  ONS workbook with 24 further large sheets, as real weekly workbooks have.

The figures are GENERATED (Poisson draws around the shipped samples' levels, seed 2026): they exist to measure
speed and memory, never to be read as data. London's areas keep their real codes so the pipeline's filters keep
the same share of rows.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from assets.sources.nhs_111 import SAMPLE_FILES
from checks.geography import LONDON_PHE_UTLA_CODES
from checks.lookups import ccg_lookup
from data.rebuild.build_samples import write_ons_workbook
from resources.files import disk_bytes
from resources.settings import REPO_ROOT

SHIPPED = REPO_ROOT / "data" / "samples"
SCALES = ("london", "england", "england_4y")
AGE_LABELS = ["0_to_4", "5_to_9", "10_to_14", "15_to_19", "20_to_24", "25_to_29", "30_to_34", "35_to_39",
              "40_to_44", "45_to_49", "50_to_54", "55_to_59", "60_to_64", "65_to_69", "70_to_74", "75_to_79",
              "80_to_84", "85_to_89", "90+"]
N_AUTHORITIES = 450
N_CCGS = 106


def _days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def _v2_csv(path: Path, header: list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def authorities() -> list[tuple[str, str]]:
    """London's 32 PHE areas with their codes, then made-up codes for the rest of England."""
    others = [(f"E0{6 + i % 3}000{i:03d}", f"Generated authority {i}") for i in range(N_AUTHORITIES - 32)]
    return [(code, f"London area {code}") for code in LONDON_PHE_UTLA_CODES] + others


def cases_by_utla(out: Path, days: list[date], rng: np.random.Generator) -> None:
    rows = []
    for code, name in authorities():
        daily = rng.poisson(25, len(days))
        total = np.cumsum(daily)
        rows.extend((code, name, "utla", d.isoformat(), int(n), int(t)) for d, n, t in zip(days, daily, total,
                                                                                             strict=True))
    rows.sort(key=lambda r: (r[0], r[3]), reverse=True)
    _v2_csv(out / "phe_cases_by_utla" / "utla_all.csv",
            ["areaCode", "areaName", "areaType", "date", "newCasesBySpecimenDate", "cumCasesBySpecimenDate"], rows)


def cases_by_region(out: Path, days: list[date], rng: np.random.Generator) -> None:
    for file, code, name, kind, level in (("region_london.csv", "E12000007", "London", "region", 800),
                                           ("nation_england.csv", "E92000001", "England", "nation", 9000)):
        daily = rng.poisson(level, len(days))
        rows = [(code, name, kind, d.isoformat(), int(n), int(t))
                for d, n, t in zip(days, daily, np.cumsum(daily), strict=True)][::-1]
        _v2_csv(out / "phe_cases_by_region" / file, ["areaCode", "areaName", "areaType", "date",
                                                      "newCasesBySpecimenDate", "cumCasesBySpecimenDate"], rows)


def cases_by_age_sex(out: Path, days: list[date], rng: np.random.Generator) -> None:
    for sex in ("male", "female"):
        totals = np.cumsum(rng.poisson(20, (len(days), len(AGE_LABELS))), axis=0)
        body = [{"areaType": "region", "areaCode": "E12000007", "areaName": "London", "date": d.isoformat(),
                 f"{sex}Cases": [{"age": a, "value": int(v), "rate": None} for a, v in zip(AGE_LABELS, row,
                                                                                           strict=True)]}
                for d, row in zip(days, totals, strict=True)][::-1]
        path = out / "phe_cases_by_age_sex" / f"{sex}_cases.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"length": len(body), "body": body}, separators=(",", ":")))


def cases_by_age(out: Path, days: list[date], rng: np.random.Generator) -> None:
    bands = [f"{low:02d}_{low + 4:02d}" for low in range(0, 90, 5)] + ["90+", "unassigned"]
    cases = rng.poisson(40, (len(days), len(bands)))
    rows = [("E12000007", "London", "region", d.isoformat(), band, int(n), "", "")
            for d, row in zip(days, cases, strict=True) for band, n in zip(bands, row, strict=True)][::-1]
    _v2_csv(out / "phe_cases_by_age" / "region_london_age.csv", ["areaCode", "areaName", "areaType", "date", "age",
            "cases", "rollingSum", "rollingRate"], rows)


def healthcare(out: Path, days: list[date], rng: np.random.Generator) -> None:
    for file, code, name, kind, scale in (("nhs_region_london.csv", "E40000003", "London", "nhsRegion", 1),
                                          ("nation_england.csv", "E92000001", "England", "nation", 6)):
        rows = [(code, name, kind, d.isoformat(), int(m), int(h), int(a))
                for d, a, h, m in zip(days, rng.poisson(120 * scale, len(days)), rng.poisson(1500 * scale, len(days)),
                                      rng.poisson(150 * scale, len(days)), strict=True)][::-1]
        _v2_csv(out / "phe_healthcare" / file, ["areaCode", "areaName", "areaType", "date", "covidOccupiedMVBeds",
                "hospitalCases", "newAdmissions"], rows)


def ons(out: Path, days: list[date], rng: np.random.Generator) -> None:
    weekly = []
    for start in days[::7][:-1]:
        estimate = round(float(rng.uniform(0.5, 6)), 2)
        people = int(estimate * 560_000)
        weekly.append((f"{start.day} {start:%B %Y} to {(start + timedelta(days=6)).day} "
                       f"{start + timedelta(days=6):%B %Y}", estimate, round(estimate * 0.95, 2),
                       round(estimate * 1.05, 2), people, int(people * 0.95), int(people * 1.05)))
    daily = []
    for d in days:
        estimate = round(float(rng.uniform(0.5, 6)), 4)
        daily.append((datetime.combine(d, datetime.min.time()), estimate, round(estimate * 0.93, 4),
                      round(estimate * 1.07, 4)))
    # A real weekly workbook holds dozens of other tables (by age, region, antibodies ...): 24 sheets of
    # 1,500 rows stand in for them, so reading the workbook costs what it does in life.
    others = {}
    for n in range(24):
        values = rng.uniform(0, 10, (1500, 12)).round(2)
        others[f"{n + 2}x"] = [[f"Table {n + 2}: another estimate"], [], [f"Column {i}" for i in range(12)],
                               *values.tolist()]
    write_ons_workbook(out / "ons_infection_survey" / "covid19infectionsurveydatasets20230113england.xlsx",
                       weekly, daily, others)


def nhs_111(out: Path, days: list[date], rng: np.random.Generator) -> None:
    lookup = ccg_lookup()
    london = list(lookup.loc[(lookup["region"] == "E40000003") & lookup["code"].str.startswith("E38"),
                             ["code", "name"]].itertuples(index=False, name=None))
    ccgs = london + [(f"{i:02d}X", f"NHS Generated CCG {i}") for i in range(N_CCGS - len(london))]
    bands = ["0-18 years", "19-69 years", "70-120 years"]
    folder = out / "nhs_111"
    folder.mkdir(parents=True, exist_ok=True)
    pathways, online = io.StringIO(), io.StringIO()
    calls, web = csv.writer(pathways, lineterminator="\r\n"), csv.writer(online, lineterminator="\r\n")
    calls.writerow(["SiteType", "Call Date", "Sex", "AgeBand", "CCGCode", "CCGName", "TriageCount"])
    web.writerow(["journeydate", "sex", "ageband", "ccgcode", "ccgname", "Total"])
    counts = rng.poisson(9, len(days) * len(ccgs) * 2 * len(bands) * 3)
    i = 0
    for d in days:
        dmy = d.strftime("%d/%m/%Y")
        for code, name in ccgs:
            for sex in ("Female", "Male"):
                for band in bands:
                    calls.writerow(["111", dmy, sex, band, code, name, counts[i]])
                    calls.writerow(["999", dmy, sex, band, code, name, counts[i + 1]])
                    web.writerow([dmy, sex, band, code, name, counts[i + 2]])
                    i += 3
    # Under the names the shipped page links to (generated figures, for timing only; storage/bench is not shipped).
    (folder / SAMPLE_FILES["pathways"]).write_text(pathways.getvalue(), encoding="utf-8")
    (folder / SAMPLE_FILES["online"]).write_text(online.getvalue(), encoding="utf-8")
    shutil.copy(SHIPPED / "nhs_111" / "page.html", folder / "page.html")


def generate(scale: str, out: Path, seed: int = 2026) -> Path:
    """Write the releases for `scale` under `out` (the shipped samples for `london`) and return the folder."""
    if scale == "london":
        return SHIPPED
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SHIPPED, out)
    rng = np.random.default_rng(seed)
    if scale == "england":
        utla_days = _days(date(2020, 4, 24), 24)
        cases_by_utla(out, utla_days, rng)
        nhs_111(out, _days(date(2021, 4, 1), 56), rng)
        return out
    days = _days(date(2020, 3, 1), 4 * 365)
    cases_by_utla(out, days, rng)
    cases_by_region(out, days, rng)
    cases_by_age(out, days, rng)
    cases_by_age_sex(out, days, rng)
    healthcare(out, days, rng)
    ons(out, days, rng)
    nhs_111(out, days, rng)
    return out


if __name__ == "__main__":
    for name in sys.argv[1:] or SCALES:
        folder = generate(name, REPO_ROOT / "storage" / "bench" / name)
        size = disk_bytes(folder)
        print(f"{name}: {folder} ({size / 1e6:.1f} MB)")
