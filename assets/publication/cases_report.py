"""Dagster wiring for the HTML cases report: gathers the tables and source facts, renders (reports/render.py),
stores one file per version and links it from the asset's page."""

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.ingest.factory import clean_key, raw_key
from assets.ingest.source import Status
from assets.sources import RETIRED, SOURCES
from checks.geography import LONDON_NHS_REGION, LONDON_REGION
from checks.origin import judge
from checks.published import (
    PUBLISHED,
    by_file_name,
    by_table_name,
    fingerprint_bytes,
    published_bytes,
    validate_published,
)
from checks.validation import validate_table, without_attrs
from reports import wording
from reports.analysis import (
    ReportSettings,
    SourceStatus,
    Warning,
    compare_published,
    cross_checks,
    find_warnings,
    headlines,
)
from reports.approval import approval_for
from reports.inputs import ReportInputs
from reports.provenance import FILE_NAME as PROVENANCE
from reports.provenance import build_manifest, manifest_bytes
from reports.revisions import Revisions, revisions
from resources.archive import ArchivedFile, RawArchive, released_on
from resources.files import refusals_fail_the_step
from resources.report_storage import ReportStorage
from resources.report_store import Previous, ReportStore
from resources.settings import dagster_ui_url
from resources.upstreams import Upstreams
from resources.vintages import VintageStore

# Each source comes in twice: its clean table (by its name) and its raw manifest (this prefix + its name).
RAW = "raw_"


class ReportConfig(dg.Config, ReportSettings):
    """Thresholds for the report's warnings (docs/analyst.md, "Reading the report"): the fields of
    reports.analysis.ReportSettings, set in the Launchpad."""


def source_remark(name: str, mode: str) -> str:
    """What the report says of a source in live mode that is not simply current: ended or retired."""
    source = SOURCES[name]
    if mode != "live" or source.status is Status.ACTIVE:
        return ""
    if source.status is Status.RETIRED:
        return f"No live source: the {source.sample.format_name} is retired; this is its last archived release."
    return source.status_note


def source_status(name: str, clean: pd.DataFrame, raw_files: list[dict], remark: str = "") -> SourceStatus:
    """A source's row in the report: freshness, and what is special about this release (ended or retired, and
    the notes on how its table was read, e.g. a derived cumulative count)."""
    source = SOURCES[name]
    entries = [ArchivedFile.from_dict(d) for d in raw_files]
    latest = clean[source.presentation.date_column].max() if len(clean) else None
    return SourceStatus(
        source=name,
        title=source.title,
        rows=len(clean),
        latest_date=None if latest is None else pd.Timestamp(latest).date(),
        fetched_at=max((e.fetched_at for e in entries), default=""),
        released=released_on(entries),
        changed=any(e.changed for e in entries),
        expected_lag_days=source.freshness.expected_lag_days,
        remark=remark,
        notes=tuple(clean.attrs.get("notes", [])),
    )


def reporting_delay(cases_by_region: pd.DataFrame, configured: int) -> int:
    """Days at the end of the series still inside the reporting delay: as the source flags them (UKHSA's
    in_reporting_delay_period) when it does, otherwise the configured number."""
    london = cases_by_region[cases_by_region["area_code"] == LONDON_REGION]
    flagged = london.loc[london["provisional"].fillna(False).astype(bool), "date"]
    if flagged.empty:
        return configured
    return int((london["date"].max() - flagged.min()).days) + 1


def headline_markdown(inputs: ReportInputs) -> str:
    lines = ["| area | latest complete day | cases | 7-day total | 7-day rate /100k | change on previous week |",
             "|---|---|---:|---:|---:|---:|"]
    for h in inputs.headlines:
        pct = f" ({h.change_pct:+.1f}%)" if h.change_pct is not None else ""
        lines.append(f"| {h.area_name} | {h.complete_day:%d %b %Y} | {h.cases_on_day:,} | {h.seven_day_total:,} | "
                     f"{h.seven_day_rate:.1f} | {h.change:+,}{pct} |")
    return "\n".join(lines)


# The daily series the revisions view follows: (title, source, area code, column).
REVISION_SERIES = (
    ("London: cases by specimen date", "phe_cases_by_region", LONDON_REGION, "new_cases"),
    ("London (NHS region): hospital admissions", "phe_healthcare", LONDON_NHS_REGION, "new_admissions"),
)


