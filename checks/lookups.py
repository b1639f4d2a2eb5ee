"""Reference tables shipped under data/lookups/."""

from __future__ import annotations

from functools import cache

import pandas as pd

from resources.settings import LOOKUPS_DIR


@cache
def london_ccgs() -> pd.DataFrame:
    """Clinical commissioning groups in NHS region London (both the 2020 and the April 2021 configurations)."""
    return pd.read_csv(LOOKUPS_DIR / "nhs_london_ccgs.csv", dtype=str)


def london_ccg_codes() -> tuple[str, ...]:
    return tuple(london_ccgs()["ccg_code"])


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
