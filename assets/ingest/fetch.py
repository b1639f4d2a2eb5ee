"""The fetch-and-archive loop every source shares: each request of a source's variant through the one HTTP client,
every file archived before anything parses it, links followed (pages of an API, files listed on a page), and
unchanged files recognised by conditional requests."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import requests

from assets.ingest.source import Source, SourceRequest, Variant
from resources.archive import ArchivedFile, RawArchive
from resources.errors import FetchError, ParseError, SourceError
from resources.http import HttpClient, conditional_headers
from resources.sample_transport import SampleReplayAdapter

# A source that keeps discovering links (a page of pages) must not run away: pages per chain, at most.
MAX_PAGES_PER_CHAIN = 500


def source_session(source: Source, http: HttpClient, mode: str, base_url: str) -> requests.Session:
    """An HTTP session for one source; in sample mode the shipped files answer its URLs."""
    mounts = None
    if mode == "sample":
        adapter = SampleReplayAdapter(source.sample_routes(base_url), last_modified=source.sample.sample_release)
        mounts = {"https://": adapter, "http://": adapter}
    return http.session(mounts)


def _fetch_chain(
    source: Source,
    variant: Variant,
    first: SourceRequest,
    http: HttpClient,
    archive: RawArchive,
    session: requests.Session,
    on_file: Callable[[ArchivedFile], None],
    on_missing: Callable[[SourceRequest, FetchError], None],
    on_damaged: Callable[[ArchivedFile, str], None],
    sample: bool,
) -> list[ArchivedFile]:
    """One request and whatever it links to (the next page, the files a page lists), in order."""
    pending, entries, seen = [first], [], set()
    while pending:
        request = pending.pop(0)
        if request.url in seen:
            raise SourceError(source.name, request.url, "links back to a page already fetched; stopping the loop")
        if len(seen) >= MAX_PAGES_PER_CHAIN:
            raise SourceError(source.name, request.url, f"more than {MAX_PAGES_PER_CHAIN} pages; stopping")
        seen.add(request.url)
        previous = archive.latest(source.name, request.name)
        if previous is not None and (damage := archive.damage(previous)) is not None:
            # Asked without validators, the upstream sends the file whole: the same bytes replace the damaged copy
            # (archive.store), other bytes are a new release as any other.
            on_damaged(previous, damage)
            previous = None
        try:
            asked = conditional_headers(previous.headers if previous else {})
            result = http.get(session, source.name, request.url, asked)
        except FetchError as error:
            if request.optional and error.status == 404:
                on_missing(request, error)
                return entries
            raise
        if result.not_modified and previous is not None:
            entry = replace(previous, changed=False)
        else:
            entry = archive.store(source.name, request.name, request.extension, result, api=variant.api,
                                  origin="sample" if sample else "download")
        entries.append(entry)
        on_file(entry)
        if variant.follow_links is not None:
            try:
                pending.extend(variant.follow_links(request, archive.read(entry), result.url))
            except ParseError as exc:
                raise SourceError(source.name, exc.file, exc.problem) from exc
    return entries


def fetch_source(
    source: Source,
    variant: Variant,
    *,
    http: HttpClient,
    archive: RawArchive,
    mode: str,
    base_url: str,
    on_file: Callable[[ArchivedFile], None] = lambda entry: None,
    on_missing: Callable[[SourceRequest, FetchError], None] = lambda request, error: None,
    on_damaged: Callable[[ArchivedFile, str], None] = lambda entry, damage: None,
) -> list[ArchivedFile]:
    """Download every file of `variant`, archive each before anything parses it, and return the archive entries.

    Unchanged files (304, or identical bytes) reuse their archive entry; a latest entry whose stored copy is damaged
    is reported to `on_damaged` and downloaded whole again. `mode="replay"` uses the latest archived
    files without touching the network; `mode="sample"` serves the shipped samples through the same client.
    Independent chains of requests run `variant.parallel_requests` at a time on one session.
    """
    if mode == "replay":
        entries = archive.latest_for_source(source.name)
        if not entries:
            raise SourceError(source.name, str(archive.root / "raw" / source.name), "nothing archived to replay")
        return [replace(entry, changed=False) for entry in entries]

    firsts = variant.build_requests(base_url)
    workers = max(1, min(variant.parallel_requests, len(firsts)))
    session = source_session(source, http, mode, base_url)

    def chain(first: SourceRequest) -> list[ArchivedFile]:
        return _fetch_chain(source, variant, first, http, archive, session, on_file, on_missing, on_damaged,
                            mode == "sample")

    try:
        if workers == 1:
            chains = [chain(first) for first in firsts]
        else:
            # requests' connection pool keeps 10 connections per host, more than any source's parallel_requests.
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=source.name) as pool:
                chains = list(pool.map(chain, firsts))
    finally:
        session.close()
    # The files become the source's latest only once the clean asset has read and validated them (promote).
    return [entry for chain in chains for entry in chain]
