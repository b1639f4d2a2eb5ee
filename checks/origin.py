"""Where a version's data came from, and what that allows: the guard between shipped samples and the real London
Datastore.

Every archived file records its origin ("download" from an upstream or a server standing in for one, or "sample"
from data/samples); a clean table carries its files' origin, and each published table the origin of the source it
is built from. Only downloaded data may replace a file on the real Datastore. A retired source has no live release
to download: files built from its shipped sample are held back (the Datastore keeps its copy) rather than blocking
every other file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import pandas as pd

LIVE = "download"
SAMPLE = "sample"
UNKNOWN = "unknown"  # built before the pipeline recorded origins

REHEARSE = ("To rehearse with this version, use a dry run (make approve ... DRY_RUN=<folder>) or a test Datastore "
            "(LDS_URL=<its address> with LDS_REHEARSAL=1).")


def obtained(table: pd.DataFrame) -> dict[str, str]:
    """The recorded origin of each source a published table is built from ({} when none was recorded)."""
    return dict(table.attrs.get("obtained") or {})


@dataclass(frozen=True)
class OriginVerdict:
    """What a version's origins allow. `samples`: live sources whose shipped sample was used instead (the version
    must not be published); `unrecorded`: tables with no origin recorded; `held_back`: files built from a retired
    source's shipped sample, by file, with that source."""

    samples: tuple[str, ...] = ()
    unrecorded: tuple[str, ...] = ()
    held_back: Mapping[str, str] = field(default_factory=dict)

    @property
    def publishable(self) -> bool:
        return not self.samples and not self.unrecorded

    def refusal(self, version: str) -> str:
        """The one message a publish to the real Datastore fails with, or "" when this version may go."""
        if self.samples:
            return (f"Refusing to publish: report version {version} was built from the shipped sample data, not "
                    f"from live releases (sources: {', '.join(self.samples)}), and sample figures must never replace "
                    "the files on the London Datastore. Run the pipeline in live mode (PIPELINE_MODE=live make run, "
                    f"or the nightly schedule with PIPELINE_MODE=live), check the new report and approve its "
                    f"version. {REHEARSE} Nothing was sent.")
        if self.unrecorded:
            return (f"Refusing to publish: the tables of version {version} do not record where their data came "
                    f"from ({', '.join(self.unrecorded)}; they were built before the pipeline recorded it). Run the "
                    f"nightly job again, check the new report and approve its version. {REHEARSE} Nothing was sent.")
        return ""


def judge(tables: Mapping[str, pd.DataFrame], retired: Collection[str]) -> OriginVerdict:
    """Pure: the verdict on a set of published tables, given which sources are retired."""
    samples: set[str] = set()
    unrecorded: list[str] = []
    held_back: dict[str, str] = {}
    for name, table in tables.items():
        origins = obtained(table)
        if not origins:
            unrecorded.append(name)
            continue
        for source, origin in origins.items():
            if origin == LIVE:
                continue
            if source in retired and origin == SAMPLE:
                held_back[name] = source
            else:
                samples.add(source)
    return OriginVerdict(tuple(sorted(samples)), tuple(unrecorded), held_back)
