"""Shared test helpers: a real HTTP server on 127.0.0.1 serving the shipped samples, Dagster runs of one source
against it with temporary storage, and whole nightly builds made once per test process and copied per test."""

from __future__ import annotations

import gc
import hashlib
import re
import shutil
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from xdist.scheduler import LoadFileScheduling

from assets.ingest.factory import build_source, fetch_retry_policy
from assets.ingest.source import Source
from assets.publication.cases_report import cases_report
from assets.publication.datastore_tables import datastore_tables
from assets.sources import SOURCES
from checks.published import fingerprint
from pipelines.commands.datastore_standin import StandIn
from pipelines.commands.release_server import BASE_PATHS  # where each upstream is served locally
from pipelines.jobs import PUBLICATION
from resources import build_resources
from resources.http import HttpClient
from resources.settings import UPSTREAMS
from resources.upstreams import Upstreams

# Step retries keep their number but not their minute-long wait.
TEST_FETCH_RETRY = fetch_retry_policy(max_retries=2, delay_s=0.05)
# For a Dagster UI or service whose test is not about the runs' processes: its runs execute every step in the run's
# own process (DAGSTER_EXECUTOR): no fork server and no process per step, some 3-5 s of CPU less for a short run (a
# sample nightly: about 7 s instead of 18 s). The product's default, a process per step, is what the analyst's day
# in the browser and the service's crash and outage tests run.
STEPS_IN_THE_RUN_PROCESS = {"DAGSTER_EXECUTOR": "in_process"}


# The kinds of test that take longest, in the order they are handed out. With a whole file to a worker
# (--dist loadfile --no-loadscope-reorder in pyproject.toml), the long files start first and the many quick ones
# fill in at the end, so that the workers finish about together. xdist's own order, by number of tests per file,
# left one of two workers 55 s alone at the end.
SLOWEST_FIRST = ("service", "browser", "commands")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def kind(item: pytest.Item) -> int:
        return next((rank for rank, marker in enumerate(SLOWEST_FIRST) if item.get_closest_marker(marker)),
                    len(SLOWEST_FIRST))

    items.sort(key=kind)  # stable: each file's tests stay together, in their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each test process's garbage collector leaves alone what collection loaded (Dagster, pandas, pyarrow, the
    definitions and every test module: never garbage), and collects the young generation less often. Measured on
    `make test-fast` (469 tests, two workers): 12.3 s of the workers' 75.6 s of CPU went to collections, each full one
    looking through all of that again; 4.9 s of 64 s with both."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)  # Python's default is 700


# The browser test files that share one Dagster UI (the package-scoped `ui` fixture, tests/browser/conftest.py) are
# named so; a file that uses it under another name still works, it may only start a UI of its own.
SHARED_UI_FILES = re.compile(r"tests/browser/test_\w+_in_ui\.py")


