"""Every setting the pipeline reads from the environment, with its default, in one place.

Settings are functions, read when something is built (a resource, the definitions, a run), never when a module is
imported: a test or a long-running process that changes the environment sees the change the next time the
definitions are built. The README's "Settings" table documents each of these; keep the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOKUPS_DIR = REPO_ROOT / "data" / "lookups"

MODES = ("sample", "live", "replay")


@dataclass(frozen=True)
class Upstream:
    """One publisher's API or file server: `setting` is the environment variable that points it elsewhere (a
    mirror, a local server in tests); the default is the real public endpoint."""

    name: str
    setting: str
    default_url: str
    title: str  # how the UI and the report name the format a file came in


# The one table of upstreams. A source's variants are keyed by these names, and the archive records the name with
# every file it keeps, so the parser for a file is chosen from where it came from.
UPSTREAMS: dict[str, Upstream] = {u.name: u for u in (
    Upstream("phe", "PHE_API_URL", "https://api.coronavirus.data.gov.uk/v2/data", "PHE coronavirus API v2"),
    Upstream("ukhsa", "UKHSA_API_URL", "https://api.ukhsa-dashboard.data.gov.uk", "UKHSA data dashboard API"),
    # The last England workbook of the ONS COVID-19 Infection Survey (the survey ended in March 2023).
    Upstream("ons", "ONS_URL",
             "https://www.ons.gov.uk/file?uri=/peoplepopulationandcommunity/healthandsocialcare/conditionsanddiseases/"
             "datasets/coronaviruscovid19infectionsurveydata/2023/20230310covid19infectionsurveydatasetsengland.xlsx",
             "ONS Infection Survey workbook"),
    Upstream("nhs111", "NHS111_URL",
             "https://digital.nhs.uk/data-and-information/publications/statistical/"
             "mi-potential-covid-19-symptoms-reported-through-nhs-pathways-and-111-online/latest",
             "NHS Digital open-data CSVs"),
)}


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


def samples_dir() -> Path:
    """The shipped releases sample mode serves; the benchmark points PIPELINE_SAMPLES_DIR at larger ones."""
    return Path(os.environ.get("PIPELINE_SAMPLES_DIR", REPO_ROOT / "data" / "samples")).resolve()


def upstream_urls() -> dict[str, str]:
    """Base URL per upstream: its setting when set, else the real public endpoint."""
    return {name: os.environ.get(upstream.setting, upstream.default_url) for name, upstream in UPSTREAMS.items()}


def reports_url() -> str:
    """Base URL the report links in the Dagster UI point at (the server `make dev` starts)."""
    return os.environ.get("REPORTS_URL", f"http://127.0.0.1:{os.environ.get('REPORTS_PORT', '3001')}").rstrip("/")


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


# The London Datastore and its "Coronavirus (COVID-19) Cases" dataset (its public URL slug). LDS_API_KEY is not read
# here: the publish resource holds only a reference to it (dg.EnvVar), resolved when the publish step runs.
DEFAULT_LDS_URL = "https://data.london.gov.uk"
DEFAULT_LDS_DATASET = "coronavirus--covid-19--cases"


def lds_url() -> str:
    return os.environ.get("LDS_URL", DEFAULT_LDS_URL)


def lds_dataset() -> str:
    return os.environ.get("LDS_DATASET", DEFAULT_LDS_DATASET)


def lds_dry_run_dir() -> str | None:
    return os.environ.get("LDS_DRY_RUN_DIR") or None


def lds_rehearsal() -> bool:
    """LDS_REHEARSAL=1: the Datastore at LDS_URL is a test instance (data that is not live may go there)."""
    return os.environ.get("LDS_REHEARSAL", "").strip().lower() in ("1", "true", "yes")


def lds_table_timeout_s() -> float:
    """How long a publish keeps reading the files' API tables back before reporting one that did not follow."""
    return env_number("LDS_TABLE_TIMEOUT_S", 120.0)


def lds_table_poll_s() -> float:
    return env_number("LDS_TABLE_POLL_S", 10.0)


def failure_webhook_url() -> str | None:
    return os.environ.get("FAILURE_WEBHOOK_URL") or None


# Names the Dagster UI's addresses are made of: workspace.yaml's location_name (tests/pipelines/test_layout.py
# holds them equal) and the approval job's name.
CODE_LOCATION = "london_covid"
PUBLISH_JOB = "publish"


def dagster_ui_url() -> str:
    return os.environ.get("DAGSTER_UI_URL", f"http://127.0.0.1:{os.environ.get('DAGSTER_PORT', '3000')}").rstrip("/")


# When the schedules fire, as cron strings in Europe/London time. The PHE/UKHSA cases and healthcare figures were
# published between 4 and 6 pm and NHS 111 data in the morning, so 21:30 catches every daily source's release of the
# same day; ONS published on Thursdays or Fridays.
def nightly_cron() -> str:
    return os.environ.get("NIGHTLY_CRON", "").strip() or "30 21 * * *"


def ons_weekly_cron() -> str:
    return os.environ.get("ONS_WEEKLY_CRON", "").strip() or "0 22 * * 5"


# `make serve` (pipelines/service.py, README "Running as a service"). DAGSTER_PG_* are also what the service's
# instance config (config/dagster-service.yaml) reads, so every Dagster process finds the same database.
@dataclass(frozen=True)
class ServiceSettings:
    pg_host: str | None  # None: start our own PostgreSQL server under the data folder
    pg_port: int
    pg_username: str
    pg_password: str | None  # None: generated on the first start and kept beside the server's files
    pg_db: str
    pg_os_user: str  # the non-root account our own server runs as when started by root
    code_server_port: int
    dagster_port: int
    reports_port: int


def service_settings() -> ServiceSettings:
    return ServiceSettings(
        pg_host=os.environ.get("DAGSTER_PG_HOST", "").strip() or None,
        pg_port=env_number("DAGSTER_PG_PORT", 5433),
        pg_username=os.environ.get("DAGSTER_PG_USERNAME", "").strip() or "dagster",
        pg_password=os.environ.get("DAGSTER_PG_PASSWORD") or None,
        pg_db=os.environ.get("DAGSTER_PG_DB", "").strip() or "dagster",
        pg_os_user=os.environ.get("DAGSTER_PG_OS_USER", "").strip() or "postgres",
        code_server_port=env_number("CODE_SERVER_PORT", 4266),
        dagster_port=env_number("DAGSTER_PORT", 3000),
        reports_port=env_number("REPORTS_PORT", 3001),
    )
