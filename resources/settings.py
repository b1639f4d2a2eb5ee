"""Every setting the pipeline reads from the environment, declared once: its name, its default and what it does.

`SETTINGS` is the one list. The functions below read through it, when something is built (a resource, the
definitions, a run), never when a module is imported: a test or a long-running process that changes the environment
sees the change the next time the definitions are built. The settings table in docs/operations.md is generated from
it (`make docs`), and tests/resources/test_settings.py holds the two equal and checks that nothing reads a variable
that is not declared here.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from resources.errors import SettingError

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOKUPS_DIR = REPO_ROOT / "data" / "lookups"

MODES = ("sample", "live", "replay")
CASES_APIS = ("ukhsa", "phe")
EXECUTORS = ("multiprocess", "in_process")


@dataclass(frozen=True)
class Upstream:
    """One publisher's API or file server: `setting` is the environment variable that points it elsewhere (a
    mirror, a local server in tests); the default is the real public endpoint."""

    name: str
    setting: str
    default_url: str
    title: str  # how the UI and the report name the format a file came in
    about: str  # what the setting is for (the settings table)
    shown: str | None = None  # the default as the docs name it, when the URL itself says little


# The one table of upstreams. A source's variants are keyed by these names, and the archive records the name with
# every file it keeps, so the parser for a file is chosen from where it came from.
UPSTREAMS: dict[str, Upstream] = {u.name: u for u in (
    Upstream("phe", "PHE_API_URL", "https://api.coronavirus.data.gov.uk/v2/data", "PHE coronavirus API v2",
             "PHE dashboard API v2 (retired): read in live mode only with `CASES_API=phe`."),
    Upstream("ukhsa", "UKHSA_API_URL", "https://api.ukhsa-dashboard.data.gov.uk", "UKHSA data dashboard API",
             "UKHSA data dashboard API: live mode's source for cases and healthcare."),
    Upstream("ons", "ONS_URL",
             "https://www.ons.gov.uk/file?uri=/peoplepopulationandcommunity/healthandsocialcare/conditionsanddiseases/"
             "datasets/coronaviruscovid19infectionsurveydata/2023/20230310covid19infectionsurveydatasetsengland.xlsx",
             "ONS Infection Survey workbook",
             "The workbook to fetch (the survey has ended; this is one of its final releases).",
             shown="the ONS Infection Survey England workbook of 10 March 2023"),
    Upstream("nhs111", "NHS111_URL",
             "https://digital.nhs.uk/data-and-information/publications/statistical/"
             "mi-potential-covid-19-symptoms-reported-through-nhs-pathways-and-111-online/latest",
             "NHS Digital open-data CSVs",
             "The page whose links titled \"NHS Pathways Potential COVID-19 Open Data\" and \"111 Online Potential "
             "COIVD-19 Open Data\" are followed.",
             shown="the NHS Digital publication page (`…/latest`)"),
)}


@dataclass(frozen=True)
class Setting:
    """One environment variable. `default` is used when it is unset or blank (None: it has none); its type is the
    setting's type. `shown` is the default as the docs give it, where it is worked out when read."""

    name: str
    default: str | int | float | None
    meaning: str
    shown: str | None = None
    # A number's range, both ends included: a value outside it would not fail where it is set but far from there
    # (no download ever attempted, a busy loop, a deadline already passed).
    least: int | float | None = None
    most: int | float | None = None

    @property
    def bounds(self) -> str:
        """The range as the docs and errors say it: `at least 1`, `from 1 to 65535`."""
        if self.least is not None and self.most is not None:
            return f"from {self.least:g} to {self.most:g}"
        if self.least is not None:
            return f"at least {self.least:g}"
        return f"at most {self.most:g}" if self.most is not None else ""

    @property
    def documented_default(self) -> str:
        if self.shown is not None:
            return self.shown
        return "(unset)" if self.default is None else f"`{self.default}`"


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    # What runs, on what data, and where it is kept.
    Setting("PIPELINE_MODE", "sample", "`sample`: answer every request from `data/samples/` (offline). `live`: call "
            "the real endpoints below. `replay`: re-parse the newest archived files without the network."),
    Setting("PIPELINE_DATA_DIR", None, "Where the raw archive (`raw/`), stored tables (`tables/*.parquet`), "
            "vintages (`vintages/`), reports (`reports/`), rebuilds (`rebuilds/`) and publish records (`publish/`) "
            "live.", shown="`./storage`"),
    *(Setting(u.setting, u.default_url, u.about, shown=u.shown or f"`{u.default_url}`") for u in UPSTREAMS.values()),
    Setting("PIPELINE_AS_OF", None, "A past night (`YYYY-MM-DD`) the run stands for, set by `make replay`: every "
            "source is fetched as it was live then (retired ones too) and the report is dated to that night. Unset: "
            "now."),
    Setting("CASES_API", "ukhsa", "Which API live mode reads cases and healthcare from: `ukhsa`, or `phe` "
            "(`PHE_API_URL`, the retired API's format)."),
    # The Dagster UI, the report server and the schedules.
    Setting("DAGSTER_HOME", None, "Dagster's instance directory (run history, SQLite); `make` copies "
            "`config/dagster.yaml` into it.", shown="`./.dagster_home`"),
    Setting("DAGSTER_PORT", 3000, "Port of the Dagster UI (`make dev`, `make serve`).", least=1, most=65535),
    Setting("REPORTS_PORT", 3001, "Port of the report server `make dev` and `make serve` start next to Dagster.",
            least=1, most=65535),
    Setting("REPORTS_ANSWER_OLD_LINKS", False, "Set by `make dev` and `make serve`: their report server also "
            "answers, where free, the ports earlier report links were recorded with, sending each click "
            "to where the reports are served now."),
    Setting("DAGSTER_UI_URL", None, "Base of the run links in failure summaries and of the report's Launchpad link "
            "(read by the report server when the link is followed).", shown="`http://127.0.0.1:$DAGSTER_PORT`"),
    Setting("REPORTS_URL", None, "Base of the `report_url` and `all_reports` links on the `cases_report` asset and "
            "of the address `make run` prints.", shown="`http://127.0.0.1:$REPORTS_PORT`"),
    Setting("NIGHTLY_CRON", "30 21 * * *", "When the `daily_sources_nightly` schedule fires (cron, London time)."),
    Setting("ONS_WEEKLY_CRON", "0 22 * * 5", "When the `ons_weekly` schedule fires (cron, London time)."),
    Setting("FAILURE_WEBHOOK_URL", None, "Where the run-failure notifier posts its JSON summary."),
    # Downloads: retries and concurrency. The HTTP client retries quickly inside a step; the step retry policy tries
    # the whole download again later, for outages that outlast those quick retries.
    Setting("HTTP_MAX_ATTEMPTS", 5, "Quick attempts per download or London Datastore request (429/5xx/connection "
            "errors), exponential backoff with jitter.", least=1),
    Setting("HTTP_BACKOFF_BASE_S", 1.0, "First wait between those attempts, doubling each time (at most 60 s).",
            least=0.0),
    Setting("HTTP_DEADLINE_S", 300.0, "Longest a download may take in all, its retries included: a server that "
            "stalls or sends a trickle is given up on with the URL and the time spent named (the step may then be "
            "retried later, `FETCH_STEP_RETRIES`).", least=1.0),
    Setting("PRUNE_KEEP_DAYS", 30, "`make prune` keeps every report version built, every raw file archived and "
            "every Dagster run started in this many last days, whatever else it removes (published versions and what "
            "they need, and the runs holding each asset's latest result, are always kept).", least=0),
    Setting("FETCH_STEP_RETRIES", 2, "Times a failed download step is retried later by Dagster's `RetryPolicy`.",
            least=0),
    Setting("FETCH_STEP_RETRY_DELAY_S", 60.0, "First wait before a step retry (exponential, with jitter).", least=0.0),
    Setting("DOWNLOADS_PER_HOST", 2, "Most simultaneous downloads from one upstream host within a run.", least=1),
    Setting("DAGSTER_EXECUTOR", "multiprocess", "How the runs Dagster launches (the UI, schedules, sensors) "
            "execute: `multiprocess`, each step in a process of its own, so a step that crashes its process fails "
            "alone; or `in_process`, every step in the run's own process (a sample nightly: about 7 s of CPU "
            "against 18 s, but a step that crashes the process fails the whole run). Read when the code location "
            "loads."),
    # Publishing to the London Datastore. LDS_API_KEY is never read into a value here: the publish resource holds
    # a reference to it (dg.EnvVar), resolved when the publish step runs.
    Setting("LDS_API_KEY", None, "London Datastore API key, read only when the publish job runs. Never printed.",
            shown="(none)"),
    Setting("lds_api_key", None, "The key under the name the GLA's R scripts read it by: used when `LDS_API_KEY` "
            "is unset, so an analyst's existing environment works. Never printed.", shown="(none)"),
    Setting("LDS_URL", "https://data.london.gov.uk", "London Datastore base URL."),
    Setting("LDS_DATASET", "coronavirus--covid-19--cases", "Dataset id (or slug) the tables are published to."),
    Setting("LDS_DRY_RUN_DIR", None, "When set, the publish job writes what it would send into this folder instead "
            "(no key needed)."),
    Setting("LDS_REHEARSAL", None, "`1`: the Datastore at `LDS_URL` is a test instance; data that is not live may be "
            "sent there, and the publication is recorded as a rehearsal. Refused with the real `LDS_URL`."),
    Setting("LDS_TABLE_TIMEOUT_S", 120.0, "After a publish, how long to keep reading the files' API tables back "
            "before reporting one that did not follow.", least=0.0),
    Setting("LDS_TABLE_POLL_S", 10.0, "How often they are read in that time.", least=0.1),
    Setting("VERBOSE", None, "`1`: stack traces where a command otherwise says what failed in one line: `make run` "
            "prints each failed step's, `make approve` Dagster's step log with them, `make parse` a parser's, and "
            "any command a setting's error's."),
    # `make serve` (pipelines/service/). DAGSTER_PG_* are also what the service's instance config
    # (config/dagster-service.yaml) reads, so every Dagster process finds the same database.
    Setting("SERVICE_HOME", None, "`make serve`'s Dagster home: its `dagster.yaml` (from "
            "`config/dagster-service.yaml`), gRPC workspace and `service-logs/`.", shown="`./.dagster_service`"),
    Setting("DAGSTER_PG_HOST", None, "`make serve`: unset starts our own PostgreSQL under "
            "`$PIPELINE_DATA_DIR/postgres/`; set, uses the server there."),
    Setting("DAGSTER_PG_PORT", 5433, "PostgreSQL's port (ours listens on 127.0.0.1 only; not 5432, so it never "
            "meets a system server).", least=1, most=65535),
    Setting("DAGSTER_PG_USERNAME", "dagster", "PostgreSQL account Dagster logs in as (our server's superuser)."),
    Setting("DAGSTER_PG_PASSWORD", None, "Its password; unset with our own server, one is generated on the first "
            "start and kept in `$PIPELINE_DATA_DIR/postgres/password` (mode 600). Required with `DAGSTER_PG_HOST`. "
            "Never printed.", shown="generated"),
    Setting("DAGSTER_PG_DB", "dagster", "Database name (created on the first start if missing)."),
    Setting("DAGSTER_PG_OS_USER", "postgres", "Non-root account our PostgreSQL runs as when `make serve` is started "
            "by root (Debian's package creates `postgres`)."),
    Setting("CODE_SERVER_PORT", 4266, "Port of `make serve`'s code server (gRPC, 127.0.0.1).", least=1, most=65535),
    # The benchmark's (bench/run.py); an analyst never needs them.
    Setting("PIPELINE_SAMPLES_DIR", None, "The releases sample mode serves (the benchmark points it at its larger "
            "generated ones).", shown="`./data/samples`"),
    Setting("PIPELINE_EXECUTOR", "in_process", "How `make run` executes the nightly job: `in_process`, or "
            "`multiprocess` as the schedule and the UI do (the benchmark compares them)."),
    Setting("PIPELINE_RUN_STATS", None, "A file `make run` writes its wall time and steps' compute time to, as JSON "
            "(the benchmark reads it)."),
)}


