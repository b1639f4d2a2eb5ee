"""London area codes, and the one place City of London and Hackney are reconciled.

PHE/UKHSA case data reports 32 London upper-tier areas: City of London (E09000001) is folded into
E09000012 "Hackney and City of London". Other London sources (ONS populations, the Datastore) carry E09000001.
"""

from __future__ import annotations

import pandas as pd

LONDON_REGION = "E12000007"
ENGLAND = "E92000001"
LONDON_NHS_REGION = "E40000003"
CITY_OF_LONDON = "E09000001"
HACKNEY = "E09000012"
HACKNEY_AND_CITY = "Hackney and City of London"

# E09000002 .. E09000033: the 32 areas in PHE case data (City of London is inside E09000012).
LONDON_PHE_UTLA_CODES = tuple(f"E090000{n:02d}" for n in range(2, 34))
# All 33 London local authorities, as other sources list them.
LONDON_BOROUGH_CODES = (CITY_OF_LONDON, *LONDON_PHE_UTLA_CODES)
# Their names as the UKHSA API spells geographies (City of London and Hackney apart).
LONDON_BOROUGH_NAMES = {
    "E09000001": "City of London", "E09000002": "Barking and Dagenham", "E09000003": "Barnet",
    "E09000004": "Bexley", "E09000005": "Brent", "E09000006": "Bromley", "E09000007": "Camden",
    "E09000008": "Croydon", "E09000009": "Ealing", "E09000010": "Enfield", "E09000011": "Greenwich",
    "E09000012": "Hackney", "E09000013": "Hammersmith and Fulham", "E09000014": "Haringey",
    "E09000015": "Harrow", "E09000016": "Havering", "E09000017": "Hillingdon", "E09000018": "Hounslow",
    "E09000019": "Islington", "E09000020": "Kensington and Chelsea", "E09000021": "Kingston upon Thames",
    "E09000022": "Lambeth", "E09000023": "Lewisham", "E09000024": "Merton", "E09000025": "Newham",
    "E09000026": "Redbridge", "E09000027": "Richmond upon Thames", "E09000028": "Southwark",
    "E09000029": "Sutton", "E09000030": "Tower Hamlets", "E09000031": "Waltham Forest",
    "E09000032": "Wandsworth", "E09000033": "Westminster",
}

# The 32 areas of PHE's case data by name, E09000012 as PHE names it.
LONDON_PHE_UTLA_NAMES = {code: HACKNEY_AND_CITY if code == HACKNEY else LONDON_BOROUGH_NAMES[code]
                         for code in LONDON_PHE_UTLA_CODES}


def fold_city_into_hackney(
    frame: pd.DataFrame, value_columns: list[str], flag_columns: tuple[str, ...] = ("provisional",)
) -> pd.DataFrame:
    """Combine City of London rows with Hackney's, as PHE's own series does, so every release has the same
    32 areas. Counts are summed, and a sum with any missing part stays missing rather than being understated;
    flags (provisional) hold if either part's does."""
    is_pair = frame["area_code"].isin([CITY_OF_LONDON, HACKNEY])
    if not (frame["area_code"] == CITY_OF_LONDON).any():
        return frame
    pair = frame[is_pair].copy()
    pair["area_code"] = HACKNEY
    pair["area_name"] = HACKNEY_AND_CITY
    flags = [c for c in flag_columns if c in frame.columns]
    keys = [c for c in frame.columns if c not in value_columns and c not in flags]
    grouped = pair.groupby(keys, dropna=False)
    combined = grouped[value_columns].sum(min_count=1)
    gaps = grouped[value_columns].agg(lambda s: s.isna().any())
    combined = combined.mask(gaps.astype(bool))
    for flag in flags:
        combined[flag] = grouped[flag].agg(lambda s: s.any() if s.notna().any() else pd.NA).astype("boolean")
    combined = combined.reset_index()
    for column in value_columns:
        combined[column] = combined[column].astype(frame[column].dtype)
    out = pd.concat([frame[~is_pair], combined], ignore_index=True)[frame.columns]
    out.attrs = dict(frame.attrs)  # notes on how the table was read survive the fold
    return out