class FileScheduling(LoadFileScheduling):
    """xdist's --dist loadfile, except that the files sharing the `ui` fixture's Dagster UI go to one worker
    together: on two workers each started that UI (about 12 s of CPU, then about 3 s a minute while it idled)."""

    def _split_scope(self, nodeid: str) -> str:
        file = super()._split_scope(nodeid)
        return "tests/browser (the shared Dagster UI)" if SHARED_UI_FILES.fullmatch(file) else file


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> FileScheduling | None:
    return FileScheduling(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.fixture(scope="session", autouse=True)
def interrupts_as_in_a_terminal() -> None:
    """SIGINT raising KeyboardInterrupt and SIGTERM at its default, in every test process, however the suite was
    started. Dagster's in-process runs end by giving SIGTERM whatever SIGINT has (dagster._utils.interrupts): where
    the suite was started with SIGINT ignored (in the background of a non-interactive shell), SIGTERM was then
    ignored too, in the test process and in every process it started afterwards, so a report server, `make dev` or
    `make serve` told to stop by a test did not."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="session")
def httpserver_listen_address():
    # Tests only ever bind the loopback interface.
    return ("127.0.0.1", 0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage"


class StoredBuilds:
    """Storage folders built once per test process, copied for each test that starts from one: for tests whose
    subject is what is done with a build (publishing it, refusing it), not the build, which other tests cover."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, tuple[Path, str]] = {}

    def copy(self, name: str, build: Callable[[Path], str], to: Path) -> str:
        """A copy at `to` of the folder `build(folder)` filled (once per process, under `name`); returns what
        `build` returned for it. A build that fails is not kept: the next test builds again."""
        if name not in self.built:
            folder = self.root / name
            shutil.rmtree(folder, ignore_errors=True)
            self.built[name] = (folder, build(folder))
        folder, value = self.built[name]
        shutil.copytree(folder, to, symlinks=True)
        return value


@pytest.fixture(scope="session")
def stored_builds(tmp_path_factory: pytest.TempPathFactory) -> StoredBuilds:
    return StoredBuilds(tmp_path_factory.mktemp("builds"))


def stored_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """The Datastore tables a nightly stored in `data_dir`, by name."""
    return {p.stem: pd.read_parquet(p) for p in (data_dir / "tables" / "datastore_tables").glob("*.parquet")}


def stored_version(data_dir: Path) -> str:
    return fingerprint(stored_tables(data_dir))


def _nightly_build(data_dir: Path, mode: str) -> str:
    """What the nightly leaves in `data_dir` (tables, report, its files), run in this process: in live mode from a
    local server of the shipped samples, in sample mode from the samples themselves. Returns the report version."""
    def run(url: str | dict[str, str]) -> dg.ExecuteInProcessResult:
        return dg.materialize([*all_source_assets(), datastore_tables, cases_report],
                              resources=pipeline_resources(data_dir, url, mode=mode), raise_on_error=False)

    if mode == "live":
        with samples_server() as server:
            result = run(upstream_urls(server))
    else:
        result = run("http://127.0.0.1:9/nothing-listens")
    assert result.success, failure_text(result)
    return stored_version(data_dir)


def copied_nightly(stored_builds: StoredBuilds, mode: str, to: Path) -> str:
    """A copy at `to` of what a nightly in `mode` ("live" or "sample") leaves, built once per test process; returns
    the report version. For tests whose subject is what is done with a build (publishing, approving, refusing, a
    service starting on it), not the build, which other tests cover."""
    return stored_builds.copy(mode, lambda folder: _nightly_build(folder, mode), to)


@pytest.fixture
def built(stored_builds: StoredBuilds, data_dir: Path) -> str:
    """A live nightly run's tables and report in data_dir (the releases served by a local server); returns the
    report version. A copy (copied_nightly): what a test does with it may change it."""
    return copied_nightly(stored_builds, "live", data_dir)


@pytest.fixture
def built_from_samples(stored_builds: StoredBuilds, data_dir: Path) -> str:
    """What `make run` leaves: a sample-mode run's tables and report in data_dir; returns the report version."""
    return copied_nightly(stored_builds, "sample", data_dir)


# A self-signed certificate and its key for 127.0.0.1 and localhost, made for these tests with openssl (valid to
# 2126): what a server looks like to a client that does not trust its issuer, as every site does behind a proxy that
# inspects TLS.
TLS = Path(__file__).parent / "tls"


@contextmanager
def https_server() -> Iterator[tuple[str, list[object]]]:
    """An HTTPS server on 127.0.0.1 serving a small CSV with the self-signed certificate; the connections it
    accepted (each a TLS handshake asked for) are counted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    accepted: list[object] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"a,b\n1,2\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def get_request(self) -> tuple[socket.socket, object]:
            connection, address = self.socket.accept()
            accepted.append(address)
            # A failed handshake raises here; the server drops that connection and goes on.
            return context.wrap_socket(connection, server_side=True), address

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/data.csv", accepted
    finally:
        server.shutdown()
        server.server_close()


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
    """The (decoded) path and query a local server matches a URL on."""
    parts = urlsplit(url)
    return unquote(parts.path), parts.query


def serve_samples(server: HTTPServer, source: Source, replace: dict[str, bytes] | None = None) -> str:
    """Register every sample file of `source` on the server; `replace` swaps the body served for a sample file
    name (to inject bad input). Returns the base URL to point the source at."""
    url = base_url(server, source.sample.api)
    for route_url, path in source.sample_routes(url).items():
        route, query = route_for(route_url)
        if replace and path.name in replace:
            body = replace[path.name]
            server.expect_request(route, query_string=query).respond_with_data(body, status=200)
        else:
            server.expect_request(route, query_string=query).respond_with_handler(
                lambda request, p=path: sample_response(p, request, source.sample.sample_release)
            )
    return url


def source_assets(source: Source) -> list[dg.AssetsDefinition]:
    """The source's two assets, as the definitions build them (with short step-retry waits)."""
    return list(build_source(source, fetch_retry=TEST_FETCH_RETRY, rebuild=PUBLICATION).assets)


def all_source_assets() -> list[dg.AssetsDefinition]:
    return [asset for source in SOURCES.values() for asset in source_assets(source)]


def pipeline_resources(data_dir: Path, url: str | dict[str, str], mode: str = "live", cases_api: str = "phe",
                       **overrides) -> dict[str, object]:
    """The definitions' resources (resources.build_resources), pointed at test storage and a test server: `url`
    serves every upstream, or is a URL per upstream name. The local servers serve the recorded PHE-format
    releases, so cases are read in that format unless `cases_api` says otherwise."""
    urls = url if isinstance(url, dict) else dict.fromkeys(UPSTREAMS, url)
    upstreams = Upstreams(mode=mode, cases_api=cases_api, urls=urls)
    resources = build_resources(data_dir=data_dir, upstreams=upstreams, http=fast_http(),
                                reports_url="http://127.0.0.1:3001", **overrides)
    if "datastore" not in overrides:
        del resources["datastore"]  # tests that publish pass their own target (a stand-in or a dry run)
    return resources


def upstream_urls(server: HTTPServer) -> dict[str, str]:
    """The base URL of every upstream on the tests' local server."""
    return {upstream: base_url(server, upstream) for upstream in BASE_PATHS}


def serve_all_samples(server: HTTPServer, replace: dict[str, bytes] | None = None) -> dict[str, str]:
    """Every source's samples on one local server; returns the base URL per upstream."""
    for source in SOURCES.values():
        serve_samples(server, source, replace)
    return upstream_urls(server)


@contextmanager
def samples_server() -> Iterator[HTTPServer]:
    """A local server of its own on 127.0.0.1 serving every source's samples (serve_all_samples), for fixtures wider
    than one test, where pytest-httpserver's shared server is cleared between tests."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    serve_all_samples(server)
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def live_environment(urls: dict[str, str]) -> dict[str, str]:
    """The settings a separate process (make run, the UI) needs to read every upstream live from `urls` (as
    serve_all_samples returns them), in the PHE format the local servers serve."""
    return {"PIPELINE_MODE": "live", "CASES_API": "phe",
            **{upstream.setting: urls[name] for name, upstream in UPSTREAMS.items()}}


def run_source(
    source: Source,
    data_dir: Path,
    url: str,
    *,
    mode: str = "live",
    http: HttpClient | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize one source's raw and clean assets, the way the per-source job does."""
    resources = pipeline_resources(data_dir, url, mode)
    if http is not None:
        resources["http"] = http
    return dg.materialize(source_assets(source), resources=resources, instance=instance, raise_on_error=False)


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
def sources() -> dict[str, Source]:
    return SOURCES


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandIn]:
    """The London Datastore stand-in (pipelines/commands/datastore_standin.py) of this test process, accepting
    STANDIN_KEY. Long-lived users (a Dagster UI, the service) point at it; each resets it before use."""
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def standin(standin_server: StandIn) -> StandIn:
    """The stand-in, as new for each test: one empty dataset, nothing logged, no faults."""
    return standin_server.reset()
