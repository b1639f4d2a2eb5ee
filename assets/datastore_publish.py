"""Publishing the approved tables to the London Datastore: the one step that changes anything outside.

Nothing is sent unless the analyst's approval names the report version that describes exactly the tables about to
be sent, and those tables pass their models again. Each file maps to one Datastore resource (found by its title,
or recorded after its first upload) and is replaced in place; a file the Datastore already holds byte for byte is
skipped. So a publish that failed half-way can simply be run again.
"""

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from assets import RETIRED
from checks.origin import judge, obtained
from checks.published import PUBLISHED, by_file_name, fingerprint_bytes, published_bytes, validate_published
from reports.provenance import FILE_NAME as PROVENANCE
from resources.datastore import DatastoreTarget, TableCheck, check_tables, find_resource, md5_matches
from resources.report_storage import ReportStorage

PROVENANCE_DESCRIPTION = (
    "Where every file of this dataset came from: for each file its MD5 and rows, the raw releases it was derived "
    "from (publisher URL, SHA-256, Last-Modified, fetch time) and the code version that built it (README of the "
    "London COVID-19 pipeline, \"Provenance\").")
CHANGELOG_PREFIX = "<p>Last updated by the London COVID-19 pipeline"
TABLES_CHECK = "api_tables_follow"


class PublishConfig(dg.Config):
    """Typed by the analyst in the Launchpad (or by `make approve`). Neither has a default on purpose."""

    approved_by: str = Field(description="Your name: recorded with the publication as the person who approved it.")
    report_version: str = Field(
        description="The version printed at the top of the cases report you checked (12 characters)."
    )


@dataclass
class FilePlan:
    table: str
    file_name: str
    md5: str
    bytes: int
    action: str  # add, replace, skip or hold
    resource_id: str | None
    first_date: str | None
    last_date: str | None
    outcome: str = "planned"


def table_dates(name: str, table: pd.DataFrame) -> tuple[str | None, str | None]:
    if table.empty:
        return None, None
    column = PUBLISHED[name].date_column
    return f"{table[column].min():%Y-%m-%d}", f"{table[column].max():%Y-%m-%d}"


def plan_publication(tables: Mapping[str, pd.DataFrame], contents: Mapping[str, bytes], dataset: dict,
                     known_ids: dict[str, str], held_back: Collection[str] = ()) -> list[FilePlan]:
    """Pure: what to do with each file (`contents`: file name -> the bytes sent) given the dataset's current
    resources. A recorded resource id wins over a title match (the title may have been edited on the site); a
    matching hash means there is nothing to send; a table `held_back` is not sent at all."""
    resources = dataset.get("resources") or {}
    plans = []
    for file_name, content in contents.items():
        name = Path(file_name).stem
        rid = known_ids.get(file_name) if known_ids.get(file_name) in resources else None
        if rid is None and (found := find_resource(dataset, file_name)):
            rid = found[0]
        if name in held_back:
            action = "hold"
        elif rid is None:
            action = "add"
        elif md5_matches(resources[rid].get("hash"), content):
            action = "skip"
        else:
            action = "replace"
        first, last = table_dates(name, tables[name]) if name in tables else (None, None)
        plans.append(FilePlan(name, file_name, hashlib.md5(content).hexdigest(), len(content), action, rid,
                              first, last))
    return plans


def table_checks(dataset: dict, plans: list[FilePlan], tables: dict[str, pd.DataFrame], table_url) -> list[TableCheck]:
    """What each API table of a published file should serve now: the file's rows and latest date. Tables are
    listed per resource in the dataset JSON (`tables`); a resource added in this run has none yet."""
    resources = dataset.get("resources") or {}
    checks = []
    for plan in plans:
        if plan.action == "hold" or plan.table not in tables:
            continue  # not sent (its API tables serve the Datastore's own copy), or not a table (provenance.json)
        for ref in (resources.get(plan.resource_id) or {}).get("tables") or {}:
            table, published = tables[plan.table], PUBLISHED[plan.table]
            latest = table[published.date_column].max() if len(table) else None
            checks.append(TableCheck(plan.file_name, ref, table_url(ref), published.date_column, len(table),
                                     None if latest is None else f"{latest:%Y-%m-%d}"))
    return checks


def changelog_description(description: str, version: str, when: datetime) -> str:
    """The dataset description with its pipeline changelog line replaced by one naming this report version."""
    kept = "\n".join(line for line in (description or "").splitlines() if not line.startswith(CHANGELOG_PREFIX))
    line = f"{CHANGELOG_PREFIX} on {when:%d %B %Y} (report version {version}).</p>"
    return f"{kept}\n{line}" if kept.strip() else line


