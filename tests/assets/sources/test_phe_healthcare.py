from __future__ import annotations

import pandas as pd

from assets.sources.phe_healthcare import SOURCE, parse_healthcare
from checks.validation import validate_table
from tests.samples import sample_files, sample_rows


def test_values_match_the_sample_files() -> None:
    table = parse_healthcare(sample_files(SOURCE))
    assert validate_table(table, SOURCE.schema).passed
    for file, code in (("nhs_region_london.csv", "E40000003"), ("nation_england.csv", "E92000001")):
        area = table[table["area_code"] == code].set_index("date")
        rows = {r["date"]: r for r in sample_rows("phe_healthcare", file)}
        assert len(area) == len(rows)
        for column, metric in (("new_admissions", "newAdmissions"), ("hospital_cases", "hospitalCases"),
                               ("covid_occupied_mv_beds", "covidOccupiedMVBeds")):
            assert area[column].sum() == sum(int(r[metric]) for r in rows.values() if r[metric]), (file, column)
            # Empty cells stay missing rather than becoming zero.
            assert area[column].isna().sum() == sum(1 for r in rows.values() if not r[metric]), (file, column)
    peak = next(r for r in sample_rows("phe_healthcare", "nhs_region_london.csv") if r["date"] == "2020-04-08")
    london = table[table["area_code"] == "E40000003"].set_index("date")
    assert london.loc[pd.Timestamp("2020-04-08"), "hospital_cases"] == int(peak["hospitalCases"])
