"""Dagster wiring shared by every source: a `raw/<source>` asset that downloads and archives, a clean asset that
parses, validates (a blocking check) and only then stores, and the job that re-runs that source alone. The source
modules hold the logic; this turns a `Source` into its definitions."""


from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from assets.source import RawFile, Source, Status, Variant, fetch_source
from checks.validation import ValidationOutcome, validate_table
from resources.archive import ArchivedFile, RawArchive, release_date
from resources.errors import FetchError, ParseError, SourceError
from resources.http import RETRYABLE_STATUSES, HttpClient
from resources.upstreams import Upstreams
from resources.vintages import VintageStore

SCHEMA_CHECK = "schema_valid"
PREVIEW_ROWS = 5


def raw_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.name])


def clean_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey([source.name])


def job_name(source: Source) -> str:
    """The job that re-runs one source alone (the release sensor and the ONS schedule start it by name)."""
    return f"{source.name}_job"


def manifest_markdown(entries: list[ArchivedFile]) -> str:
    lines = ["| file | bytes | sha256 | new | url |", "|---|---:|---|---|---|"]
    for e in entries:
        lines.append(f"| {e.file_name} | {e.bytes:,} | `{e.sha256[:12]}` | {'yes' if e.changed else 'no'} | {e.url} |")
    return "\n".join(lines)


def parse_archived(source: Source, variant: Variant, entries: list[ArchivedFile], archive: RawArchive
                   ) -> pd.DataFrame:
    """Parse archived files into the clean table, turning parser errors into errors that name source and file."""
    files = {e.request: RawFile(e.file_name, archive.read(e)) for e in entries}
    by_name = {e.file_name: e for e in entries}
    try:
        return variant.parse(files)
    except ParseError as exc:
        entry = by_name.get(exc.file)
        where = f"{exc.file} (archived at {entry.path}, from {entry.url})" if entry else exc.file
        raise SourceError(source.name, where, exc.problem) from exc


def validation_failure(source: Source, entries: list[ArchivedFile], outcome: ValidationOutcome) -> SourceError:
    """The error a table that failed its model stops with, naming the source and the files it was read from."""
    return SourceError(source.name, ", ".join(e.file_name for e in entries),
                       f"failed validation ({outcome.failure_count} problem(s)): {outcome.summary()}")


def record_provenance(table: pd.DataFrame, entries: list[ArchivedFile]) -> date:
    """Stamp a clean table with where its data came from (for the publish step's guard), its release date and the
    raw files it was read from (for the report version's provenance manifest); they travel in its Parquet file.
    Returns the release date."""
    release = release_date(entries)
    table.attrs.update({"origin": "+".join(sorted({entry.origin for entry in entries})),
                        "release_date": f"{release:%Y-%m-%d}", "raw_files": raw_provenance(entries)})
    return release


def raw_provenance(entries: list[ArchivedFile]) -> list[dict[str, object]]:
    """What a clean table records of the raw files it was read from (the provenance manifest's entries): enough to
    find each file in the archive, prove it unchanged, and say where and when it came from."""
    return [{"request": e.request, "file": e.path, "url": e.url, "sha256": e.sha256, "bytes": e.bytes,
             "last_modified": e.headers.get("Last-Modified"), "fetched_at": e.fetched_at, "api": e.api,
             "origin": e.origin} for e in entries]


def table_metadata(table: pd.DataFrame, date_column: str) -> dict[str, dg.MetadataValue]:
    dates = table[date_column]
    return {
        "dagster/row_count": dg.MetadataValue.int(len(table)),
        "first_date": dg.MetadataValue.text(f"{dates.min():%Y-%m-%d}"),
        "latest_date": dg.MetadataValue.text(f"{dates.max():%Y-%m-%d}"),
        "preview": dg.MetadataValue.md(
            table.sort_values(date_column).tail(PREVIEW_ROWS).to_markdown(index=False)
        ),
    }


def check_result(outcome: ValidationOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failure_count": dg.MetadataValue.int(outcome.failure_count),
            "first_failures": dg.MetadataValue.md(outcome.markdown()),
        },
    )


def fetch_retry_policy(max_retries: int, delay_s: float) -> dg.RetryPolicy:
    """Step-level retries for downloads that still fail after the HTTP client's own quick retries (an outage of
    a few minutes): exponential backoff with jitter, so parallel sources do not come back in lockstep."""
    return dg.RetryPolicy(
        max_retries=max_retries, delay=delay_s, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS,
    )


def freshness_policy(source: Source) -> dg.FreshnessPolicy:
    every = source.freshness.update_every_hours
    return dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=every + 2), fail_window=timedelta(hours=every + 6),
    )


def retired_note(source: Source, kept: str) -> str:
    """What live mode says of a source nothing live replaced; `kept` names the release it keeps instead."""
    return (f"no live source: the {source.sample.format_name} is retired and nothing publishes this table now; "
            f"kept the {kept} release")


def build_source(source: Source, *, fetch_retry: dg.RetryPolicy, rebuild: dg.AssetSelection) -> dg.Definitions:
    """One source's definitions: its `raw/<source>` and `<source>` assets, in a group named after it, and the job
    `<source>_job` that re-runs them alone and then `rebuild` (the tables and report built from them)."""
    return dg.Definitions(
        assets=_source_assets(source, fetch_retry),
        jobs=[dg.define_asset_job(
            job_name(source),
            selection=dg.AssetSelection.groups(source.name) | rebuild,
            description=f"Re-run only {source.title} (fetch, archive, clean, validate), then rebuild the Datastore "
            "tables and the report.",
        )],
    )


