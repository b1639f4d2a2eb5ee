"""Dagster wiring for the HTML cases report: gathers the tables and source facts, renders (reports/render.py),
stores one file per version and links it from the asset's page."""

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

import dagster as dg
import pandas as pd

from assets import SOURCES
from assets.datastore_tables import fingerprint, validate_published
from checks.geography import LONDON_REGION
from checks.validation import validate_table
from reports.analysis import ReportSettings, SourceStatus, compare_tables, find_warnings, headlines
from reports.render import ReportInputs, render_report
from reports.store import ReportStore
from resources.archive import ArchivedFile
from resources.settings import data_dir, reports_url
from resources.upstreams import Upstreams


class ReportConfig(dg.Config):
    """Thresholds for the report's warnings (see README, "The cases report")."""

    reporting_delay_days: int = 5
    jump_factor: float = 4.0
    jump_min_cases: int = 25
    zero_case_days: int = 3


class ReportStorage(dg.ConfigurableResource):
    """Folder the reports are written to, and the base URL they are served from (REPORTS_URL)."""

    base_dir: str = str(data_dir() / "reports")
    base_url: str = reports_url()

    def store(self) -> ReportStore:
        return ReportStore(self.base_dir)


def _released(entries: list[ArchivedFile]) -> date | None:
    dates = []
    for entry in entries:
        if value := entry.headers.get("Last-Modified"):
            try:
                dates.append(parsedate_to_datetime(value).date())
            except (TypeError, ValueError):
                continue
    return max(dates) if dates else None


def source_remark(name: str, mode: str) -> str:
    spec = SOURCES[name]
    if mode == "live" and spec.retired:
        return f"No live source: the {spec.format_name} is retired; this is its last archived release."
    return spec.ended if mode == "live" else ""


def source_status(name: str, clean: pd.DataFrame, raw_files: list[dict], remark: str = "") -> SourceStatus:
    spec = SOURCES[name]
    entries = [ArchivedFile.from_dict(d) for d in raw_files]
    latest = clean[spec.date_column].max() if len(clean) else None
    return SourceStatus(
        source=name,
        title=spec.title,
        rows=len(clean),
        latest_date=None if latest is None else pd.Timestamp(latest).date(),
        fetched_at=max((e.fetched_at for e in entries), default=""),
        released=_released(entries),
        changed=any(e.changed for e in entries),
        expected_lag_days=spec.expected_lag_days,
        remark=remark,
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


@dg.asset(
    group_name="publication",
    ins={
        "datastore_tables": dg.AssetIn(),
        **{name: dg.AssetIn(key=dg.AssetKey(name)) for name in SOURCES},
        **{f"raw_{name}": dg.AssetIn(key=dg.AssetKey(["raw", name])) for name in SOURCES},
    },
    kinds={"html", "plotly"},
)
def cases_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    upstreams: Upstreams,
    reports: ReportStorage,
    datastore_tables: dict[str, pd.DataFrame],
    phe_cases_by_region: pd.DataFrame,
    phe_cases_by_utla: pd.DataFrame,
    phe_cases_by_age_sex: pd.DataFrame,
    phe_healthcare: pd.DataFrame,
    ons_infection_survey: pd.DataFrame,
    nhs_111: pd.DataFrame,
    raw_phe_cases_by_region: list[dict],
    raw_phe_cases_by_utla: list[dict],
    raw_phe_cases_by_age_sex: list[dict],
    raw_phe_healthcare: list[dict],
    raw_ons_infection_survey: list[dict],
    raw_nhs_111: list[dict],
) -> dg.MaterializeResult:
    """The HTML report an analyst reads before approving a publication: headline numbers to compare with the
    official dashboard (London and England: cases on the latest complete day, 7-day total and rate per 100,000,
    change on the previous week), each source's freshness (stale sources in red), plain-language warnings about
    suspicious data, charts of every table, what changed since the last report, and every validation result.
    Its version is a fingerprint of exactly the Datastore tables it shows; approve that version to publish them.
    Open it with the `report_url` link below (served by `make dev`); each version is kept as its own file."""
    tables = datastore_tables
    clean = {
        "phe_cases_by_region": phe_cases_by_region, "phe_cases_by_utla": phe_cases_by_utla,
        "phe_cases_by_age_sex": phe_cases_by_age_sex, "phe_healthcare": phe_healthcare,
        "ons_infection_survey": ons_infection_survey, "nhs_111": nhs_111,
    }
    raw = {
        "phe_cases_by_region": raw_phe_cases_by_region, "phe_cases_by_utla": raw_phe_cases_by_utla,
        "phe_cases_by_age_sex": raw_phe_cases_by_age_sex, "phe_healthcare": raw_phe_healthcare,
        "ons_infection_survey": raw_ons_infection_survey, "nhs_111": raw_nhs_111,
    }
    settings = ReportSettings(
        reporting_delay_days=reporting_delay(phe_cases_by_region, config.reporting_delay_days),
        jump_factor=config.jump_factor,
        jump_min_cases=config.jump_min_cases, zero_case_days=config.zero_case_days,
    )
    version = fingerprint(tables)
    store = reports.store()
    previous = store.previous(version)
    validations = {name: validate_table(clean[name], spec.schema) for name, spec in SOURCES.items()}
    validations.update({f"{name}.csv": outcome for name, outcome in validate_published(tables).items()})
    report_inputs = ReportInputs(
        version=version,
        run_id=context.run.run_id,
        generated_at=datetime.now(UTC).strftime("%d %b %Y %H:%M UTC"),
        mode=upstreams.mode,
        tables=tables,
        headlines=headlines(tables, settings),
        sources=[source_status(name, clean[name], raw[name], source_remark(name, upstreams.mode))
                 for name in SOURCES],
        warnings=find_warnings(tables, settings),
        changes=compare_tables(previous[1] if previous else None, tables),
        previous_version=previous[0] if previous else None,
        validations=validations,
        reporting_delay_days=settings.reporting_delay_days,
    )
    path = store.save(version, render_report(report_inputs), tables, context.run.run_id)
    for warning in report_inputs.warnings:
        context.log.warning(f"report warning [{warning.kind}] {warning.table}: {warning.message}")
    stale = [s.source for s in report_inputs.sources if s.stale]
    context.log.info(f"report {version} written to {path} ({len(report_inputs.warnings)} warnings)")
    return dg.MaterializeResult(
        metadata={
            "report_version": dg.MetadataValue.text(version),
            "report_url": dg.MetadataValue.url(f"{reports.base_url}/{path.name}"),
            "path": dg.MetadataValue.path(str(path)),
            "warnings": dg.MetadataValue.int(len(report_inputs.warnings)),
            "stale_sources": dg.MetadataValue.text(", ".join(stale) or "none"),
            "headline": dg.MetadataValue.md(headline_markdown(report_inputs)),
            "compared_with": dg.MetadataValue.text(report_inputs.previous_version or "first report"),
            "bytes": dg.MetadataValue.int(path.stat().st_size),
        }
    )
