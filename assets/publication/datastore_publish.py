"""Publishing the approved tables to the London Datastore: the one step that changes anything outside.

In three parts. **Refusals**: nothing is sent unless the analyst's approval names the report version that describes
exactly the tables about to be sent, a report of that version exists, the tables pass their models again and, for
the real Datastore, their data are live. **Plan and send**: each file maps to one Datastore resource (by the id
recorded after its first upload, its title, or the file name its download URL ends with;
assets/publication/publish_plan.py) and is replaced in place, added, or skipped when the Datastore already holds its
bytes, so a publish that failed half-way can simply be run again; a plan that would add a file some resource already
carries is refused before anything is sent. Then the API tables are read back. **Record**: the audit line and the
asset's metadata.
"""


from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.publication.publish_plan import (
    FilePlan,
    PlanRefusal,
    changelog_description,
    files_markdown,
    plan_publication,
    table_checks,
)
from assets.sources import RETIRED, SOURCES
from checks.origin import OriginVerdict, judge, obtained
from checks.published import PUBLISHED, by_file_name, fingerprint_bytes, published_bytes, validate_published
from reports.provenance import FILE_NAME as PROVENANCE
from resources.datastore import DatastoreTarget, DryRunSession, PublishSession, TableCheck, check_tables
from resources.files import refusals_fail_the_step
from resources.report_storage import ReportStorage
from resources.report_store import ReportStore

PROVENANCE_DESCRIPTION = (
    "Where every file of this dataset came from: for each file its MD5 and rows, the raw releases it was derived "
    "from (publisher URL, SHA-256, Last-Modified, fetch time) and the code version that built it (the London COVID-19 "
    "pipeline's docs/operations.md, \"Provenance\").")
DESCRIPTIONS = {PROVENANCE: PROVENANCE_DESCRIPTION, **{t.file_name: t.description for t in PUBLISHED.values()}}
TABLES_CHECK = "api_tables_follow"
# Passes only when a publication reached the real London Datastore: a dry run or a rehearsal shows as a warning beside
# its materialization in the UI, never with the same green outcome as a publish.
REACHED_CHECK = "reached_london_datastore"
# One publish at a time across all runs (the instance's pool limit is 1): make approve looks here for one running.
PUBLISH_POOL = "london_datastore"
# Written into a dry run's folder beside requests.jsonl: the folder shows what was sent, not what a real publish
# would keep back.
HELD_BACK_NOTE = "held_back.txt"


class PublishConfig(dg.Config):
    """Typed by the analyst in the Launchpad (or by `make approve`). Neither has a default on purpose."""

    approved_by: str = Field(description="Your name: recorded with the publication as the person who approved it.")
    report_version: str = Field(
        description="The version printed at the top of the cases report you checked (12 characters)."
    )


@dataclass(frozen=True)
class Approval:
    """An approval that survived every refusal: who, which version, the exact bytes of each file to send (file
    name -> bytes, in the contract's order, the provenance manifest last) and the files held back (table ->
    the retired source whose shipped sample it was built from)."""

    approved_by: str
    version: str
    contents: dict[str, bytes]
    held_back: dict[str, str]
    verdict: OriginVerdict  # where the tables' data came from, judged once (what a real publish would do)


# --- refusals ------------------------------------------------------------------------------------------------------


def refuse(reason: str) -> dg.Failure:
    return dg.Failure(f"Refusing to publish: {reason} Nothing was sent.")


def check_approval(config: PublishConfig, tables: Mapping[str, pd.DataFrame], store: ReportStore, kind: str,
                   warn: Callable[[str], None]) -> Approval:
    """Every reason to send nothing, in the order an analyst would want to hear them; raises the first."""
    approved_by, version = config.approved_by.strip(), config.report_version.strip()
    if not approved_by:
        raise dg.Failure("approved_by is empty: type your name in the Launchpad. Nothing was sent.")
    # Serialised once, in the contract's order (the order files are sent in): the version check and the files sent.
    table_bytes = published_bytes({name: tables[name] for name in PUBLISHED})
    current = fingerprint_bytes(table_bytes)
    if version != current:
        raise refuse(f"you approved report version {version!r}, but the tables stored now are version {current!r}. "
                     f"Open report {current} (run the nightly job if it is missing), check it, and approve that "
                     "version.")
    report = store.report_path(version)
    if not report.exists():
        raise refuse(f"there is no report for version {version} ({report}), so nobody can have checked these "
                     "tables. Materialize cases_report first.")
    failed = {name: outcome for name, outcome in validate_published(tables).items() if not outcome.passed}
    if failed:
        raise refuse("; ".join(f"{n}: {o.summary()}" for n, o in failed.items()) + ".")
    verdict = judge(tables, retired=RETIRED)
    if kind == "publish" and (refusal := verdict.refusal(version)):
        raise dg.Failure(refusal)
    manifest = store.files_folder(version) / PROVENANCE
    if not manifest.exists():
        warn(f"report version {version} has no {PROVENANCE} (built before versions recorded their provenance): the "
             "tables are sent without it")
    extras = {PROVENANCE: manifest.read_bytes()} if manifest.exists() else {}
    # A live version's files from a retired source's shipped sample stay as they are on the Datastore. (A rehearsal
    # of a sample version sends everything: there is nothing live to keep apart.)
    held_back = dict(verdict.held_back) if verdict.publishable else {}
    return Approval(approved_by, version, {**by_file_name(table_bytes), **extras}, held_back, verdict)