def _value(name: str) -> str | None:
    """The variable's text when it is set and not blank."""
    if name not in SETTINGS:
        raise KeyError(f"{name} is not a declared setting (resources/settings.py SETTINGS)")
    value = os.environ.get(name, "").strip()
    return value or None


def text(name: str) -> str | None:
    """A setting as text: its value, else its default."""
    value = _value(name)
    default = SETTINGS[name].default
    return value if value is not None else (None if default is None else str(default))


def number(name: str) -> int | float:
    """A numeric setting, of its default's type; a clear error names the variable when it is not a number."""
    setting = SETTINGS[name]
    value, default = _value(name), setting.default
    kind = "a whole number" if isinstance(default, int) else "a number"
    try:
        number = type(default)(value) if value is not None else default
    except ValueError as exc:
        raise SettingError(f"{name}={value!r} is not {kind}") from exc
    if not math.isfinite(number):  # float() reads "nan" and "inf"
        raise SettingError(f"{name}={value!r} is not {kind}")
    if (setting.least is not None and number < setting.least) or (setting.most is not None and number > setting.most):
        raise SettingError(f"{name}={value!r} is out of range: it must be {setting.bounds}")
    return number


def flag(name: str) -> bool:
    return (_value(name) or "").lower() in ("1", "true", "yes")


