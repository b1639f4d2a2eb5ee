"""One module per source; each exposes `SPEC` (what to fetch and how to parse) and `assets` (its Dagster pair)."""

from __future__ import annotations

from assets import (
    nhs_111,
    ons_infection_survey,
    phe_cases_by_age_sex,
    phe_cases_by_region,
    phe_cases_by_utla,
    phe_healthcare,
)

SOURCE_MODULES = (
    phe_cases_by_region,
    phe_cases_by_utla,
    phe_cases_by_age_sex,
    phe_healthcare,
    ons_infection_survey,
    nhs_111,
)
SOURCES = {module.SPEC.name: module.SPEC for module in SOURCE_MODULES}
ALL_SOURCE_ASSETS = [asset for module in SOURCE_MODULES for asset in module.assets]