# --- plan and send -------------------------------------------------------------------------------------------------


def send_file(lds: PublishSession, plan: FilePlan, content: bytes) -> dict:
    """Add or replace one file; returns what the Datastore answered of the resource."""
    if plan.action == "add":
        fields = {"title": plan.file_name, "description": DESCRIPTIONS[plan.file_name]}
        if plan.first_date:
            fields |= {"temporal_coverage_from": plan.first_date, "temporal_coverage_to": plan.last_date}
        answer = lds.add_resource(plan.file_name, content, fields)
    else:
        answer = lds.replace_resource(plan.resource_id, plan.file_name, content)
    readonly = answer.get("readonly") or {}
    plan.resource_id = readonly.get("resource_id", plan.resource_id)
    plan.outcome = "added" if plan.action == "add" else "replaced"
    return {"resource_id": plan.resource_id,
            **{k: (readonly.get("resource") or {}).get(k) for k in ("hash", "size", "url", "title")}}


def send(lds: PublishSession, approval: Approval, plans: list[FilePlan], datastore: DatastoreTarget,
         log: dg.DagsterLogManager) -> dict[str, dict]:
    """Each planned file sent, skipped or held back (its outcome set on its plan); returns the Datastore's answers
    by file name."""
    responses: dict[str, dict] = {}
    for plan in plans:
        if plan.action == "hold":
            plan.outcome = f"held back: {why_held_back(approval.held_back[plan.table])}"
            log.warning(f"{plan.file_name}: {plan.outcome}")
        elif plan.action == "skip":
            plan.outcome = "skipped: the Datastore already holds these bytes"
            log.info(f"{plan.file_name}: unchanged (md5 {plan.md5}), skipped")
        else:
            responses[plan.file_name] = send_file(lds, plan, approval.contents[plan.file_name])
            # Recorded straight away, so a run that fails on the next file still replaces this one next time.
            datastore.remember_resource_id(plan.file_name, plan.resource_id)
            log.info(f"{plan.file_name}: {plan.outcome} as resource {plan.resource_id} (md5 {plan.md5})")
    return responses


def note_changes(lds: PublishSession, dataset: dict, version: str, log: dg.DagsterLogManager) -> None:
    """The dataset's description names this report version, and its last-updated time is now. (Uploads change
    resources, not the description: the copy read before them is current.)"""
    now = datetime.now(UTC)
    lds.patch_dataset([
        {"op": "replace", "path": "/description",
         "value": changelog_description(dataset.get("description", ""), version, now)},
        {"op": "replace", "path": "/updatedAt", "value": now.isoformat(timespec="seconds")},
    ])
    log.info("dataset description and last-updated time patched")


def follow_tables(lds: PublishSession, dataset: dict, plans: list[FilePlan], tables: Mapping[str, pd.DataFrame],
                  datastore: DatastoreTarget, log: dg.DagsterLogManager) -> list[TableCheck]:
    """Each published file's API tables, read back until they serve what was just sent (or time runs out)."""
    checks = table_checks(dataset, plans, tables, lds.table_url)
    if checks:
        log.info(f"reading back {len(checks)} API table(s) to check they follow the files just sent")
        check_tables(lds.table_summary, checks, datastore.table_follow_timeout_s, datastore.table_poll_interval_s)
        for check in checks:
            (log.info if check.follows else log.warning)(check.describe())
    return checks


# --- record --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealPublish:
    """What a real publish of a version would do that a dry run or a rehearsal of it may not show: the files it
    holds back (file name -> why, in the analyst's words, in the contract's order) and why it would refuse the
    version whole ("" when it would not)."""

    held_back: dict[str, str]
    refusal: str


def why_held_back(source: str) -> str:
    """Why a file built from a retired source's shipped sample is not sent, naming the source as the report does."""
    retired = SOURCES[source]
    note = retired.status_note.strip().rstrip(".")
    because = f" ({note[:1].lower()}{note[1:]})" if note else ""
    return (f"built from the shipped sample of {retired.title}, which is no longer published{because}; the "
            "Datastore keeps its copy")


