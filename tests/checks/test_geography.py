"""London's area codes against the PHE dashboard's own list of areas and the ONS CCG lookups."""

from __future__ import annotations

import csv

from checks.geography import HACKNEY_AND_CITY, LONDON_BOROUGH_NAMES, LONDON_PHE_UTLA_CODES
from checks.lookups import london_ccg_codes, london_merged_ccgs
from resources.settings import REPO_ROOT


def dashboard_areas() -> list[dict[str, str]]:
    with (REPO_ROOT / "data" / "reference" / "phe_dashboard_geoglist_all_areas.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_32_london_areas_are_the_dashboard_s_upper_tier_authorities() -> None:
    london = {r["areaCode"]: r["areaName"] for r in dashboard_areas()
              if r["areaType"] == "utla" and r["areaCode"].startswith("E09")}
    assert sorted(london) == sorted(LONDON_PHE_UTLA_CODES)
    assert london["E09000012"] == HACKNEY_AND_CITY and "E09000001" not in london
    # The UKHSA names are PHE's, but for the two UKHSA keeps apart.
    assert {code: name for code, name in LONDON_BOROUGH_NAMES.items() if code not in ("E09000001", "E09000012")} == {
        code: name for code, name in london.items() if code != "E09000012"}


def test_london_s_ccgs_per_the_ons_lookups() -> None:
    codes = london_ccg_codes()
    name = "Clinical_Commissioning_Group_to_STP_and_NHS_England_(Region)_(April_2021)_Lookup_in_England.csv"
    with (REPO_ROOT / "data" / "lookups" / name).open(newline="") as handle:
        london21 = {r["CCG21CD"]: r["CCG21NM"] for r in csv.DictReader(handle) if r["NHSER21NM"] == "London"}
    assert london_merged_ccgs() == london21 and len(london21) == 5
    assert set(london21) <= codes and {"W2U3Z", "A3A8R"} <= codes  # ODS codes too (W2U3Z is not Welsh)
    assert not any(code.startswith(("W11", "S03")) for code in codes)
