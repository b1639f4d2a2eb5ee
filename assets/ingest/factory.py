"""Dagster wiring shared by every source: a `raw/<source>` asset that downloads and archives, a clean asset that
parses, validates (a blocking check) and only then stores, and the job that re-runs that source alone. The source
modules hold the logic; this turns a `Source` into its definitions."""


from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._utils import interrupts

from assets.ingest.clean import CleanRelease, InvalidRelease, KeptRelease, clean_release
from assets.ingest.fetch import fetch_source
from assets.ingest.source import Source, Status, Variant
from checks.validation import ValidationOutcome
from resources.archive import ArchivedFile, RawArchive
from resources.errors import FetchError, SourceError
from resources.files import DamagedFile, refusals_fail_the_step
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
        assets=[raw_asset(source, fetch_retry), clean_asset(source)],
        jobs=[dg.define_asset_job(
            job_name(source),
            selection=dg.AssetSelection.groups(source.name) | rebuild,
            description=f"Re-run only {source.title} (fetch, archive, clean, validate), then rebuild the Datastore "
            "tables and the report.",
        )],
    )


# --- raw/<source>: download and archive --------------------------------------------------------------------------


def keeps_last_release(source: Source, upstreams: Upstreams) -> bool:
    """Whether a run keeps the source's last release rather than fetching it: in live mode, a retired source (nothing
    live replaced it); replaying a past night (`as_of`), it is fetched, as it was live then."""
    return upstreams.mode == "live" and source.status is Status.RETIRED and not upstreams.as_of


def what_to_fetch(source: Source, upstreams: Upstreams, archive: RawArchive) -> tuple[str, Variant, str]:
    """The mode and variant this run fetches the source in, and a note when that is not simply as published: a
    source whose last release is kept (keeps_last_release) keeps its last archived release, or the shipped one."""
    if keeps_last_release(source, upstreams):
        mode = "replay" if archive.latest_for_source(source.name) else "sample"
        return mode, source.sample, retired_note(source, "last archived" if mode == "replay" else "shipped sample")
    return upstreams.mode, source.for_mode(upstreams.mode, upstreams.cases_api), ""


def fetch_or_fail(source: Source, variant: Variant, mode: str, base_url: str, http: HttpClient,
                  archive: RawArchive, log: dg.DagsterLogManager) -> tuple[list[ArchivedFile], list[str]]:
    """Every file of the release, archived; and the series the upstream does not hold (404). A failure that a
    retry in a minute will not mend (a 4xx, a malformed page, a FetchError marked final: a certificate that cannot be
    verified, a proxy that wants a password) stops the step without its retries."""
    missing: list[str] = []
    try:
        entries = fetch_source(
            source, variant, http=http, archive=archive, mode=mode, base_url=base_url,
            on_file=lambda e: log.info(f"{source.name}: {e.file_name} {e.bytes:,} bytes "
                                       f"({'new' if e.changed else 'unchanged'}) from {e.url}"),
            on_missing=lambda request, error: missing.append(f"{request.url}: {error.problem}"),
            on_damaged=lambda entry, damage: log.warning(
                f"{source.name}: {damage}: downloading {entry.file_name} again in full (the same bytes mend the copy)"),
        )
    except FetchError as error:
        if error.final or (error.status is not None and error.status not in RETRYABLE_STATUSES):
            raise dg.Failure(str(error), allow_retries=False) from error
        raise
    except SourceError as error:
        raise dg.Failure(str(error), allow_retries=False) from error
    for problem in missing:
        log.warning(f"{source.name}: not found, left out: {problem}")
    return entries, missing


# Marks the failure of a download stopped by Terminate in the UI, Ctrl-C or SIGTERM (pipelines/commands/outcomes.py
# reads it).
STOPPED = "stopped"


def stopped(source: Source) -> dg.Failure:
    """The failure of a download the run's stop (Terminate in the UI, Ctrl-C, SIGTERM) cut short, ending the run.
    Left to Dagster, a step with a retry policy takes a stop for a failure to retry: a minute later it downloaded
    again and the run went on, as if nothing had been asked (seen with `make run`). This one is not retried, and
    Dagster's own record of the stop is set again, so the next step to start ends the run as the stop asked."""
    interrupts._received_interrupt["received"] = True  # what Dagster's handler sets between steps
    return dg.Failure(f"[{source.name}] the run was stopped (Terminate in the UI, Ctrl-C or SIGTERM) during this "
                      "download: not retried",
                      metadata={STOPPED: True}, allow_retries=False)


def raw_metadata(source: Source, entries: list[ArchivedFile], mode: str, note: str, missing: list[str],
                 archive: RawArchive) -> dict[str, dg.MetadataValue]:
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
    for e in entries:
        stored = archive.stored_at(e.path) or archive.root / e.path
        metadata[f"archived_{e.request}"] = dg.MetadataValue.path(str(stored))
    return metadata


