"""What a source is, without Dagster, in its parts: the variants it can be fetched in (one per upstream API, each
owning only its requests and parser), the model its clean table must satisfy, how it is presented, how fresh it must
be, and its status. How it is fetched is assets/ingest/fetch.py; its Dagster assets, assets/ingest/factory.py.

Adding a layout or an API to a source means adding a parser or a `Variant` in that source's module
(assets/sources/); nothing here changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from resources.archive import ArchivedFile, file_names
from resources.errors import SourceError
from resources.settings import UPSTREAMS, samples_dir


@dataclass(frozen=True)
class SourceRequest:
    """One download of a source: `name` is stable (used for the archive and the parser), `sample` is the shipped
    file that answers it in sample mode. An `optional` request answered 404 (an API that does not hold that
    geography or metric) is left out rather than failing the source; the parser says what is missing."""

    name: str
    url: str
    extension: str
    sample: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class RawFile:
    """What a parser receives: the archived file's name (for error messages) and its bytes."""

    name: str
    content: bytes


Parser = Callable[[Mapping[str, RawFile]], pd.DataFrame]
# Given a fetched request, its bytes and final URL: the further requests it links to (next page, files on a page).
# Raises ParseError(url, problem) when the page cannot be read; the fetch names the source.
LinkFollower = Callable[[SourceRequest, bytes, str], Sequence[SourceRequest]]


@dataclass(frozen=True)
class Variant:
    """One upstream API (or file server) a source can be read from, and how: its requests and its parser.

    `api` is the upstream's name in resources/settings.py UPSTREAMS (which also gives its base URL setting and its
    title); the archive records it with every file, so a file is always parsed by the variant that fetched it."""

    api: str
    build_requests: Callable[[str], list[SourceRequest]]
    parse: Parser
    follow_links: LinkFollower | None = None  # for files found on a page, or APIs that page
    # Independent chains of requests fetched at once (one session); 1 for APIs with a fair-use limit.
    parallel_requests: int = 1
    # The release date the shipped sample stands for (sent as Last-Modified in sample mode); None: no sample.
    sample_release: str | None = None
    # Sample files for URLs only known once a page is read (the follow_links requests): URL -> file name.
    extra_sample_routes: Callable[[str], dict[str, str]] | None = None
    # Run on a whole release's files (request name -> file) before they are parsed; raises ParseError for a release
    # that lacks what the parser cannot do without. Not run where some of the files are read alone (make parse).
    check_release: Callable[[Mapping[str, RawFile]], None] | None = None

    @property
    def format_name(self) -> str:
        return UPSTREAMS[self.api].title


class Status(StrEnum):
    ACTIVE = "active"
    # The publisher stopped the series: live mode fetches its final release, and the report says so.
    ENDED = "ended"
    # The API is gone and nothing replaced it: live mode keeps the last archived release (or the shipped one).
    RETIRED = "retired"


@dataclass(frozen=True)
class Presentation:
    """How the source shows in the UI and the report: `description` is the clean asset's help text."""

    title: str
    description: str
    date_column: str = "date"


@dataclass(frozen=True)
class Freshness:
    # A release whose latest data is more than this many days old is flagged stale in the report.
    expected_lag_days: int = 7
    # How often the source publishes; the clean asset's freshness policy warns/fails a few hours after a missed one.
    update_every_hours: int = 24


