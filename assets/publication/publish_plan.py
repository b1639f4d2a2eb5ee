"""What a publication does with each file, decided before anything is sent (pure: no Dagster, no network): each
file maps to one Datastore resource (a recorded id, else its title, else the file name its download URL ends with),
and is added, replaced, skipped (the Datastore already holds its bytes) or held back; a publication that would add
a file some resource already carries is refused whole. Then what each API table should serve, and the dataset's
changelog line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from checks.published import PUBLISHED
from resources.datastore import TableCheck, download_file_name, md5_matches

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


class PlanRefusal(ValueError):
    """The resources on the Datastore make this publication unsafe: it must send nothing. The message is one line
    naming the file and the resource(s) concerned."""


def _describe(resources: Mapping[str, dict], rid: str) -> str:
    return f"resource {resources[rid].get('title')!r} (id {rid})"


def match_resources(file_names: Collection[str], resources: Mapping[str, dict],
                    known_ids: Mapping[str, str]) -> dict[str, tuple[str, str] | None]:
    """Pure: the resource each file replaces, and how it was found (file name -> (resource id, how) or None for a
    new resource). In three passes, each over every file before the next, so a stronger match always wins
    whatever the files' order: the id recorded after a previous upload (the title may have been edited on the
    site since); else a resource titled with the file name (the lowest `order` if several); else the one whose
    download URL ends with the file name (the GLA may have titled its resources otherwise than their files).
    A resource is never given two files: one already matched is passed over. Raises PlanRefusal when several
    resources' download URLs end with a file's name and none is titled with it: replacing either would be a guess."""
    by_order = sorted(resources, key=lambda rid: resources[rid].get("order", 0))
    found: dict[str, tuple[str, str] | None] = dict.fromkeys(file_names)
    claimed: set[str] = set()

    def take(file_name: str, rid: str, how: str) -> None:
        found[file_name] = (rid, how)
        claimed.add(rid)

    for file_name in file_names:
        rid = known_ids.get(file_name)
        if rid in resources and rid not in claimed:
            take(file_name, rid, "its recorded resource id")
    for file_name in [f for f in file_names if found[f] is None]:
        titled = [rid for rid in by_order if resources[rid].get("title") == file_name and rid not in claimed]
        if titled:
            take(file_name, titled[0], "its title")
    for file_name in [f for f in file_names if found[f] is None]:
        named = [rid for rid in by_order if download_file_name(resources[rid]) == file_name and rid not in claimed]
        if len(named) > 1:
            raise PlanRefusal(
                f"{file_name} is the file of {' and '.join(_describe(resources, rid) for rid in named)} (their "
                f"download URLs end with it) and no resource is titled {file_name}, so which to replace would be a "
                f"guess: on the London Datastore, title the one to replace {file_name}.")
        if named:
            take(file_name, named[0], "the file name its download URL ends with")
    return found


def refuse_duplicates(adds: Collection[str], resources: Mapping[str, dict],
                      found: Mapping[str, tuple[str, str] | None]) -> None:
    """Raises PlanRefusal, naming both, when a file about to be added as a new resource is one an existing
    resource already carries (as its title or its download URL's file name) while that resource is matched to
    another file: adding it would put a second copy of the file beside the one readers download."""
    matched_to = {match[0]: (name, match[1]) for name, match in found.items() if match is not None}
    problems = []
    for file_name in adds:
        for rid, resource in resources.items():
            carries = [where for where, value in (("as its title", resource.get("title")),
                                                  ("in its download URL", download_file_name(resource)))
                       if value == file_name]
            if not carries:
                continue
            owner = matched_to.get(rid)
            taken = f" and is matched to {owner[0]} (by {owner[1]})" if owner else ""
            problems.append(f"{file_name} would be added as a new resource, but {_describe(resources, rid)} "
                            f"already carries that file name {' and '.join(carries)}{taken}")
    if problems:
        raise PlanRefusal("; ".join(problems) + ". Check the dataset's resources on the London Datastore (and the "
                          "ids recorded in publish/<dataset>/resource_ids.json) so that each file has one resource.")


def plan_publication(tables: Mapping[str, pd.DataFrame], contents: Mapping[str, bytes], dataset: dict,
                     known_ids: dict[str, str], held_back: Collection[str] = ()) -> list[FilePlan]:
    """Pure: what to do with each file (`contents`: file name -> the bytes sent) given the dataset's current
    resources, each file matched to its resource by match_resources; a matching hash means there is nothing to
    send; a table `held_back` is not sent at all. Raises PlanRefusal (before anything is sent) when the
    publication would add a file that a resource already carries, or cannot tell which resource a file is."""
    resources = dataset.get("resources") or {}
    found = match_resources(list(contents), resources, known_ids)
    plans = []
    for file_name, content in contents.items():
        name = Path(file_name).stem
        rid = found[file_name][0] if found[file_name] else None
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
    refuse_duplicates([p.file_name for p in plans if p.action == "add"], resources, found)
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
