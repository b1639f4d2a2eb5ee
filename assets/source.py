"""What every source has in common, without Dagster: its requests, its parser, and the fetch-and-archive loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

# A source that keeps discovering links (a page of pages) must not loop forever.
MAX_REQUESTS_PER_SOURCE = 100


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
    follow_links: LinkFollower | None = None  # for sources whose files are found on a page
    extra_sample_routes: Callable[[str], dict[str, str]] = field(default=lambda base_url: {})

    def sample_routes(self, base_url: str) -> dict[str, Path]:
        folder = SAMPLES_DIR / self.name
        routes = {req.url: folder / req.sample for req in self.build_requests(base_url) if req.sample}
        routes.update({url: folder / name for url, name in self.extra_sample_routes(base_url).items()})
        return routes


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
    """
    if mode == "replay":
        entries = archive.latest_for_source(spec.name)
        if not entries:
            raise SourceError(spec.name, str(archive.root / "raw" / spec.name), "nothing archived to replay")
        return [entry.__class__(**{**entry.to_dict(), "changed": False}) for entry in entries]

    session = source_session(spec, http, mode, base_url)
    pending = list(spec.build_requests(base_url))
    entries: list[ArchivedFile] = []
    try:
        while pending:
            if len(entries) >= MAX_REQUESTS_PER_SOURCE:
                raise SourceError(spec.name, base_url, f"more than {MAX_REQUESTS_PER_SOURCE} files to fetch; "
                                  "stopping in case the source links back to itself")
            request = pending.pop(0)
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
    finally:
        session.close()
    return entries