def real_publish(verdict: OriginVerdict) -> RealPublish:
    """What the tables' origins (check_approval's verdict) mean for a publish to the real Datastore: a dry run or a
    rehearsal of a sample version sends every file, so its own plan cannot say what a publish would hold."""
    held = {table.file_name: why_held_back(verdict.held_back[name])
            for name, table in PUBLISHED.items() if name in verdict.held_back}
    refusal = ("it was built from the shipped sample data" if verdict.samples else
               "its tables do not record where their data came from" if verdict.unrecorded else "")
    return RealPublish(held, refusal)


def held_back_lines(real: RealPublish) -> list[str]:
    return [f"held back: {file_name} — {why}" for file_name, why in real.held_back.items()]


def held_back_markdown(kind: str, real: RealPublish) -> str:
    """The `held_back` metadata: each file a real publish holds back, and why."""
    lines = [f"- {line}" for line in held_back_lines(real)]
    if kind == "publish":
        return "\n".join(["Held back (not sent):", *lines]) if lines else "No file was held back."
    head = (f"A real publish would refuse this version and send nothing: {real.refusal}. Built from live releases, "
            "it would hold back:" if real.refusal else "A real publish of this version would hold back:")
    return "\n".join([head, *lines]) if lines else f"{head} no file."


def held_back_note(version: str, real: RealPublish, plans: list[FilePlan]) -> str:
    """held_back.txt, for the analyst who opens the dry run's folder: what a real publish would hold back, why,
    and whether this dry run wrote those files here all the same."""
    lines = [f"What a real publish of report version {version} to the London Datastore would hold back (not send), "
             "and why.", ""]
    lines += held_back_lines(real) or ["nothing: a real publish sends every file."]
    if real.refusal:
        lines += ["", f"A real publish would refuse this version and send nothing: {real.refusal}. Built from live "
                  "releases, it would still hold back the files above."]
    written = [p.file_name for p in plans if p.file_name in real.held_back and p.action != "hold"]
    if written:
        lines += ["", f"This dry run wrote them here all the same ({', '.join(written)}), as every file of a version "
                  "built from samples is rehearsed, so that they can be checked."]
    elif real.held_back:
        lines += ["", "This dry run held them back too: they are not in this folder."]
    return "\n".join(lines) + "\n"


def record(run_id: str, approval: Approval, datastore: DatastoreTarget, target: str, plans: list[FilePlan],
           responses: dict[str, dict], checks: list[TableCheck], tables: Mapping[str, pd.DataFrame],
           real: RealPublish, note: Path | None = None) -> dg.MaterializeResult:
    """The audit line (storage/publish/<dataset>/audit.jsonl) and the same record as the asset's metadata, with
    the API tables' check and what a real publish of the version holds back (`note`: a dry run's held_back.txt)."""
    datastore.append_audit({
        "approved_by": approval.approved_by, "report_version": approval.version, "dataset": datastore.dataset,
        "target": target, "published_at": datetime.now(UTC).isoformat(timespec="seconds"), "run_id": run_id,
        "kind": datastore.kind, "data_origin": {name: obtained(table) for name, table in tables.items()},
        "files": [asdict(p) for p in plans], "responses": responses,
        "api_tables": [{**asdict(check), "follows": check.follows, "message": check.describe()} for check in checks],
    })
    stale = [check for check in checks if not check.follows]
    tables_md = "\n".join(f"- {'follows' if c.follows else '**DID NOT FOLLOW**'}: {c.describe()}" for c in checks)
    reached = datastore.kind == "publish"
    outcome = (f"published to the London Datastore ({target})" if reached else
               f"{datastore.kind.upper()}: nothing was sent to the London Datastore ({target})")
    return dg.MaterializeResult(metadata={
        "outcome": dg.MetadataValue.text(outcome),
        "api_tables": dg.MetadataValue.md(tables_md or "no published file has an API table"),
        "api_tables_not_following": dg.MetadataValue.text(", ".join(f"{c.file_name} ({c.ref})" for c in stale)
                                                          or "none"),
        # "publish", or a "dry run" / "rehearsal" that put nothing on the real Datastore.
        "kind": dg.MetadataValue.text(datastore.kind),
        "approved_by": dg.MetadataValue.text(approval.approved_by),
        "report_version": dg.MetadataValue.text(approval.version),
        "target": dg.MetadataValue.text(target),
        "files_sent": dg.MetadataValue.int(sum(p.outcome in ("added", "replaced") for p in plans)),
        "files_skipped": dg.MetadataValue.int(sum(p.action == "skip" for p in plans)),
        "files_held_back": dg.MetadataValue.int(sum(p.action == "hold" for p in plans)),
        "files": dg.MetadataValue.md(files_markdown(plans)),
        # What a real publish of this version holds back and why, whatever this run sent: a dry run or rehearsal of
        # a sample version sends every file, and would otherwise hide it.
        "held_back": dg.MetadataValue.md(held_back_markdown(datastore.kind, real)),
        "held_back_files": dg.MetadataValue.json(real.held_back),
        "real_publish_refusal": dg.MetadataValue.text(real.refusal or "none"),
        **({"held_back_note": dg.MetadataValue.path(str(note))} if note else {}),
        "datastore_responses": dg.MetadataValue.json(responses),
        "audit_log": dg.MetadataValue.path(str(datastore.audit_log)),
    }, check_results=[dg.AssetCheckResult(
        check_name=TABLES_CHECK, passed=not stale, severity=dg.AssetCheckSeverity.WARN,
        metadata={"tables": dg.MetadataValue.md(tables_md or "no published file has an API table")},
    ), dg.AssetCheckResult(
        check_name=REACHED_CHECK, passed=reached, severity=dg.AssetCheckSeverity.WARN,
        description=outcome, metadata={"kind": dg.MetadataValue.text(datastore.kind),
                                       "target": dg.MetadataValue.text(target)},
    )])