def revisions_view(vintages: VintageStore, up_to: Mapping[str, date] | None = None) -> list[Revisions]:
    """London's cases and admissions as first published and now, from the releases held (up to each source's
    release in `up_to`, for a rebuilt version)."""
    return [revisions(title, vintages.series(source, area, column, (up_to or {}).get(source)))
            for title, source, area, column in REVISION_SERIES]


def report_date(as_of: str = "") -> str:
    """When the report stands for: now, or the replayed night (with when it was replayed)."""
    now = wording.moment(datetime.now(UTC))
    return f"for the night of {wording.day(as_of)} (replayed {now})" if as_of else now


def passed_over_warnings(previous: Previous | None) -> list[Warning]:
    """A warning in the report for each earlier version whose kept files could not be read: what changed is then
    measured against an older version (or none), and the analyst should know which, and why."""
    if previous is None:
        return []
    compared = f"report {previous.version}" if previous.version else "no earlier report"
    return [Warning("earlier_version_unreadable", error.path.name.removesuffix(".gz").removesuffix(".csv"),
                    f"What changed is measured against {compared}, not report {version}, whose kept copy {error}")
            for version, error in previous.passed_over.items()]


def prepare_report(version: str, run_id: str, mode: str, tables: Mapping[str, pd.DataFrame],
                   contents: Mapping[str, bytes], clean: Mapping[str, pd.DataFrame], raw: Mapping[str, list[dict]],
                   config: ReportSettings, store: ReportStore, previous: Previous | None,
                   revisions_held: Sequence[Revisions], as_of: str = "") -> ReportInputs:
    """Everything the report shows, from the version's tables and their files (`contents`: published_bytes), the
    clean tables and raw manifests they were built from, and the previous report with its files
    (ReportStore.previous; the asset, and `make rebuild`, render it with reports/render.py). `as_of`: the past night
    a replayed run stands for (the report is dated to it, and every source was live then)."""
    delay = reporting_delay(clean["phe_cases_by_region"], config.reporting_delay_days)
    settings = ReportSettings(**{**config.model_dump(), "reporting_delay_days": delay})
    origin = judge(tables, retired=RETIRED)
    validations = {name: validate_table(clean[name], source.schema) for name, source in SOURCES.items()}
    validations.update({f"{name}.csv": outcome for name, outcome in validate_published(tables).items()})
    # Where each table came from is judged above; the analysis and charts need only the rows.
    rows = {name: without_attrs(table) for name, table in tables.items()}
    checks = cross_checks(rows, settings)
    return ReportInputs(
        version=version,
        run_id=run_id,
        generated_at=report_date(as_of),
        mode=mode,
        tables=rows,
        headlines=headlines(rows, settings),
        sources=[source_status(name, clean[name], raw[name], "" if as_of else source_remark(name, mode))
                 for name in SOURCES],
        warnings=[*find_warnings(rows, settings, checks), *passed_over_warnings(previous)],
        cross_checks=checks,
        changes=compare_published(by_table_name(previous.files) if previous and previous.version else None,
                                  contents),
        previous_version=previous.version if previous else None,
        validations=validations,
        reporting_delay_days=settings.reporting_delay_days,
        origin=origin,
        approval=approval_for(version, origin.publishable, dagster_ui_url()),
        files={PUBLISHED[name].file_name: store.file_href(version, PUBLISHED[name].file_name) for name in tables},
        revisions=revisions_held,
        provenance_href=store.file_href(version, PROVENANCE),
    )


