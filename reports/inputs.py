"""What the cases report is built from (`ReportInputs`), apart from the rendering (render.py), so that loading the
definitions does not import plotly and jinja2: the code server, `make approve` and the other commands that never
render a report start about 0.3 s sooner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from checks.origin import OriginVerdict
from checks.validation import ValidationOutcome
from reports.analysis import CrossCheck, Headline, SourceStatus, TableChange, Warning
from reports.approval import Approval
from reports.revisions import Revisions


@dataclass(frozen=True)
class ReportInputs:
    version: str
    run_id: str
    generated_at: str
    mode: str
    tables: Mapping[str, pd.DataFrame]
    headlines: Sequence[Headline]
    sources: Sequence[SourceStatus]
    warnings: Sequence[Warning]
    cross_checks: Sequence[CrossCheck]
    changes: Sequence[TableChange]
    previous_version: str | None
    validations: Mapping[str, ValidationOutcome]
    reporting_delay_days: int
    origin: OriginVerdict  # where the data came from: the banner, and whether this version can be published
    approval: Approval
    files: Mapping[str, str]  # each published CSV's name and its address relative to the report
    revisions: Sequence[Revisions] = ()  # London cases and admissions as first published and now
    provenance_href: str | None = None  # the version's provenance.json, relative to the report

    @property
    def earlier_unreadable(self) -> bool:
        """Whether there were earlier reports, but none whose kept files could be read: what changed is then measured
        against nothing, and the page and the asset's metadata say why rather than calling this the first report."""
        return self.previous_version is None and any(w.kind == "earlier_version_unreadable" for w in self.warnings)

    @property
    def stale_sources(self) -> list[SourceStatus]:
        return [source for source in self.sources if source.stale]

    @property
    def source_titles(self) -> dict[str, str]:
        """Each source's name as the report shows it (its title), by its id."""
        return {source.source: source.title for source in self.sources}
