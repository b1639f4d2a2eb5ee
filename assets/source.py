"""What every source has in common, without Dagster: its requests, its parser, and the fetch-and-archive loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import requests

from resources.archive import ArchivedFile, RawArchive
from resources.errors import SourceError
from resources.http import HttpClient
from resources.sample_transport import SampleReplayAdapter
from resources.settings import SAMPLES_DIR

# A source that keeps discovering links (a page of pages) must not run away: pages per chain, at most.
MAX_PAGES_PER_CHAIN = 500
# Request names of live (UKHSA) variants start with this, so an archived file says which parser reads it.
LIVE_PREFIX = "ukhsa_"


@dataclass(frozen=True)
class SourceRequest:
    """One download of a source: `name` is stable (used for the archive and the parser), `sample` is the shipped
    file that answers it in sample mode."""

    name: str
    url: str
    extension: str
    sample: str | None = None


@dataclass(frozen=True)
class RawFile:
    """What a parser receives: the archived file's name (for error messages) and its bytes."""

    name: str
    content: bytes


Parser = Callable[[Mapping[str, RawFile]], pd.DataFrame]
LinkFollower = Callable[[SourceRequest, bytes, str], Sequence[SourceRequest]]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    title: str
    upstream: str  # which base URL setting feeds it: phe, ukhsa, ons or nhs111
    description: str  # shown in the Dagster UI as the clean asset's description
    build_requests: Callable[[str], list[SourceRequest]]
    parse: Parser
    schema: type[pa.DataFrameModel]
    date_column: str = "date"
    # A release whose latest data is more than this many days old is flagged stale in the report.
    expected_lag_days: int = 7
    # How often the source publishes; the clean asset's freshness policy warns/fails a few hours after a missed one.
    update_every_hours: int = 24
    # The release date the shipped sample stands for; sample mode sends it as Last-Modified.
    sample_release: str = "2023-12-14"
    follow_links: LinkFollower | None = None  # for sources whose files are found on a page, or paged
    extra_sample_routes: Callable[[str], dict[str, str]] = field(default=lambda base_url: {})
    # Independent chains of requests fetched at once (one session); 1 for APIs with a fair-use limit.
    parallel_requests: int = 1
    # What live mode calls instead (the UKHSA API for the retired PHE API), if anything.
    live: SourceSpec | None = None
    # The upstream no longer exists and nothing replaced it: live mode keeps the last archived release.
    retired: bool = False
    format_name: str = "PHE coronavirus API v2"
    # Set when the publisher stopped the series: live mode fetches its final release, and the report says so.
    ended: str = ""

    def for_mode(self, mode: str, cases_api: str = "ukhsa") -> SourceSpec:
        """The variant a run in `mode` fetches: live mode reads the UKHSA API where one replaces the PHE API,
        unless `cases_api` asks for the PHE API's own format (a mirror, or recorded releases served locally)."""
        if mode == "live" and self.live is not None and cases_api == "ukhsa":
            return self.live
        return self

    def format_of(self, entries: Sequence[ArchivedFile]) -> SourceSpec:
        """The variant that wrote these archived files (they carry its request names)."""
        if self.live is not None and entries and all(e.request.startswith(LIVE_PREFIX) for e in entries):
            return self.live
        return self

    def sample_routes(self, base_url: str, samples_dir: Path | None = None) -> dict[str, Path]:
        folder = (samples_dir or SAMPLES_DIR) / self.name
        routes = {req.url: folder / req.sample for req in self.build_requests(base_url) if req.sample}
        routes.update({url: folder / name for url, name in self.extra_sample_routes(base_url).items()})
        return routes

    def sample_files(self, samples_dir: Path | None = None, base_url: str = "https://samples.invalid/x"
                     ) -> dict[str, RawFile]:
        """The shipped release's files keyed by request name, as the clean asset receives them: the walk
        fetch_source makes, without HTTP or the archive (for tests and the benchmark)."""
        routes = self.sample_routes(base_url, samples_dir)
        files: dict[str, RawFile] = {}
        pending = list(self.build_requests(base_url))
        while pending:
            request = pending.pop(0)
            path = routes[request.url]
            files[request.name] = RawFile(path.name, path.read_bytes())
            if self.follow_links is not None:
                pending.extend(self.follow_links(request, files[request.name].content, request.url))
        return files