@dataclass(frozen=True)
class Source:
    name: str
    presentation: Presentation
    schema: type[pa.DataFrameModel]  # what a valid clean table is (checks/schemas.py)
    variants: tuple[Variant, ...]  # the first is live mode's default; the one with a sample serves sample mode
    freshness: Freshness = field(default_factory=Freshness)
    status: Status = Status.ACTIVE
    status_note: str = ""  # why the source ended, for the report
    # Measures (clean-table columns) the publisher stopped giving, with why: a release without one is read with a
    # note. Any other measure a previous release had and this one lacks fails the release (clean.check_measures).
    ended_measures: Mapping[str, str] = field(default_factory=dict)
    # The areas (area_code -> name) every release must give figures for: a release without one (a file of other
    # areas, a borough left out, an area renamed) fails, rather than publish the area missing or empty
    # (clean.check_areas).
    areas: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        apis = [v.api for v in self.variants]
        unknown = [api for api in apis if api not in UPSTREAMS]
        if unknown or len(set(apis)) != len(apis) or self.sample is None:
            raise ValueError(f"{self.name}: variants need distinct known APIs and one sample ({apis})")

    @property
    def title(self) -> str:
        return self.presentation.title

    @property
    def sample(self) -> Variant | None:
        """The variant the shipped sample release is in."""
        return next((v for v in self.variants if v.sample_release), None)

    def variant(self, api: str) -> Variant:
        for candidate in self.variants:
            if candidate.api == api:
                return candidate
        raise KeyError(f"{self.name} has no {api!r} variant")

    def for_mode(self, mode: str, preferred_api: str) -> Variant:
        """The variant a run in `mode` fetches: the sample's in sample mode; in live mode `preferred_api` where this
        source can be read from it (CASES_API: the UKHSA API, or the retired PHE API's format from a mirror or
        recorded releases), else the source's own default."""
        if mode == "sample":
            return self.sample
        return next((v for v in self.variants if v.api == preferred_api), self.variants[0])

    def variant_of(self, entries: Sequence[ArchivedFile]) -> Variant:
        """The variant that wrote these archived files: the API the archive recorded with them."""
        apis = {entry.api for entry in entries}
        if len(apis) != 1:
            raise SourceError(self.name, file_names(entries),
                              f"the files come from more than one API ({sorted(apis)}): they cannot be read together")
        [api] = apis
        if not any(v.api == api for v in self.variants):
            raise SourceError(self.name, file_names(entries),
                              f"archived from API {api!r}, which this source cannot read")
        return self.variant(api)

    def sample_routes(self, base_url: str, folder: Path | None = None) -> dict[str, Path]:
        """URL -> shipped file, for the sample variant's requests at `base_url`."""
        variant, folder = self.sample, (folder or samples_dir()) / self.name
        routes = {req.url: folder / req.sample for req in variant.build_requests(base_url) if req.sample}
        if variant.extra_sample_routes is not None:
            routes.update({url: folder / name for url, name in variant.extra_sample_routes(base_url).items()})
        return routes

    def sample_walk(self, folder: Path | None = None, base_url: str = "https://samples.invalid/x"
                    ) -> Iterator[tuple[SourceRequest, Path]]:
        """Each request of the sample variant and the file in `folder/<source>/` that answers it, in the order
        fetch_source makes them (links found in a file are followed), without HTTP or the archive."""
        variant, routes = self.sample, self.sample_routes(base_url, folder)
        pending = list(variant.build_requests(base_url))
        while pending:
            request = pending.pop(0)
            path = routes[request.url]
            yield request, path
            if variant.follow_links is not None:
                pending.extend(variant.follow_links(request, path.read_bytes(), request.url))

    def sample_files(self, folder: Path | None = None, base_url: str = "https://samples.invalid/x"
                     ) -> dict[str, RawFile]:
        """The shipped release's files keyed by request name, as the clean asset receives them (for tests and the
        benchmark)."""
        return {request.name: RawFile(path.name, path.read_bytes())
                for request, path in self.sample_walk(folder, base_url)}

    def parse_sample(self, folder: Path | None = None) -> pd.DataFrame:
        """The clean table of the shipped release (tests and the benchmark)."""
        return self.sample.parse(self.sample_files(folder))


def add_note(frame: pd.DataFrame, note: str) -> None:
    """Record something the analyst should know about how a table was read (a derived or missing column, rows not
    read); the clean asset shows the notes in its metadata and the report beside the source."""
    frame.attrs["notes"] = [*frame.attrs.get("notes", []), note]
