"""Reference tables shipped under data/lookups/ (provenance in data/PROVENANCE.md)."""

from __future__ import annotations

from functools import cache

import pandas as pd

from checks.geography import LONDON_NHS_REGION
from resources.settings import LOOKUPS_DIR

# The ONS Open Geography Portal's CCG -> STP -> NHS England (Region) lookups, as published, for the two CCG
# configurations the NHS 111 releases used (April 2020, 135 CCGs; April 2021, 106 CCGs).
CCG_LOOKUPS = {
    "2020": "Clinical_Commissioning_Group_to_STP_and_NHS_England__Region___April_2020__Lookup_in_England.csv",
    "2021": "Clinical_Commissioning_Group_to_STP_and_NHS_England_(Region)_(April_2021)_Lookup_in_England.csv",
}


@cache
def ccg_lookup() -> pd.DataFrame:
    """Every CCG of April 2020 and April 2021 under each of its codes (ONS `E38...` and NHS ODS, e.g. `07L`), with
    its NHS England region and the April 2021 CCG it is, or became part of (`merged_code`, `merged_name`).

    The April 2021 mergers are read from the two files themselves: a 2020 CCG keeps its code in 2021, or became the
    one 2021 CCG of its STP (in London each STP has exactly one CCG from April 2021). One row per code."""
    year20 = pd.read_csv(LOOKUPS_DIR / CCG_LOOKUPS["2020"], dtype=str)
    year21 = pd.read_csv(LOOKUPS_DIR / CCG_LOOKUPS["2021"], dtype=str)
    by_stp = year21.groupby("STP21CD").filter(lambda g: len(g) == 1).set_index("STP21CD")
    merged21 = year21.set_index("CCG21CD")
    rows = []
    for row in year21.itertuples():
        rows.append((row.CCG21CD, row.CCG21CDH, row.CCG21NM, row.NHSER21CD, row.CCG21CD, row.CCG21NM, "2021"))
    for row in year20.itertuples():
        if row.CCG20CD in merged21.index:
            merged_code, merged_name = row.CCG20CD, merged21.at[row.CCG20CD, "CCG21NM"]
        elif row.STP20CD in by_stp.index:
            merged_code, merged_name = by_stp.at[row.STP20CD, "CCG21CD"], by_stp.at[row.STP20CD, "CCG21NM"]
        else:
            merged_code = merged_name = None
        rows.append((row.CCG20CD, row.CCG20CDH, row.CCG20NM, row.NHSER20CD, merged_code, merged_name, "2020"))
    frame = pd.DataFrame(rows, columns=["ons_code", "ods_code", "name", "region", "merged_code", "merged_name",
                                        "configuration"])
    both = pd.concat([frame.rename(columns={"ons_code": "code"}).drop(columns="ods_code"),
                      frame.rename(columns={"ods_code": "code"}).drop(columns="ons_code")], ignore_index=True)
    # A CCG unchanged in 2021 appears in both files: keep its 2021 row.
    return both.sort_values("configuration", ascending=False).drop_duplicates("code").reset_index(drop=True)


def london_ccg_codes() -> frozenset[str]:
    """Every code (ONS and ODS, April 2020 and April 2021) of a CCG in NHS region London."""
    lookup = ccg_lookup()
    return frozenset(lookup.loc[lookup["region"] == LONDON_NHS_REGION, "code"])


def london_merged_ccgs() -> dict[str, str]:
    """London's April 2021 CCGs (ONS code -> name): what every London CCG code maps to."""
    lookup = ccg_lookup()
    london = lookup[(lookup["region"] == LONDON_NHS_REGION) & (lookup["configuration"] == "2021")]
    return dict(zip(london["merged_code"], london["merged_name"], strict=False))


def english_ccg_codes() -> frozenset[str]:
    return frozenset(ccg_lookup()["code"])


@cache
def _population_table() -> pd.DataFrame:
    return pd.read_csv(LOOKUPS_DIR / "populations_mid2020.csv", dtype={"areaCode": str, "age": str})


def band_populations(area_code: str) -> dict[str, int]:
    """Mid-2020 population of each of PHE's five-year age bands (00_04 ... 90+) in one area, as PHE and the GLA used
    for rates by age."""
    table = _population_table()
    rows = table[(table["areaCode"] == area_code) & ~table["age"].isin(["00_59", "60+"])]
    return dict(zip(rows["age"], rows["population"].astype(int), strict=True))


@cache
def populations() -> pd.Series:
    """Mid-2020 population by area code, as PHE used for its rates (data/lookups/populations_mid2020.csv).

    The file's five-year bands are summed; its aggregate bands (00_59, 60+) are left out so nobody is counted
    twice. E09000012 is Hackney and City of London together, matching the case data.
    """
    table = _population_table()
    five_year = table[~table["age"].isin(["00_59", "60+"])]
    return five_year.groupby("areaCode")["population"].sum().astype("int64")
