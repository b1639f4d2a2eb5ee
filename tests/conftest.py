"""Shared test helpers: a real HTTP server on 127.0.0.1 serving the shipped samples, and Dagster runs of one
source against it with temporary storage."""

from __future__ import annotations

import os

# Step retries wait a minute by default; tests keep the retries but not the wait. Set before the assets load.
os.environ["FETCH_STEP_RETRY_DELAY_S"] = "0.05"

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from assets import SOURCE_MODULES, SOURCES
from assets.source import SourceSpec
from resources.archive import RawArchive
from resources.http import HttpClient
from resources.io_manager import ParquetIOManager
from resources.upstreams import Upstreams

BASE_PATHS = {"phe": "/v2/data", "ukhsa": "/ukhsa", "ons": "/ons/workbook.xlsx", "nhs111": "/nhs111/latest"}


@pytest.fixture(scope="session")
def httpserver_listen_address():
    # Tests only ever bind the loopback interface.
    return ("127.0.0.1", 0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


def fast_http(**overrides) -> HttpClient:
    """The real client with short waits so retry tests take milliseconds, not minutes."""
    settings = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "connect_timeout_s": 2.0, "read_timeout_s": 2.0}
    settings.update(overrides)
    return HttpClient(**settings)


def base_url(server: HTTPServer, upstream: str) -> str:
    return server.url_for(BASE_PATHS[upstream])


def sample_response(path: Path, request: Request, released: str) -> Response:
    """Serve a sample file like a real server: ETag, Last-Modified, and 304 for a matching If-None-Match."""
    content = path.read_bytes()
    etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    modified = format_datetime(datetime.fromisoformat(released).replace(hour=16, tzinfo=UTC), usegmt=True)
    return Response(content, status=200, headers={"ETag": etag, "Last-Modified": modified})


def route_for(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.query


def serve_samples(server: HTTPServer, spec: SourceSpec, replace: dict[str, bytes] | None = None) -> str:
    """Register every sample file of `spec` on the server; `replace` swaps the body served for a sample file
    name (to inject bad input). Returns the base URL to point the source at."""
    url = base_url(server, spec.upstream)
    for route_url, path in spec.sample_routes(url).items():
        route, query = route_for(route_url)
        if replace and path.name in replace:
            body = replace[path.name]
            server.expect_request(route, query_string=query).respond_with_data(body, status=200)
        else:
            server.expect_request(route, query_string=query).respond_with_handler(
                lambda request, p=path: sample_response(p, request, spec.sample_release)
            )
    return url


def source_assets(spec: SourceSpec) -> list[dg.AssetsDefinition]:
    return next(module.assets for module in SOURCE_MODULES if module.SPEC is spec)


def pipeline_resources(data_dir: Path, url: str | dict[str, str], mode: str = "live") -> dict[str, object]:
    """Resources as pipelines/definitions.py builds them, pointed at test storage and a test server."""
    from assets.cases_report import ReportStorage

    urls = url if isinstance(url, dict) else dict.fromkeys(BASE_PATHS, url)
    return {
        "io_manager": ParquetIOManager(base_dir=str(data_dir)),
        "archive": RawArchive(data_dir=str(data_dir)),
        "http": fast_http(),
        # The local servers serve the recorded PHE-format releases: read them in that format.
        "upstreams": Upstreams(mode=mode, cases_api="phe", phe_api_url=urls["phe"], ukhsa_api_url=urls["ukhsa"],
                               ons_url=urls["ons"], nhs111_url=urls["nhs111"]),
        "reports": ReportStorage(base_dir=str(data_dir / "reports"), base_url="http://127.0.0.1:3001"),
    }


def serve_all_samples(server: HTTPServer, replace: dict[str, bytes] | None = None) -> dict[str, str]:
    """Every source's samples on one local server; returns the base URL per upstream."""
    urls = {upstream: base_url(server, upstream) for upstream in BASE_PATHS}
    for spec in SOURCES.values():
        serve_samples(server, spec, replace)
    return urls


def run_source(
    spec: SourceSpec,
    data_dir: Path,
    url: str,
    *,
    mode: str = "live",
    http: HttpClient | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize one source's raw and clean assets, the way the per-source job does."""
    upstreams = Upstreams(mode=mode, cases_api="phe", phe_api_url=url, ukhsa_api_url=url, ons_url=url,
                          nhs111_url=url)
    resources = {
        "io_manager": ParquetIOManager(base_dir=str(data_dir)),
        "archive": RawArchive(data_dir=str(data_dir)),
        "http": http or fast_http(),
        "upstreams": upstreams,
    }
    return dg.materialize(source_assets(spec), resources=resources, instance=instance, raise_on_error=False)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure message, including the causes Dagster wraps around the asset's own exception."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error is not None:
                texts.append(error.message)
                error = error.cause
    return "\n".join(texts)


@pytest.fixture
def sources() -> dict[str, SourceSpec]:
    return SOURCES


@pytest.fixture
def make_standin():
    """Start London Datastore stand-ins (tests/datastore_standin.py) that check the given key; stopped after."""
    from tests.datastore_standin import StandIn

    servers = []

    def start(api_key: str):
        server = StandIn(api_key=api_key).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
