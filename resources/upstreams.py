"""Where each source is fetched from and how (sample, live or replay)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resources import settings
from resources.settings import UPSTREAMS


class Upstreams(dg.ConfigurableResource):
    """`mode`: `sample` serves the shipped releases in data/samples through the normal HTTP path (offline
    default); `live` calls the real endpoints; `replay` re-reads the latest archived downloads without the network.
    `urls` overrides an upstream's base URL by its name (phe, ukhsa, ons, nhs111); the others use the real public
    endpoints. Built from PIPELINE_MODE, CASES_API, PIPELINE_AS_OF and PHE_API_URL / UKHSA_API_URL / ONS_URL /
    NHS111_URL."""

    mode: str = "sample"
    # Live mode reads cases and healthcare from the UKHSA API ("ukhsa"), or from PHE_API_URL in the retired PHE
    # API's format ("phe": a mirror, or recorded releases served locally).
    cases_api: str = "ukhsa"
    urls: dict[str, str] = Field(
        default_factory=dict, description="Base URL per upstream name (phe, ukhsa, ons, nhs111) where not the real one."
    )
    # A past night the run stands for (`make replay`): every source is fetched as it was live then, retired ones too,
    # and the report is dated to that night. "" for a run of now.
    as_of: str = ""

    def base_url(self, upstream: str) -> str:
        return self.urls.get(upstream) or UPSTREAMS[upstream].default_url

    @classmethod
    def from_environment(cls) -> Upstreams:
        defaults = {name: upstream.default_url for name, upstream in UPSTREAMS.items()}
        overridden = {name: url for name, url in settings.upstream_urls().items() if url != defaults[name]}
        return cls(mode=settings.pipeline_mode(), cases_api=settings.cases_api(), urls=overridden,
                   as_of=settings.as_of())
