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


def fold_city_into_hackney(frame: pd.DataFrame, value_columns: list[str]) -> pd.DataFrame:
    """Combine City of London rows with Hackney's, as PHE's own series does, so every release has the same
    32 areas. Counts are summed; a sum with any missing part stays missing rather than being understated."""
    is_pair = frame["area_code"].isin([CITY_OF_LONDON, HACKNEY])
    if not (frame["area_code"] == CITY_OF_LONDON).any():
        return frame
    pair = frame[is_pair].copy()
    pair["area_code"] = HACKNEY
    pair["area_name"] = HACKNEY_AND_CITY
    keys = [c for c in frame.columns if c not in value_columns]
    combined = pair.groupby(keys, as_index=False, dropna=False)[value_columns].sum(min_count=1)
    has_gap = pair[value_columns].isna().groupby([pair[k] for k in keys], dropna=False).any().reset_index(drop=True)
    for column in value_columns:
        combined.loc[has_gap[column].to_numpy(), column] = pd.NA
    out = pd.concat([frame[~is_pair], combined], ignore_index=True)
    return out[frame.columns]