@dg.asset(
    group_name="publish",
    ins={"datastore_tables": dg.AssetIn()},
    deps=["cases_report"],
    kinds={"api"},
    pool=PUBLISH_POOL,
    check_specs=[dg.AssetCheckSpec(
        TABLES_CHECK, asset="datastore_publish",
        description="After a publish, every API table of a published file (the Datastore's queryable copy) serves "
        "the rows and latest date just sent. A table that did not follow needs an editor to redeploy it.",
    ), dg.AssetCheckSpec(
        REACHED_CHECK, asset="datastore_publish",
        description="Passes when the files reached the real London Datastore. A dry run (files written to a folder) "
        "or a rehearsal (sent to a test Datastore) warns here, so it is never taken for a publish.",
    )],
)
def datastore_publish(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    datastore: DatastoreTarget,
    reports: ReportStorage,
    datastore_tables: dict[str, pd.DataFrame],
) -> dg.MaterializeResult:
    """Publish the Datastore tables to the London Datastore, after an analyst's approval. Launch the
    `publish` job from the Launchpad with `approved_by` (your name) and `report_version` (the version
    at the top of the cases report you checked). It refuses, sending nothing, if the tables stored now are not
    exactly the ones that report showed, if they fail validation, if LDS_API_KEY is missing, or if they were
    built from the shipped sample data (a dry run, or a test Datastore with LDS_REHEARSAL=1, may rehearse with
    them; the run's `publish_kind` tag and `kind` below say which it was). Files built from a retired source's
    shipped sample are held back: the Datastore keeps its copy. Unchanged files are skipped; changed ones replace
    their resource in place (the GLA's files replace the GLA's resources, found by the id recorded after a previous
    publish, by title, or by the file name their download URL ends with; a file some resource already carries is
    never added beside it: the publish refuses, sending nothing, and names both). The version's provenance.json
    (where each file came from) goes with them, as a resource of its own. Then each file's API tables are read
    back: one that does not serve what was just sent fails the `api_tables_follow` check (a warning) with what to
    do. The metadata is the audit record: who approved, which version, every file sent or skipped with its MD5 and
    resource id, the Datastore's answers and the API tables' state."""
    # A refused write (a full disk, a folder without permission) fails at once naming the folder's setting; a
    # publish it cut short finishes on the next approval without sending anything twice.
    with refusals_fail_the_step("datastore_publish", *datastore.storage):
        approval = check_approval(config, datastore_tables, reports.store(), datastore.kind, context.log.warning)
        with datastore.open() as lds:
            context.log.info(f"{datastore.kind}: report version {approval.version}, approved by "
                             f"{approval.approved_by}, to {lds.target}")
            dataset = lds.get_dataset()
            try:
                plans = plan_publication(datastore_tables, approval.contents, dataset, datastore.known_resource_ids(),
                                         approval.held_back)
            except PlanRefusal as error:
                # Planned whole before the first upload, so refusing here leaves the Datastore exactly as it was.
                raise refuse(str(error)) from None
            responses = send(lds, approval, plans, datastore, context.log)
            if responses:
                note_changes(lds, dataset, approval.version, context.log)
            checks = follow_tables(lds, dataset, plans, datastore_tables, datastore, context.log)
            target = lds.target
            real = real_publish(approval.verdict)
            # Only a dry run has a folder for the analyst to open; a rehearsal says the same in its metadata.
            note = (lds.write_note(HELD_BACK_NOTE, held_back_note(approval.version, real, plans))
                    if isinstance(lds, DryRunSession) else None)
        return record(context.run.run_id, approval, datastore, target, plans, responses, checks, datastore_tables, real,
                      note)
