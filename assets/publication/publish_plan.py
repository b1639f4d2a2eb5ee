"""What a publication does with each file, decided before anything is sent (pure: no Dagster, no network): each
file maps to one Datastore resource (a recorded id, else its title), and is added, replaced, skipped (the Datastore
already holds its bytes) or held back; then what each API table should serve, and the dataset's changelog line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from checks.published import PUBLISHED
from resources.datastore import TableCheck, find_resource, md5_matches

CHANGELOG_PREFIX = "<p>Last updated by the London COVID-19 pipeline"


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


def table_checks(dataset: dict, plans: list[FilePlan], tables: Mapping[str, pd.DataFrame],
                 table_url: Callable[[str], str]) -> list[TableCheck]:
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


def files_markdown(plans: list[FilePlan]) -> str:
    lines = ["| file | action | outcome | md5 | bytes | resource id |", "|---|---|---|---|---:|---|"]
    lines += [f"| {p.file_name} | {p.action} | {p.outcome} | `{p.md5}` | {p.bytes:,} | {p.resource_id or ''} |"
              for p in plans]
    return "\n".join(lines)