def _conditional_headers(previous: ArchivedFile | None) -> dict[str, str]:
    if previous is None:
        return {}
    headers = {}
    if etag := previous.headers.get("ETag"):
        headers["If-None-Match"] = etag
    if modified := previous.headers.get("Last-Modified"):
        headers["If-Modified-Since"] = modified
    return headers


def source_session(spec: SourceSpec, http: HttpClient, mode: str, base_url: str) -> requests.Session:
    """An HTTP session for one source; in sample mode the shipped files answer its URLs."""
    mounts = None
    if mode == "sample":
        adapter = SampleReplayAdapter(spec.sample_routes(base_url), last_modified=spec.sample_release)
        mounts = {"https://": adapter, "http://": adapter}
    return http.session(mounts)


def _fetch_chain(
    spec: SourceSpec,
    first: SourceRequest,
    http: HttpClient,
    archive: RawArchive,
    session: requests.Session,
    on_file: Callable[[ArchivedFile], None],
) -> list[ArchivedFile]:
    """One request and whatever it links to (the next page, the files a page lists), in order."""
    pending, entries, seen = [first], [], set()
    while pending:
        request = pending.pop(0)
        if request.url in seen:
            raise SourceError(spec.name, request.url, "links back to a page already fetched; stopping the loop")
        if len(seen) >= MAX_PAGES_PER_CHAIN:
            raise SourceError(spec.name, request.url, f"more than {MAX_PAGES_PER_CHAIN} pages; stopping")
        seen.add(request.url)
        previous = archive.latest(spec.name, request.name)
        result = http.get(session, spec.name, request.url, _conditional_headers(previous))
        if result.not_modified and previous is not None:
            entry = previous.__class__(**{**previous.to_dict(), "changed": False})
        else:
            entry = archive.store(spec.name, request.name, request.extension, result)
        entries.append(entry)
        on_file(entry)
        if spec.follow_links is not None:
            pending.extend(spec.follow_links(request, archive.read(entry), result.url))
    return entries


def fetch_source(
    spec: SourceSpec,
    *,
    http: HttpClient,
    archive: RawArchive,
    mode: str,
    base_url: str,
    on_file: Callable[[ArchivedFile], None] = lambda entry: None,
) -> list[ArchivedFile]:
    """Download every file of `spec`, archive each before anything parses it, and return the archive entries.

    Unchanged files (304, or identical bytes) reuse their archive entry. `mode="replay"` uses the latest archived
    files without touching the network; `mode="sample"` serves the shipped samples through the same client.
    Independent chains of requests run `spec.parallel_requests` at a time on one session.
    """
    if mode == "replay":
        entries = archive.latest_for_source(spec.name)
        if not entries:
            raise SourceError(spec.name, str(archive.root / "raw" / spec.name), "nothing archived to replay")
        return [entry.__class__(**{**entry.to_dict(), "changed": False}) for entry in entries]

    firsts = spec.build_requests(base_url)
    workers = max(1, min(spec.parallel_requests, len(firsts)))
    session = source_session(spec, http, mode, base_url)
    try:
        if workers == 1:
            chains = [_fetch_chain(spec, first, http, archive, session, on_file) for first in firsts]
        else:
            # requests' connection pool keeps 10 connections per host, more than any source's parallel_requests.
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=spec.name) as pool:
                chains = list(pool.map(lambda first: _fetch_chain(spec, first, http, archive, session, on_file),
                                       firsts))
    finally:
        session.close()
    entries = [entry for chain in chains for entry in chain]
    archive.record_fetch(spec.name, entries)
    return entries