def _files_markdown(plans: list[FilePlan]) -> str:
    lines = ["| file | action | outcome | md5 | bytes | resource id |", "|---|---|---|---|---:|---|"]
    lines += [f"| {p.file_name} | {p.action} | {p.outcome} | `{p.md5}` | {p.bytes:,} | {p.resource_id or ''} |"
              for p in plans]
    return "\n".join(lines)


@dg.asset(
    group_name="publish",
    ins={"datastore_tables": dg.AssetIn()},
    deps=["cases_report"],
    kinds={"api"},
    pool="london_datastore",
    check_specs=[dg.AssetCheckSpec(
        TABLES_CHECK, asset="datastore_publish",
        description="After a publish, every API table of a published file (the Datastore's queryable copy) serves "
        "the rows and latest date just sent. A table that did not follow needs an editor to redeploy it.",
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
    their resource in place (the GLA's files replace the GLA's resources of the same title; nothing is ever added
    twice). The version's provenance.json (where each file came from) goes with them, as a resource of its own.
    Then each file's API tables are read back: one that does not serve
    what was just sent fails the `api_tables_follow` check (a warning) with what to do. The metadata is the audit
    record: who approved, which version, every file sent or skipped with its MD5 and resource id, the Datastore's
    answers and the API tables' state."""
    approved_by, version = config.approved_by.strip(), config.report_version.strip()
    if not approved_by:
        raise dg.Failure("approved_by is empty: type your name in the Launchpad. Nothing was sent.")
    # Serialised once, in the contract's order (the order files are sent in): the version check and the files sent.
    table_bytes = published_bytes({name: datastore_tables[name] for name in PUBLISHED})
    current = fingerprint_bytes(table_bytes)
    if version != current:
        raise dg.Failure(
            f"Refusing to publish: you approved report version {version!r}, but the tables stored now are version "
            f"{current!r}. Open report {current} (run the nightly job if it is missing), check it, and approve "
            "that version. Nothing was sent."
        )
    report = reports.store().report_path(version)
    if not report.exists():
        raise dg.Failure(f"Refusing to publish: there is no report for version {version} ({report}), so nobody "
                         "can have checked these tables. Materialize cases_report first. Nothing was sent.")
    failed = {name: outcome for name, outcome in validate_published(datastore_tables).items() if not outcome.passed}
    if failed:
        raise dg.Failure("Refusing to publish: " + "; ".join(f"{n}: {o.summary()}" for n, o in failed.items())
                         + ". Nothing was sent.")
    verdict = judge(datastore_tables, retired=RETIRED)
    if datastore.kind == "publish" and (refusal := verdict.refusal(version)):
        raise dg.Failure(refusal)
    # A live version's files from a retired source's shipped sample stay as they are on the Datastore. (A
    # rehearsal of a sample version sends everything: there is nothing live to keep apart.)
    held_back = dict(verdict.held_back) if verdict.publishable else {}

    provenance = reports.store().root / "files" / version / PROVENANCE
    extras = {PROVENANCE: provenance.read_bytes()} if provenance.exists() else {}
    if not extras:
        context.log.warning(f"report version {version} has no {PROVENANCE} (built before versions recorded their "
                            "provenance): the tables are sent without it")
    contents = {**by_file_name(table_bytes), **extras}
    descriptions = {PROVENANCE: PROVENANCE_DESCRIPTION, **{t.file_name: t.description for t in PUBLISHED.values()}}

    ids_file = datastore.dataset_state / "resource_ids.json"
    known_ids = json.loads(ids_file.read_text()) if ids_file.exists() else {}
    responses: dict[str, dict] = {}
    with datastore.open() as lds:
        context.log.info(f"{datastore.kind}: report version {version}, approved by {approved_by}, to {lds.target}")
        dataset = lds.get_dataset()
        plans = plan_publication(datastore_tables, contents, dataset, known_ids, held_back)
        for plan in plans:
            content = contents[plan.file_name]
            if plan.action == "hold":
                plan.outcome = (f"held back: built from the shipped sample of {held_back[plan.table]}, a retired "
                                "source; the Datastore keeps its copy")
                context.log.warning(f"{plan.file_name}: {plan.outcome}")
                continue
            if plan.action == "skip":
                plan.outcome = "skipped: the Datastore already holds these bytes"
                context.log.info(f"{plan.file_name}: unchanged (md5 {plan.md5}), skipped")
                continue
            if plan.action == "add":
                fields = {"title": plan.file_name, "description": descriptions[plan.file_name]}
                if plan.first_date:
                    fields |= {"temporal_coverage_from": plan.first_date, "temporal_coverage_to": plan.last_date}
                answer = lds.add_resource(plan.file_name, content, fields)
            else:
                answer = lds.replace_resource(plan.resource_id, plan.file_name, content)
            readonly = answer.get("readonly") or {}
            plan.resource_id = readonly.get("resource_id", plan.resource_id)
            plan.outcome = "added" if plan.action == "add" else "replaced"
            responses[plan.file_name] = {"resource_id": plan.resource_id, **{
                k: (readonly.get("resource") or {}).get(k) for k in ("hash", "size", "url", "title")}}
            # Recorded straight away, so a run that fails on the next file still replaces this one next time.
            known_ids[plan.file_name] = plan.resource_id
            ids_file.parent.mkdir(parents=True, exist_ok=True)
            ids_file.write_text(json.dumps(known_ids, indent=2, sort_keys=True))
            context.log.info(f"{plan.file_name}: {plan.outcome} as resource {plan.resource_id} (md5 {plan.md5})")
        sent = [p for p in plans if p.outcome in ("added", "replaced")]
        if sent:
            # Uploads change resources, not the description: the copy read before them is current.
            now = datetime.now(UTC)
            patch = [
                {"op": "replace", "path": "/description",
                 "value": changelog_description(dataset.get("description", ""), version, now)},
                {"op": "replace", "path": "/updatedAt", "value": now.isoformat(timespec="seconds")},
            ]
            lds.patch_dataset(patch)
            context.log.info("dataset description and last-updated time patched")
        tables = table_checks(dataset, plans, datastore_tables, lds.table_url)
        if tables:
            context.log.info(f"reading back {len(tables)} API table(s) to check they follow the files just sent")
            check_tables(lds.table_summary, tables, datastore.table_follow_timeout_s, datastore.table_poll_interval_s)
            for check in tables:
                (context.log.info if check.follows else context.log.warning)(check.describe())
        target = lds.target

    audit = {
        "approved_by": approved_by, "report_version": version, "dataset": datastore.dataset, "target": target,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"), "run_id": context.run.run_id,
        "kind": datastore.kind, "data_origin": {name: obtained(table) for name, table in datastore_tables.items()},
        "files": [asdict(p) for p in plans], "responses": responses,
        "api_tables": [{**asdict(check), "follows": check.follows, "message": check.describe()} for check in tables],
    }
    audit_log = datastore.dataset_state / "audit.jsonl"
    audit_log.parent.mkdir(parents=True, exist_ok=True)
    with audit_log.open("a") as handle:
        handle.write(json.dumps(audit) + "\n")
    stale = [check for check in tables if not check.follows]
    tables_md = "\n".join(f"- {'follows' if c.follows else '**DID NOT FOLLOW**'}: {c.describe()}" for c in tables)
    return dg.MaterializeResult(metadata={
        "api_tables": dg.MetadataValue.md(tables_md or "no published file has an API table"),
        "api_tables_not_following": dg.MetadataValue.text(", ".join(f"{c.file_name} ({c.ref})" for c in stale)
                                                          or "none"),
        # "publish", or a "dry run" / "rehearsal" that put nothing on the real Datastore.
        "kind": dg.MetadataValue.text(datastore.kind),
        "approved_by": dg.MetadataValue.text(approved_by),
        "report_version": dg.MetadataValue.text(version),
        "target": dg.MetadataValue.text(target),
        "files_sent": dg.MetadataValue.int(len(sent)),
        "files_skipped": dg.MetadataValue.int(sum(p.action == "skip" for p in plans)),
        "files_held_back": dg.MetadataValue.int(sum(p.action == "hold" for p in plans)),
        "files": dg.MetadataValue.md(_files_markdown(plans)),
        "datastore_responses": dg.MetadataValue.json(responses),
        "audit_log": dg.MetadataValue.path(str(audit_log)),
    }, check_results=[dg.AssetCheckResult(
        check_name=TABLES_CHECK, passed=not stale, severity=dg.AssetCheckSeverity.WARN,
        metadata={"tables": dg.MetadataValue.md(tables_md or "no published file has an API table")},
    )])
