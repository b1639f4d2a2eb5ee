"""Dagster wiring shared by every source: a `raw/<source>` asset that downloads and archives, and a clean asset
that parses, validates (a blocking check) and only then stores. The source modules hold the logic."""


from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pandas as pd

from assets.source import RawFile, SourceSpec, fetch_source
from checks.validation import ValidationOutcome, validate_table
from resources.archive import ArchivedFile, RawArchive
from resources.errors import FetchError, ParseError, SourceError
from resources.http import RETRYABLE_STATUSES, HttpClient
from resources.settings import fetch_step_retries, fetch_step_retry_delay_s
from resources.upstreams import Upstreams

SCHEMA_CHECK = "schema_valid"
PREVIEW_ROWS = 5


def raw_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", spec.name])


def clean_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.name])


def manifest_markdown(entries: list[ArchivedFile]) -> str:
    lines = ["| file | bytes | sha256 | new | url |", "|---|---:|---|---|---|"]
    for e in entries:
        lines.append(f"| {e.file_name} | {e.bytes:,} | `{e.sha256[:12]}` | {'yes' if e.changed else 'no'} | {e.url} |")
    return "\n".join(lines)


def parse_archived(spec: SourceSpec, entries: list[ArchivedFile], archive: RawArchive) -> pd.DataFrame:
    """Parse archived files into the clean table, turning parser errors into errors that name source and file."""
    files = {e.request: RawFile(e.file_name, archive.read(e)) for e in entries}
    by_name = {e.file_name: e for e in entries}
    try:
        return spec.parse(files)
    except ParseError as exc:
        entry = by_name.get(exc.file)
        where = f"{exc.file} (archived at {entry.path}, from {entry.url})" if entry else exc.file
        raise SourceError(spec.name, where, exc.problem) from exc


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


def fetch_retry_policy() -> dg.RetryPolicy:
    """Step-level retries for downloads that still fail after the HTTP client's own quick retries (an outage of
    a few minutes): exponential backoff with jitter, so parallel sources do not come back in lockstep."""
    return dg.RetryPolicy(
        max_retries=fetch_step_retries(), delay=fetch_step_retry_delay_s(),
        backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS,
    )


def freshness_policy(spec: SourceSpec) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=spec.update_every_hours + 2),
        fail_window=timedelta(hours=spec.update_every_hours + 6),
    )


def build_source_assets(spec: SourceSpec) -> list[dg.AssetsDefinition]:
    """The `raw/<source>` and `<source>` assets for one source, in a group named after it."""

    @dg.asset(
        key=raw_key(spec),
        group_name=spec.name,
        description=(
            f"Raw download of {spec.title}, archived byte for byte before any parsing. The metadata lists each "
            "archived file (path, size, sha256, URL) and whether it was new or unchanged since the last fetch."
        ),
        kinds={"http"},
        retry_policy=fetch_retry_policy(),
        # Limits parallel downloads per upstream host (the executor's tag_concurrency_limits).
        op_tags={"download_host": spec.upstream},
    )
    def raw_asset(
        context: dg.AssetExecutionContext, http: HttpClient, archive: RawArchive, upstreams: Upstreams
    ) -> dg.Output[list[dict]]:
        mode, variant, note = upstreams.mode, spec.for_mode(upstreams.mode, upstreams.cases_api), ""
        if mode == "live" and spec.retired:
            # Nothing live replaced this source: keep its last archived release (or the shipped one), and say so.
            mode = "replay" if archive.latest_for_source(spec.name) else "sample"
            note = (f"no live source: the {spec.format_name} is retired and nothing publishes this table now; "
                    f"kept the {'last archived' if mode == 'replay' else 'shipped sample'} release")
            context.log.warning(f"{spec.name}: {note}")
        base_url = upstreams.base_url(variant.upstream)
        context.log.info(f"{spec.name}: fetching from the {variant.format_name} in {mode} mode: {base_url}")
        try:
            entries = fetch_source(
                variant, http=http, archive=archive, mode=mode, base_url=base_url,
                on_file=lambda e: context.log.info(
                    f"{spec.name}: {e.file_name} {e.bytes:,} bytes ({'new' if e.changed else 'unchanged'}) "
                    f"from {e.url}"
                ),
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
            "format": dg.MetadataValue.text(variant.format_name),
            "note": dg.MetadataValue.text(note or "as published"),
            "files": dg.MetadataValue.int(len(entries)),
            "bytes": dg.MetadataValue.int(sum(e.bytes for e in entries)),
            "changed": dg.MetadataValue.bool(any(e.changed for e in entries)),
            "manifest": dg.MetadataValue.md(manifest_markdown(entries)),
        }
        for e in entries:
            metadata[f"archived_{e.request}"] = dg.MetadataValue.path(str(archive.root / e.path))
        return dg.Output([e.to_dict() for e in entries], metadata=metadata)

    @dg.asset(
        key=clean_key(spec),
        group_name=spec.name,
        description=spec.description,
        ins={"raw_files": dg.AssetIn(key=raw_key(spec))},
        freshness_policy=freshness_policy(spec),
        check_specs=[
            dg.AssetCheckSpec(
                SCHEMA_CHECK,
                asset=clean_key(spec),
                blocking=True,
                description=f"The table satisfies the pandera model {spec.schema.__name__} (checks/schemas.py).",
            )
        ],
        kinds={"pandas", "parquet"},
    )
    def clean_asset(
        context: dg.AssetExecutionContext, archive: RawArchive, raw_files: list[dict]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        entries = [ArchivedFile.from_dict(d) for d in raw_files]
        variant = spec.format_of(entries)
        table = parse_archived(variant, entries, archive)
        outcome = validate_table(table, spec.schema)
        if not outcome.passed:
            # Record the failed check for the UI, then stop before the table is stored: the last good table stays.
            yield check_result(outcome)
            files = ", ".join(e.file_name for e in entries)
            raise SourceError(spec.name, files, f"failed validation ({outcome.failure_count} problem(s)): "
                              f"{outcome.summary()}")
        metadata = table_metadata(table, spec.date_column)
        metadata["format"] = dg.MetadataValue.text(variant.format_name)
        if "provisional" in table and table["provisional"].any():
            metadata["provisional_from"] = dg.MetadataValue.text(
                f"{table.loc[table['provisional'].fillna(False), spec.date_column].min():%Y-%m-%d}")
        yield dg.Output(table, metadata=metadata)
        yield check_result(outcome)

    return [raw_asset, clean_asset]