def raw_asset(source: Source, fetch_retry: dg.RetryPolicy) -> dg.AssetsDefinition:
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
    def fetched(
        context: dg.AssetExecutionContext, http: HttpClient, archive: RawArchive, upstreams: Upstreams
    ) -> dg.Output[list[dict]]:
        try:
            return fetch_release(context, source, http, archive, upstreams)
        except Exception as error:
            # Dagster waits before the retry without a word in the run's log (its retry event is a debug one): a
            # `make run` without network looked stuck for minutes.
            if notice := retry_notice(source.name, error, context.retry_number, fetch_retry):
                context.log.warning(notice)
            raise

    return fetched


def retry_notice(source_name: str, error: Exception, retry_number: int, policy: dg.RetryPolicy) -> str | None:
    """What the log says when a download step fails and Dagster will try it again (None when it will not): the
    failure, and the wait, as a range since the policy adds jitter (Dagster waits `delay` × (2^n - 1) ± `delay`
    before the n-th retry)."""
    if retry_number >= policy.max_retries or (isinstance(error, dg.Failure) and not error.allow_retries):
        return None
    retry = retry_number + 1
    delay = policy.delay or 0
    middle = delay * (2**retry - 1)
    wait = f"{_seconds(max(middle - delay, 0))}-{_seconds(middle + delay)} s" if delay else "at once"
    return (f"{source_name}: the download failed: {error}; Dagster tries it again in {wait} (retry {retry} of "
            f"{policy.max_retries}: FETCH_STEP_RETRIES, FETCH_STEP_RETRY_DELAY_S)")


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def fetch_release(context: dg.AssetExecutionContext, source: Source, http: HttpClient, archive: RawArchive,
                  upstreams: Upstreams) -> dg.Output[list[dict]]:
    """raw/<source>'s work: every file of the release downloaded and archived, or a failure in one line."""
    try:
        with refusals_fail_the_step(source.name, archive.root):
            mode, variant, note = what_to_fetch(source, upstreams, archive)
            if note:
                context.log.warning(f"{source.name}: {note}")
            base_url = upstreams.base_url(variant.api)
            context.log.info(f"{source.name}: fetching from the {variant.format_name} in {mode} mode: {base_url}")
            entries, missing = fetch_or_fail(source, variant, mode, base_url, http, archive, context.log)
    except DamagedFile as error:
        # The archive's record of the last good release, damaged on this disk: a retry would read the same bytes.
        raise dg.Failure(f"[{source.name}] {error}", allow_retries=False) from error
    except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as stop:
        raise stopped(source) from stop
    return dg.Output([e.to_dict() for e in entries],
                     metadata=raw_metadata(source, entries, mode, note, missing, archive))


# --- <source>: parse, validate (a blocking check), keep the release, store --------------------------------------


def clean_metadata(cleaned: CleanRelease, vintage: Path, date_column: str) -> dict[str, dg.MetadataValue]:
    table = cleaned.table
    metadata = table_metadata(table, date_column)
    metadata["data_origin"] = dg.MetadataValue.text(
        "shipped sample release" if table.attrs["origin"] == "sample" else table.attrs["origin"])
    metadata["format"] = dg.MetadataValue.text(cleaned.variant.format_name)
    metadata["release_date"] = dg.MetadataValue.text(table.attrs["release_date"])
    metadata["vintage"] = dg.MetadataValue.path(str(vintage))
    notes = table.attrs.get("notes", [])
    metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in notes) or "as published")
    # Rows that look like data but were not read (each is named in the notes): a number to watch over time.
    metadata["rows_left_out"] = dg.MetadataValue.int(table.attrs.get("left_out_count", 0))
    if "provisional" in table and table["provisional"].any():
        metadata["provisional_from"] = dg.MetadataValue.text(
            f"{table.loc[table['provisional'].fillna(False), date_column].min():%Y-%m-%d}")
    return metadata


def previous_release(vintages: VintageStore, source: Source) -> KeptRelease | None:
    """The source's latest release kept (the last good one), if any: what this release is held to (its date and
    measures: clean.check_not_behind, clean.check_measures)."""
    kept = vintages.releases(source.name)
    if not kept:
        return None
    return KeptRelease(kept[-1], vintages.load(source.name, kept[-1]), str(vintages.path(source.name, kept[-1])))


def clean_asset(source: Source) -> dg.AssetsDefinition:
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
    def cleaned(
        context: dg.AssetExecutionContext, archive: RawArchive, raw_files: list[dict]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        entries = [ArchivedFile.from_dict(d) for d in raw_files]
        vintages = VintageStore(archive.root)
        try:
            release = clean_release(source, entries, archive, previous=previous_release(vintages, source))
        except InvalidRelease as invalid:
            # Record the failed check for the UI, then stop before the table is stored: the last good table stays.
            yield check_result(invalid.outcome)
            raise
        with refusals_fail_the_step(source.name, archive.root):
            # Every release is kept as well as the current table (the report's revisions view reads them).
            vintage = vintages.save(source.name, release.release, release.table)
            # Only now are the files the source's latest: a bad download never sends its validators next time.
            archive.promote(source.name, entries)
        for note in release.table.attrs.get("notes", []):
            context.log.info(f"{source.name}: {note}")
        yield dg.Output(release.table, metadata=clean_metadata(release, vintage, source.presentation.date_column))
        yield check_result(release.outcome)

    return cleaned
