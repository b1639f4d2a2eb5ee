"""Every setting the pipeline reads from the environment, with its default, in one place.

The README's "Settings" table documents each of these; keep the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The real public endpoints are the defaults; each can be pointed elsewhere (a local server in tests).
DEFAULT_PHE_API_URL = "https://api.coronavirus.data.gov.uk/v2/data"
DEFAULT_UKHSA_API_URL = "https://api.ukhsa-dashboard.data.gov.uk"
# The last England workbook of the ONS COVID-19 Infection Survey (the survey ended in March 2023).
DEFAULT_ONS_URL = (
    "https://www.ons.gov.uk/file?uri=/peoplepopulationandcommunity/healthandsocialcare/conditionsanddiseases/"
    "datasets/coronaviruscovid19infectionsurveydata/2023/20230310covid19infectionsurveydatasetsengland.xlsx"
)
DEFAULT_NHS111_URL = (
    "https://digital.nhs.uk/data-and-information/publications/statistical/"
    "mi-potential-covid-19-symptoms-reported-through-nhs-pathways-and-111-online/latest"
)

MODES = ("sample", "live", "replay")


def pipeline_mode() -> str:
    mode = os.environ.get("PIPELINE_MODE", "sample").strip().lower() or "sample"
    if mode not in MODES:
        raise ValueError(f"PIPELINE_MODE={mode!r} is not one of {', '.join(MODES)}")
    return mode


def cases_api() -> str:
    api = os.environ.get("CASES_API", "ukhsa").strip().lower() or "ukhsa"
    if api not in ("ukhsa", "phe"):
        raise ValueError(f"CASES_API={api!r} is not 'ukhsa' or 'phe'")
    return api


def data_dir() -> Path:
    """Where raw downloads and stored tables live (git-ignored). PIPELINE_DATA_DIR overrides it."""
    return Path(os.environ.get("PIPELINE_DATA_DIR", REPO_ROOT / "storage")).resolve()


def upstream_urls() -> dict[str, str]:
    return {
        "phe": os.environ.get("PHE_API_URL", DEFAULT_PHE_API_URL),
        "ukhsa": os.environ.get("UKHSA_API_URL", DEFAULT_UKHSA_API_URL),
        "ons": os.environ.get("ONS_URL", DEFAULT_ONS_URL),
        "nhs111": os.environ.get("NHS111_URL", DEFAULT_NHS111_URL),
    }


def reports_url() -> str:
    """Base URL the report links in the Dagster UI point at (the server `make dev` starts)."""
    return os.environ.get("REPORTS_URL", f"http://127.0.0.1:{os.environ.get('REPORTS_PORT', '3001')}").rstrip("/")


# The shipped releases sample mode serves; the benchmark points this at generated, larger ones.
SAMPLES_DIR = Path(os.environ.get("PIPELINE_SAMPLES_DIR", REPO_ROOT / "data" / "samples")).resolve()
LOOKUPS_DIR = REPO_ROOT / "data" / "lookups"


def env_number(name: str, default: int | float) -> int | float:
    """A numeric setting, of the default's type; a clear error names the variable when it is not a number."""
    value = os.environ.get(name, "").strip()
    try:
        return type(default)(value) if value else default
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a {type(default).__name__}") from exc


# Retries and concurrency (README, "Settings"). The HTTP client retries quickly inside a step; the step retry
# policy tries the whole download again later, for outages that outlast those quick retries.
def http_max_attempts() -> int:
    return env_number("HTTP_MAX_ATTEMPTS", 5)


def http_backoff_base_s() -> float:
    return env_number("HTTP_BACKOFF_BASE_S", 1.0)


def fetch_step_retries() -> int:
    return env_number("FETCH_STEP_RETRIES", 2)


def fetch_step_retry_delay_s() -> float:
    return env_number("FETCH_STEP_RETRY_DELAY_S", 60.0)


def downloads_per_host() -> int:
    return env_number("DOWNLOADS_PER_HOST", 2)


def failure_webhook_url() -> str | None:
    return os.environ.get("FAILURE_WEBHOOK_URL") or None


def dagster_ui_url() -> str:
    return os.environ.get("DAGSTER_UI_URL", f"http://127.0.0.1:{os.environ.get('DAGSTER_PORT', '3000')}").rstrip("/")