def _source_assets(source: Source, fetch_retry: dg.RetryPolicy) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=raw_key(source),
        group_name=source.name,
        description=(
            f"Raw download of {source.title}, archived byte for byte before any parsing. The metadata lists each "
            "archived file (path, size, sha256, URL) and whether it was new or unchanged since the last fetch."
        ),
        kinds={"http"},
        retry_policy=fetch_retry,
        # Limits parallel downloads per upstream host (the executor's tag_concurrency_limits).
        op_tags={"download_host": source.sample.api},
    )
    def raw_asset(
        context: dg.AssetExecutionContext, http: HttpClient, archive: RawArchive, upstreams: Upstreams
    ) -> dg.Output[list[dict]]:
        mode, variant, note = upstreams.mode, source.for_mode(upstreams.mode, upstreams.cases_api), ""
        if mode == "live" and source.status is Status.RETIRED:
            # Nothing live replaced this source: keep its last archived release (or the shipped one), and say so.
            mode = "replay" if archive.latest_for_source(source.name) else "sample"
            variant = source.sample
            note = retired_note(source, "last archived" if mode == "replay" else "shipped sample")
            context.log.warning(f"{source.name}: {note}")
        base_url = upstreams.base_url(variant.api)
        context.log.info(f"{source.name}: fetching from the {variant.format_name} in {mode} mode: {base_url}")
        missing: list[str] = []
        try:
            entries = fetch_source(
                source, variant, http=http, archive=archive, mode=mode, base_url=base_url,
                on_file=lambda e: context.log.info(
                    f"{source.name}: {e.file_name} {e.bytes:,} bytes ({'new' if e.changed else 'unchanged'}) "
                    f"from {e.url}"
                ),
                on_missing=lambda request, error: missing.append(f"{request.url}: {error.problem}"),
            )
        except FetchError as error:
            if error.status is not None and error.status not in RETRYABLE_STATUSES:
                # A 404 or 403 will not mend itself in a minute: fail now instead of retrying the step.
                raise dg.Failure(str(error), allow_retries=False) from error
            raise
        except SourceError as error:
            # What the source sent is wrong (a malformed page, a loop): fetching it again will not mend it.
            raise dg.Failure(str(error), allow_retries=False) from error
        metadata: dict[str, dg.MetadataValue] = {
            "mode": dg.MetadataValue.text(mode),
            # In replay the files say which API they came from, whatever the settings say now.
            "format": dg.MetadataValue.text(source.variant_of(entries).format_name),
            "note": dg.MetadataValue.text(note or "as published"),
            "files": dg.MetadataValue.int(len(entries)),
            "bytes": dg.MetadataValue.int(sum(e.bytes for e in entries)),
            "changed": dg.MetadataValue.bool(any(e.changed for e in entries)),
            "manifest": dg.MetadataValue.md(manifest_markdown(entries)),
            # Series the upstream does not hold (404): left out, and the clean asset's notes say what that means.
            "not_found": dg.MetadataValue.md("\n".join(f"- {m}" for m in missing) or "none"),
        }
        for problem in missing:
            context.log.warning(f"{source.name}: not found, left out: {problem}")
        for e in entries:
            metadata[f"archived_{e.request}"] = dg.MetadataValue.path(str(archive.root / e.path))
        return dg.Output([e.to_dict() for e in entries], metadata=metadata)

    @dg.asset(
        key=clean_key(source),
        group_name=source.name,
        description=source.presentation.description,
        ins={"raw_files": dg.AssetIn(key=raw_key(source))},
        freshness_policy=freshness_policy(source),
        check_specs=[
            dg.AssetCheckSpec(
                SCHEMA_CHECK,
                asset=clean_key(source),
                blocking=True,
                description=f"The table satisfies the pandera model {source.schema.__name__} (checks/schemas.py).",
            )
        ],
        kinds={"pandas", "parquet"},
    )
    def clean_asset(
        context: dg.AssetExecutionContext, archive: RawArchive, raw_files: list[dict]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        entries = [ArchivedFile.from_dict(d) for d in raw_files]
        variant = source.variant_of(entries)
        table = parse_archived(source, variant, entries, archive)
        outcome = validate_table(table, source.schema)
        if not outcome.passed:
            # Record the failed check for the UI, then stop before the table is stored: the last good table stays.
            yield check_result(outcome)
            raise validation_failure(source, entries, outcome)
        release = record_provenance(table, entries)
        # Every release is kept as well as the current table (the report's revisions view reads them).
        vintage = VintageStore(archive.root).save(source.name, release, table)
        date_column = source.presentation.date_column
        metadata = table_metadata(table, date_column)
        metadata["data_origin"] = dg.MetadataValue.text(
            "shipped sample release" if table.attrs["origin"] == "sample" else table.attrs["origin"])
        metadata["format"] = dg.MetadataValue.text(variant.format_name)
        metadata["release_date"] = dg.MetadataValue.text(table.attrs["release_date"])
        metadata["vintage"] = dg.MetadataValue.path(str(vintage))
        notes = table.attrs.get("notes", [])
        metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in notes) or "as published")
        for note in notes:
            context.log.info(f"{source.name}: {note}")
        if "provisional" in table and table["provisional"].any():
            metadata["provisional_from"] = dg.MetadataValue.text(
                f"{table.loc[table['provisional'].fillna(False), date_column].min():%Y-%m-%d}")
        yield dg.Output(table, metadata=metadata)
        yield check_result(outcome)

    return [raw_asset, clean_asset]
