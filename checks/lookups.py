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
