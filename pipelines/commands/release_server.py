"""Past releases served as their publishers served them, for `make replay`: a real HTTP server on 127.0.0.1 that
answers every source's URLs with the files of the release it held on a given night.

A folder of releases has the `make backfill` layout, `<YYYY-MM-DD>/<source>/<file named as in data/samples>`. On a
night, each source is answered with its newest release on or before that night (a night with no new release keeps
the last, as a publisher's server did), or, for a source the folder never holds, with its shipped sample. Each
answer carries `Last-Modified` (the release's night, 16:00 GMT) and an `ETag`, and a conditional request for an
unchanged file gets 304, so the pipeline's archive and conditional fetches behave as on a live night.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from assets.ingest.source import Source
from resources.sample_transport import CONTENT_TYPES, prepared_url
from resources.settings import UPSTREAMS

# Where each upstream is answered on the server (one server stands in for all of them).
BASE_PATHS = {"phe": "/v2/data", "ukhsa": "/ukhsa", "ons": "/ons/workbook.xlsx", "nhs111": "/nhs111/latest"}
assert set(BASE_PATHS) == set(UPSTREAMS)
SHIPPED = "shipped sample"


@dataclass(frozen=True)
class Served:
    """One file as the server answers it: its bytes' path and the release it belongs to."""

    path: Path
    released: date


def release_dates(folder: Path) -> dict[str, list[date]]:
    """Each source's release dates in `folder`, oldest first."""
    held: dict[str, list[date]] = {}
    for night in sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith(".")):
        try:
            day = date.fromisoformat(night.name)
        except ValueError:
            raise SystemExit(f"replay: {night} is not a release folder (expected YYYY-MM-DD)") from None
        for source in sorted(child.name for child in night.iterdir() if child.is_dir()):
            held.setdefault(source, []).append(day)
    return held


def held_on(releases: list[date], night: date) -> date | None:
    """The newest release on or before `night`."""
    earlier = [release for release in releases if release <= night]
    return earlier[-1] if earlier else None


def night_routes(sources: Mapping[str, Source], folder: Path, held: Mapping[str, list[date]], night: date,
                 base_urls: Mapping[str, str]) -> tuple[dict[str, Served], dict[str, str]]:
    """URL -> the file that answers it on `night`, and per source the release it is answered with (its date, or
    "shipped sample")."""
    routes: dict[str, Served] = {}
    answered: dict[str, str] = {}
    for name, source in sources.items():
        base_url = base_urls[source.sample.api]
        release = held_on(held.get(name, []), night)
        if release is None:
            released = date.fromisoformat(source.sample.sample_release)
            files = source.sample_routes(base_url)
            answered[name] = SHIPPED
        else:
            released, files = release, source.sample_routes(base_url, folder / f"{release:%Y-%m-%d}")
            answered[name] = f"{release:%Y-%m-%d}"
        routes.update({prepared_url(url): Served(path, released) for url, path in files.items()})
    return routes, answered


class ReleaseServer:
    """The server; `serve(routes)` sets what it answers from then on."""

    def __init__(self) -> None:
        self._routes: dict[str, Served] = {}
        self._lock = threading.Lock()
        handler = functools.partial(_Handler, self)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def base_urls(self) -> dict[str, str]:
        return {upstream: f"{self.url}{path}" for upstream, path in BASE_PATHS.items()}

    def serve(self, routes: Mapping[str, Served]) -> None:
        # Keyed by path and query as they arrive on the wire.
        keyed = {urlsplit(url)._replace(scheme="", netloc="").geturl(): served for url, served in routes.items()}
        with self._lock:
            self._routes = keyed

    def answer(self, target: str) -> Served | None:
        with self._lock:
            return self._routes.get(target)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def __init__(self, server: ReleaseServer, *args, **kwargs) -> None:
        self.releases = server
        super().__init__(*args, **kwargs)

    def log_message(self, *args: object) -> None:  # the pipeline logs what it fetched
        pass

    def do_GET(self) -> None:
        served = self.releases.answer(self.path)
        if served is None or not served.path.exists():
            self._send(404, b"no release holds this file", {"Content-Type": "text/plain"})
            return
        content = served.path.read_bytes()
        released = datetime.combine(served.released, time(16), tzinfo=UTC)
        headers = {"ETag": '"' + hashlib.sha256(content).hexdigest()[:32] + '"',
                   "Last-Modified": format_datetime(released, usegmt=True),
                   "Content-Type": CONTENT_TYPES.get(served.path.suffix, "application/octet-stream")}
        if self.headers.get("If-None-Match") == headers["ETag"]:
            self._send(304, b"", headers)
        else:
            self._send(200, content, headers)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
