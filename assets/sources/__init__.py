"""One module per source; each exposes `SOURCE` (what it is: assets/ingest/source.py). The Dagster assets and job of
each are built from it by assets/ingest/factory.py, when pipelines/definitions.py builds the definitions. A new source
is a module here, added to SOURCE_MODULES."""

from __future__ import annotations

from assets.ingest.source import Source, Status
from assets.sources import (
    nhs_111,
    ons_infection_survey,
    phe_admissions_by_age,
    phe_cases_by_age,
    phe_cases_by_age_sex,
    phe_cases_by_region,
    phe_cases_by_utla,
    phe_healthcare,
)

SOURCE_MODULES = (
    phe_cases_by_region,
    phe_cases_by_utla,
    phe_cases_by_age,
    phe_cases_by_age_sex,
    phe_healthcare,
    phe_admissions_by_age,
    ons_infection_survey,
    nhs_111,
)
SOURCES: dict[str, Source] = {module.SOURCE.name: module.SOURCE for module in SOURCE_MODULES}
# Sources with no live release left: in live mode they re-read their last archived (or shipped) release.
RETIRED = frozenset(name for name, source in SOURCES.items() if source.status is Status.RETIRED)
