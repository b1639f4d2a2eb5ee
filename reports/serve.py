"""Serve the reports folder over HTTP on 127.0.0.1, so the link in the Dagster UI opens the report in one click
(browsers refuse file:// links from a web page). `make dev` starts it next to Dagster; REPORTS_PORT sets the port.

Besides the files it serves two pages built when asked, from the current settings and records:
- `/`: every report version, newest first, with when it was built, its mode, warnings, stale sources, whether
  its data are live, and whether (when, by whom) it was published to the real London Datastore;
- `/launchpad/<version>`: a redirect to the `publish` job's Launchpad with that version filled in, at the Dagster
  UI's current address (DAGSTER_UI_URL, or DAGSTER_PORT), whatever it was when the report was built.
An earlier version's published CSVs are kept compressed at rest (resources/report_store.py); their links are
answered with the CSV as published.
"""

from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reports.approval import launchpad_url
from reports.pages import environment
from resources import settings
from resources.files import DamagedFile, read_json_lines
from resources.report_store import ReportStore, read_published
from resources.settings import dagster_ui_url, data_dir, lds_dataset

VERSION = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class IndexRow:
    version: str
    file: str
    built_at: str
    mode: str
    warnings: int | None
    stale_sources: list[str]
    live: bool | None  # None: built before origins were recorded
    published: list[dict]  # the real publications of this version: published_at, approved_by


AUDIT_REMEDY = ("the record of every publication; restore it from a backup, or move the damaged line out: the "
                "Datastore's own changelog says what was published")


def publications(audit_log: Path) -> dict[str, list[dict]]:
    """Real publications by report version, from the publish step's audit log (dry runs and rehearsals left out:
    they put nothing on the London Datastore)."""
    found: dict[str, list[dict]] = {}
    for record in read_json_lines(audit_log, AUDIT_REMEDY):
        if record.get("kind", "publish") == "publish":
            found.setdefault(record["report_version"], []).append(
                {"published_at": record["published_at"], "approved_by": record["approved_by"]})
    return found


def index_rows(store: ReportStore, published: dict[str, list[dict]]) -> list[IndexRow]:
    return [
        IndexRow(version=entry["version"], file=entry["file"], built_at=entry.get("rendered_at", ""),
                 mode=entry.get("mode", "?"), warnings=entry.get("warnings"),
                 stale_sources=entry.get("stale_sources", []), live=entry.get("publishable"),
                 published=published.get(entry["version"], []))
        for entry in store.versions()
        if (store.root / entry["file"]).exists()
    ]


def render_index(rows: list[IndexRow]) -> str:
    return environment().get_template("index.html").render(rows=rows)


class ReportHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, folder: Path, audit_log: Path, **kwargs) -> None:
        self.folder, self.audit_log = folder, audit_log
        super().__init__(*args, directory=str(folder), **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            try:
                rows = index_rows(ReportStore(self.folder), publications(self.audit_log))
            except DamagedFile as error:
                # The list of versions or the publish log damaged on the disk: say which and what to do (the
                # connection was dropped with no answer); each report still opens by its own address.
                self._send(500, f"{error}\n".encode(), "text/plain; charset=utf-8")
                return
            self._send(200, render_index(rows).encode(), "text/html; charset=utf-8")
        elif path.startswith("/launchpad/"):
            version = path.removeprefix("/launchpad/")
            if not VERSION.match(version):
                self._send(404, f"no report version {version!r}".encode(), "text/plain; charset=utf-8")
                return
            self.send_response(302)
            self.send_header("Location", launchpad_url(dagster_ui_url(), version))
            self.end_headers()
        elif (published := self._compressed_at_rest(path)) is not None:
            self._send(*published)
        else:
            super().do_GET()

    def _compressed_at_rest(self, path: str) -> tuple[int, bytes, str] | None:
        """A published CSV of an earlier version, kept only compressed: the CSV as published (or why not)."""
        file = Path(self.translate_path(path))  # within the reports folder, as for any file served
        if file.suffix != ".csv" or file.exists():
            return None
        try:
            content = read_published(file.parent, file.name)
        except OSError as error:
            return 500, str(error).encode(), "text/plain; charset=utf-8"
        return None if content is None else (200, content, self.guess_type(path))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class Redirect(http.server.BaseHTTPRequestHandler):
    """Answers a report link recorded with another address (a report built while the server ran on another port):
    the same path at the server's address now."""

    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", f"{self.target}{self.path}")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # one line per click would drown make dev's output
        pass


def recorded_ports(store: ReportStore, now: int) -> list[int]:
    """The other 127.0.0.1 ports the report links in the Dagster UI were recorded with (each version's `report_url`
    in the history)."""
    ports = set()
    for entry in store.history():
        address = urlsplit(entry.get("report_url", ""))
        if address.hostname == "127.0.0.1" and address.port:
            ports.add(address.port)
    return sorted(ports - {now})


class OldLinks:
    """A redirecting server on each recorded port that is free, so a link fixed when its report was built opens at
    the address the reports are served on now. The history is looked at again every few seconds: a report built
    while this server runs (make run with other settings) is answered too. Started only by make dev and make serve
    (REPORTS_ANSWER_OLD_LINKS), never by a bare report server, which must not take ports another one may want."""

    RECHECK_S = 3.0

    def __init__(self, store: ReportStore, port: int) -> None:
        self.store, self.port = store, port
        self.handler = type("Here", (Redirect,), {"target": f"http://127.0.0.1:{port}"})
        self.servers: dict[int, http.server.ThreadingHTTPServer] = {}
        self.stopped = threading.Event()

    def start(self) -> OldLinks:
        self.refresh()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def refresh(self) -> None:
        try:
            wanted = recorded_ports(self.store, self.port)
        except OSError:
            return  # a damaged history is for the report step to name; the links it held wait
        for old in (p for p in wanted if p not in self.servers):
            try:
                server = http.server.ThreadingHTTPServer(("127.0.0.1", old), self.handler)
            except OSError:
                continue  # in use (another report server, or anything else): its links are that one's to answer
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[old] = server
            print(f"report links recorded with port {old} are sent here", flush=True)

    def _watch(self) -> None:
        while not self.stopped.wait(self.RECHECK_S):
            self.refresh()

    def stop(self) -> None:
        self.stopped.set()
        for server in self.servers.values():
            server.shutdown()


def main() -> int:
    folder = data_dir() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    port = settings.number("REPORTS_PORT")
    audit_log = data_dir() / "publish" / lds_dataset() / "audit.jsonl"
    handler = functools.partial(ReportHandler, folder=folder, audit_log=audit_log)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving reports from {folder} on http://127.0.0.1:{port}/", flush=True)
        old_links = OldLinks(ReportStore(folder), port).start() if settings.flag("REPORTS_ANSWER_OLD_LINKS") else None
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if old_links is not None:
                old_links.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