@dg.asset(
    group_name="publication",
    ins={
        "datastore_tables": dg.AssetIn(),
        **{name: dg.AssetIn(key=clean_key(source)) for name, source in SOURCES.items()},
        **{f"{RAW}{name}": dg.AssetIn(key=raw_key(source)) for name, source in SOURCES.items()},
    },
    kinds={"html", "plotly"},
)
def cases_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    upstreams: Upstreams,
    reports: ReportStorage,
    archive: RawArchive,
    datastore_tables: dict[str, pd.DataFrame],
    **sources: pd.DataFrame | list[dict],
) -> dg.MaterializeResult:
    """The HTML report an analyst reads before approving a publication: headline numbers to compare with the
    official dashboard (London and England: cases on the latest complete day, 7-day total and rate per 100,000,
    change on the previous week), each source's freshness (stale sources in red), plain-language warnings about
    suspicious data, charts of every table, what changed since the last report, how London's cases and admissions
    were revised since first published (from every release kept), and every validation result. Its version is a
    fingerprint of exactly the Datastore tables it shows; approve that version to publish them (the report ends
    with how). A version built from shipped sample data says so in a red banner and cannot be
    published. Open it with the `report_url` link of the latest materialization (served by `make dev`); each
    version is kept as its own file, with the CSVs a publish would send and their `provenance` (provenance.json:
    the raw files and code each file came from; `make rebuild VERSION=<version>` rebuilds it from them), and
    `all_reports` lists them all."""
    # Imported here, not with the module: loading the definitions (the code server, make approve) then needs neither
    # plotly nor jinja2. The UI's steps find it imported already (pipelines/preload.py).
    from reports.render import plotly_bundle, render_report

    clean = {name: sources[name] for name in SOURCES}
    raw = {name: sources[f"{RAW}{name}"] for name in SOURCES}
    contents = published_bytes(datastore_tables)  # serialised once: the version, and the files kept beside it
    version = fingerprint_bytes(contents)
    with refusals_fail_the_step("cases_report", archive.root):
        store = reports.store()
        previous = store.previous(version)
        report_inputs = prepare_report(
            version, context.run.run_id, upstreams.mode, datastore_tables, contents, clean, raw, config, store,
            previous, revisions_view(VintageStore(archive.root)), upstreams.as_of,
        )
        manifest = build_manifest(version, upstreams.mode, datastore_tables, contents)
        origin, stale = report_inputs.origin, [s.source for s in report_inputs.stale_sources]
        # The link the UI shows is fixed now; the report server answers it later wherever it then runs
        # (reports/serve.py).
        summary = {"mode": upstreams.mode, "warnings": len(report_inputs.warnings), "stale_sources": stale,
                   "sample_sources": list(origin.samples), "publishable": origin.publishable,
                   "report_url": f"{reports.base_url}/{store.report_path(version).name}"}
        path = store.save(version, render_report(report_inputs), context.run.run_id, summary,
                          files={**by_file_name(contents), PROVENANCE: manifest_bytes(manifest)},
                          shared=dict([plotly_bundle()]))
    for warning in report_inputs.warnings:
        context.log.warning(f"report warning [{warning.kind}] {warning.table}: {warning.message}")
    if not origin.publishable:
        context.log.warning(f"report {version} is built from shipped sample data ({', '.join(origin.samples)}): "
                            "it cannot be published to the London Datastore")
    context.log.info(f"report {version} written to {path} ({len(report_inputs.warnings)} warnings)")
    return dg.MaterializeResult(metadata=report_metadata(report_inputs, path, reports.base_url, store, manifest))


def report_metadata(inputs: ReportInputs, path: Path, base_url: str, store: ReportStore, manifest: Mapping
                    ) -> dict[str, dg.MetadataValue]:
    """What the asset's page shows of a report version: where to open it, its verdicts, where its files are."""
    files, code = store.files_folder(inputs.version), manifest["code"]
    return {
        "report_version": dg.MetadataValue.text(inputs.version),
        "report_url": dg.MetadataValue.url(f"{base_url}/{path.name}"),
        "path": dg.MetadataValue.path(str(path)),
        "warnings": dg.MetadataValue.int(len(inputs.warnings)),
        "stale_sources": dg.MetadataValue.text(", ".join(s.source for s in inputs.stale_sources) or "none"),
        "data": dg.MetadataValue.text("live" if inputs.origin.publishable else "SHIPPED SAMPLES: cannot be published"),
        "files": dg.MetadataValue.path(str(files)),
        "provenance": dg.MetadataValue.path(str(files / PROVENANCE)),
        "code_version": dg.MetadataValue.text(code["git_commit"] or f"package {code['package_version']}"),
        "headline": dg.MetadataValue.md(headline_markdown(inputs)),
        "compared_with": dg.MetadataValue.text(inputs.previous_version or (
            "no earlier report readable (see the warnings)" if inputs.earlier_unreadable else "first report")),
        "bytes": dg.MetadataValue.int(path.stat().st_size),
    }


def with_report_index(report_asset: dg.AssetsDefinition, reports_base_url: str) -> dg.AssetsDefinition:
    """The report asset with an `all_reports` link to the report server's index of every version. Added when the
    definitions are built (when `make dev` loads the code), so it follows the report server's current address."""
    link = dg.MetadataValue.url(f"{reports_base_url.rstrip('/')}/")
    return report_asset.map_asset_specs(lambda spec: spec.merge_attributes(metadata={"all_reports": link}))
