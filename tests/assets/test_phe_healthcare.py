from __future__ import annotations

import pandas as pd

from assets.phe_healthcare import SOURCE, parse_healthcare
from checks.validation import validate_table
from tests.samples import sample_files, sample_rows


def test_values_match_the_sample_file() -> None:
    table = parse_healthcare(sample_files(SOURCE)).set_index("date")
    rows = {r["date"]: r for r in sample_rows("phe_healthcare", "nhs_region_london.csv")}
    assert len(table) == len(rows)
    peak = rows["2020-04-08"]
    assert table.loc[pd.Timestamp("2020-04-08"), "hospital_cases"] == int(peak["hospitalCases"])
    assert table["new_admissions"].sum() == sum(int(r["newAdmissions"]) for r in rows.values() if r["newAdmissions"])
    # Empty cells stay missing rather than becoming zero.
    assert table["covid_occupied_mv_beds"].isna().all()
    assert validate_table(table.reset_index(), SOURCE.schema).passed
