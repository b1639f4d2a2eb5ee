"""Where each source is fetched from and how (sample, live or replay)."""

from __future__ import annotations

import dagster as dg

from resources import settings


class Upstreams(dg.ConfigurableResource):
    """`mode`: `sample` serves the shipped releases in data/samples through the normal HTTP path (offline
    default); `live` calls the real endpoints; `replay` re-reads the latest archived downloads without the network.
    The base URLs default to the real public endpoints and are overridden by PHE_API_URL, UKHSA_API_URL, ONS_URL
    and NHS111_URL."""

    mode: str = "sample"
    # Live mode reads cases and healthcare from the UKHSA API ("ukhsa"), or from PHE_API_URL in the retired PHE
    # API's format ("phe": a mirror, or recorded releases served locally).
    cases_api: str = "ukhsa"
    phe_api_url: str = settings.DEFAULT_PHE_API_URL
    ukhsa_api_url: str = settings.DEFAULT_UKHSA_API_URL
    ons_url: str = settings.DEFAULT_ONS_URL
    nhs111_url: str = settings.DEFAULT_NHS111_URL

    def base_url(self, upstream: str) -> str:
        return {
            "phe": self.phe_api_url,
            "ukhsa": self.ukhsa_api_url,
            "ons": self.ons_url,
            "nhs111": self.nhs111_url,
        }[upstream]

    @classmethod
    def from_environment(cls) -> Upstreams:
        urls = settings.upstream_urls()
        return cls(
            mode=settings.pipeline_mode(),
            cases_api=settings.cases_api(),
            phe_api_url=urls["phe"],
            ukhsa_api_url=urls["ukhsa"],
            ons_url=urls["ons"],
            nhs111_url=urls["nhs111"],
        )