def choice(name: str, allowed: tuple[str, ...]) -> str:
    value = text(name).lower()
    if value not in allowed:
        raise SettingError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def settings_table() -> str:
    """The settings table of docs/operations.md: every setting, its default and what it does."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.documented_default} | {s.meaning}{f' {s.bounds.capitalize()}.' if s.bounds else ''}"
              " |" for s in SETTINGS.values()]
    return "\n".join(lines)


def dagster_executor() -> str:
    return choice("DAGSTER_EXECUTOR", EXECUTORS)


def pipeline_mode() -> str:
    return choice("PIPELINE_MODE", MODES)


def cases_api() -> str:
    return choice("CASES_API", CASES_APIS)


def as_of() -> str:
    """The night a replayed run stands for (PIPELINE_AS_OF), checked to be a date; "" for a run of now."""
    value = text("PIPELINE_AS_OF") or ""
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise SettingError(f"PIPELINE_AS_OF={value!r} is not a date (YYYY-MM-DD)") from None
    return value


def folder_setting(name: str, folder: Path) -> Path:
    """`folder`, the setting `name`'s, refused when it is, or is inside, a file. Caught when the setting is read, not
    at the first write there, which can come minutes later (after a fetch's retries) and names no setting."""
    existing = next(place for place in (folder, *folder.resolve().parents) if place.exists())
    if not existing.is_dir():
        raise SettingError(f"{name}={str(folder)!r} is not a folder: {existing} is a file")
    return folder


def data_dir() -> Path:
    """Where raw downloads and stored tables live (git-ignored); refused when it is, or is inside, a file."""
    return folder_setting("PIPELINE_DATA_DIR", Path(text("PIPELINE_DATA_DIR") or REPO_ROOT / "storage").resolve())


def dagster_home() -> Path:
    """Dagster's instance folder, which the commands open; refused, naming the setting, when it is unset or not a
    folder (Dagster's own refusal is a traceback)."""
    home = text("DAGSTER_HOME")
    if not home:
        raise SettingError("DAGSTER_HOME is not set: the make targets set it to .dagster_home (with "
                           "config/dagster.yaml); outside make, set it to Dagster's instance folder")
    if not Path(home).is_dir():
        raise SettingError(f"DAGSTER_HOME={home!r} is not a folder: make creates its default, .dagster_home, with "
                           "config/dagster.yaml; create this one the same way")
    return Path(home)


def samples_dir() -> Path:
    """The shipped releases sample mode serves."""
    return Path(text("PIPELINE_SAMPLES_DIR") or REPO_ROOT / "data" / "samples").resolve()


def upstream_urls() -> dict[str, str]:
    """Base URL per upstream: its setting when set, else the real public endpoint."""
    return {name: text(upstream.setting) for name, upstream in UPSTREAMS.items()}


def reports_url() -> str:
    """Base URL the report links in the Dagster UI point at (the server `make dev` starts)."""
    return (text("REPORTS_URL") or f"http://127.0.0.1:{number('REPORTS_PORT')}").rstrip("/")


def dagster_ui_url() -> str:
    return (text("DAGSTER_UI_URL") or f"http://127.0.0.1:{number('DAGSTER_PORT')}").rstrip("/")


def http_max_attempts() -> int:
    return number("HTTP_MAX_ATTEMPTS")


def http_backoff_base_s() -> float:
    return number("HTTP_BACKOFF_BASE_S")


def http_deadline_s() -> float:
    return number("HTTP_DEADLINE_S")


def fetch_step_retries() -> int:
    return number("FETCH_STEP_RETRIES")


def fetch_step_retry_delay_s() -> float:
    return number("FETCH_STEP_RETRY_DELAY_S")


def downloads_per_host() -> int:
    return number("DOWNLOADS_PER_HOST")


# The London Datastore and its "Coronavirus (COVID-19) Cases" dataset (its public URL slug).
DEFAULT_LDS_URL = str(SETTINGS["LDS_URL"].default)
DEFAULT_LDS_DATASET = str(SETTINGS["LDS_DATASET"].default)


def lds_url() -> str:
    return text("LDS_URL")


def api_key_variable() -> str:
    """The environment variable the London Datastore key is read from when the publish step runs: LDS_API_KEY, or,
    when that is unset or empty, `lds_api_key`, the name the GLA's R scripts used. Only whether each is set is
    looked at here; the key itself stays in the environment until the publish step reads it."""
    if not (os.environ.get("LDS_API_KEY") or "").strip() and (os.environ.get("lds_api_key") or "").strip():
        return "lds_api_key"
    return "LDS_API_KEY"


def lds_dataset() -> str:
    return text("LDS_DATASET")


def lds_dry_run_dir() -> str | None:
    folder = text("LDS_DRY_RUN_DIR")
    return str(folder_setting("LDS_DRY_RUN_DIR", Path(folder))) if folder else None


def lds_rehearsal() -> bool:
    """LDS_REHEARSAL=1: the Datastore at LDS_URL is a test instance (data that is not live may go there)."""
    return flag("LDS_REHEARSAL")


def lds_table_timeout_s() -> float:
    """How long a publish keeps reading the files' API tables back before reporting one that did not follow."""
    return number("LDS_TABLE_TIMEOUT_S")


def lds_table_poll_s() -> float:
    return number("LDS_TABLE_POLL_S")


def failure_webhook_url() -> str | None:
    return text("FAILURE_WEBHOOK_URL")


def verbose() -> bool:
    return flag("VERBOSE")


# Names the Dagster UI's addresses are made of: workspace.yaml's location_name (tests/pipelines/test_layout.py
# holds them equal) and the approval job's name.
CODE_LOCATION = "london_covid"
PUBLISH_JOB = "publish"


# When the schedules fire, as cron strings in Europe/London time. The PHE/UKHSA cases and healthcare figures were
# published between 4 and 6 pm and NHS 111 data in the morning, so 21:30 catches every daily source's release of the
# same day; ONS published on Thursdays or Fridays.
def nightly_cron() -> str:
    return text("NIGHTLY_CRON")


def ons_weekly_cron() -> str:
    return text("ONS_WEEKLY_CRON")


def check_ports(ports: dict[str, int]) -> None:
    """Each port (setting name -> port) different and free on 127.0.0.1, or a SettingError naming the setting, before
    anything starts. A webserver `dagster dev` starts on a port already taken logs the error and goes on running
    without answering (make dev looked up, and the UI never came); `make serve` found it only after starting
    PostgreSQL and the code server."""
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise SettingError(f"{name}={port} is also {seen[port]}: each part needs a port of its own")
        seen[port] = name
        with socket.socket() as probe:
            # As the servers bind: a port left in TIME_WAIT by the last run of the service is free for them.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                raise SettingError(f"{name}={port}: that port on 127.0.0.1 is in use by another program "
                                   f"({error.strerror})") from None


def service_home() -> Path:
    return Path(text("SERVICE_HOME") or REPO_ROOT / ".dagster_service")


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
        pg_host=text("DAGSTER_PG_HOST"),
        pg_port=number("DAGSTER_PG_PORT"),
        pg_username=text("DAGSTER_PG_USERNAME"),
        # A password is taken as it was set: spaces may belong to it.
        pg_password=os.environ.get("DAGSTER_PG_PASSWORD") or None,
        pg_db=text("DAGSTER_PG_DB"),
        pg_os_user=text("DAGSTER_PG_OS_USER"),
        code_server_port=number("CODE_SERVER_PORT"),
        dagster_port=number("DAGSTER_PORT"),
        reports_port=number("REPORTS_PORT"),
    )
