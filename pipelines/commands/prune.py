"""`make prune`: remove what neither a published version nor the next night needs, and say what went.

Kept, always:
- every version published to the London Datastore (a `publish` line in `publish/<dataset>/audit.jsonl`): its report,
  published files and provenance manifest, and every raw file its manifest names, so
  `make rebuild VERSION=<v>` still proves it byte for byte;
- the newest report version (the next report says what changed since it) and every version built in the last
  `--keep-days` days (default PRUNE_KEEP_DAYS), with the raw files their manifests name;
- the raw files each source's `latest/` and `last_fetch.json` point at (the next fetch's validators, `replay`),
  every raw file archived in the last `--keep-days` days (a bad download kept as evidence included), and the past
  releases `make backfill` loaded (`raw/<source>/backfill-*`: the vintages' history);
- the vintages, the current tables, the publish records and `history.json` (a removed version stays listed there,
  and the report index no longer links it).

Removed: older report versions that were never published (page, files, a rebuild of them), raw files older than
the window that nothing above names (with their sidecars), rebuilds older than the window, write leftovers
(`.tmp-*`) older than a day, and `reports/snapshots/` (each version's tables as Parquet, which earlier code kept).
A version built before provenance manifests existed names no raw files: while one is kept, no raw file is removed
(said in one line).

Dagster's run history (the instance DAGSTER_HOME names, or a running `make serve`'s on the same data) is pruned
with the same window: finished runs created before it go, with their events, their steps' captured output and, on
the local SQLite instance, their event log files, except the runs that hold an asset's latest materialization or an
asset check's latest evaluation (what the UI's asset pages show as the current state). Runs still queued or going
are never touched. The publish audit and each version's provenance, not Dagster's history, are the record of what
was published.

`--dry-run` lists the same and removes nothing. The last line is `prune: removed N paths, X MB` (or `would remove`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

from pipelines.commands import exit_with
from pipelines.definitions import build_definitions
from pipelines.service.supervisor import join_running_service
from reports.serve import publications
from resources.files import compressed, disk_bytes, read_json
from resources.report_store import ReportStore
from resources.settings import data_dir, number, service_home

MANIFEST_REMEDY = "a version's provenance manifest; restore it from a backup, or rebuild the version first"


@dataclass
class PrunePlan:
    kept_versions: dict[str, str] = field(default_factory=dict)  # version -> why it is kept
    removed_versions: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # files and folders to remove
    notes: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return freed_bytes(self.paths)


def freed_bytes(paths: Sequence[Path]) -> int:
    """What removing `paths` (files and folders) frees: a file counts once, and only when every name it has goes with
    them (a report CSV a kept version shares by hard link frees nothing)."""
    names: Counter[tuple[int, int]] = Counter()
    stats: dict[tuple[int, int], os.stat_result] = {}
    for path in paths:
        for file in (path.rglob("*") if path.is_dir() else [path]):
            if file.is_file():
                stat = file.stat()
                names[stat.st_dev, stat.st_ino] += 1
                stats[stat.st_dev, stat.st_ino] = stat
    return sum(stat.st_size for key, stat in stats.items() if names[key] >= stat.st_nlink)


def published_versions(storage: Path) -> set[str]:
    found: set[str] = set()
    for audit in sorted((storage / "publish").glob("*/audit.jsonl")):
        found |= set(publications(audit))
    return found


def plan_prune(storage: Path, keep_days: int, today: date) -> PrunePlan:
    """What `make prune` keeps and removes in `storage` on `today` (pure: nothing is touched)."""
    plan = PrunePlan()
    store = ReportStore(storage / "reports")
    cutoff = today - timedelta(days=keep_days)
    published = published_versions(storage)
    versions = store.versions()  # newest build first
    for rank, entry in enumerate(versions):
        version, built = entry["version"], date.fromisoformat(entry.get("rendered_at", "1970-01-01")[:10])
        why = ("published" if version in published else "the newest" if rank == 0
               else "recent" if built > cutoff else "")
        if why:
            plan.kept_versions[version] = why
            continue
        plan.removed_versions.append(version)
        plan.paths += [path for path in (store.report_path(version), store.files_folder(version),
                                         storage / "rebuilds" / version)
                       if path.exists()]
    # Each version's tables as Parquet, kept by earlier code beside the same rows as its CSVs: nothing reads them now
    # (the next report compares with the previous version's CSVs).
    if (store.root / "snapshots").is_dir():
        plan.paths.append(store.root / "snapshots")
        plan.notes.append("reports/snapshots/ holds each version's tables as Parquet, kept by earlier code beside the "
                          "same rows as its CSVs; nothing reads it now, so it goes whole")
    plan.paths += [folder for folder in sorted((storage / "rebuilds").glob("*")) if folder.is_dir()
                   and folder.name not in plan.kept_versions and folder not in plan.paths
                   and datetime.fromtimestamp(folder.stat().st_mtime, UTC).date() <= cutoff]
    plan.paths += raw_to_remove(storage, store, plan, cutoff)
    day_ago = time.time() - 86_400
    plan.paths += [leftover for leftover in sorted(storage.rglob(".tmp-*"))
                   if leftover.is_file() and leftover.stat().st_mtime < day_ago]
    return plan


def raw_to_remove(storage: Path, store: ReportStore, plan: PrunePlan, cutoff: date) -> list[Path]:
    """Raw files (with their sidecars) older than the window that no kept version, pointer or backfill names."""
    needed: set[str] = set()
    for version in plan.kept_versions:
        manifest = store.files_folder(version) / "provenance.json"
        if not manifest.exists():
            plan.notes.append(f"version {version} has no provenance manifest (built before they existed): it names "
                              "no raw files, so no raw file is removed")
            return []
        for entry in read_json(manifest, MANIFEST_REMEDY)["files"]:
            needed |= {raw["file"] for derived in entry["derived_from"] for raw in derived["raw_files"]}
    for pointer in (storage / "raw").glob("*/latest/*.json"):
        needed.add(read_json(pointer, "a source's latest pointer; delete it and the next run downloads again")["path"])
    for record in (storage / "raw").glob("*/last_fetch.json"):
        needed |= {entry["path"] for entry in read_json(record, "the files of a source's last good release")}
    removed = []
    for day_folder in sorted((storage / "raw").glob("*/*")):
        try:
            day = date.fromisoformat(day_folder.name)
        except ValueError:  # latest/, backfill-<date>/ and the records: kept
            continue
        if day > cutoff:
            continue
        for sidecar in sorted(day_folder.glob("*.json")):
            logical = sidecar.with_suffix("")
            if str(logical.relative_to(storage)) in needed:
                continue
            removed += [path for path in (logical, compressed(logical), sidecar,
                                          logical.with_name(logical.name + ".sightings.jsonl")) if path.exists()]
    return removed


FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass(frozen=True)
class OldRun:
    run_id: str
    job_name: str
    created: datetime
    database: Path | None  # its event log's own database, where the instance keeps one per run (SQLite)
    step_logs: Path | None  # the folder of its steps' captured stdout and stderr, where kept on this disk
    bytes: int  # of both, when it was listed


def current_runs(instance: dg.DagsterInstance, check_keys: Sequence[dg.AssetCheckKey]) -> set[str]:
    """The runs whose events are the current state the UI shows: each asset's latest materialization and each asset
    check's latest evaluation."""
    latest = instance.get_latest_materialization_events(instance.get_asset_keys())
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    return {event.run_id for event in latest.values() if event} | {record.run_id for record in checks.values()}


def old_runs(instance: dg.DagsterInstance, before: datetime, keep: set[str]) -> list[OldRun]:
    """Finished runs created before `before`, oldest first, leaving out those in `keep`."""
    records = instance.get_run_records(dg.RunsFilter(statuses=list(FINISHED), created_before=before), ascending=True)
    events = instance.event_log_storage
    runs = []
    for record in records:
        run = record.dagster_run
        if run.run_id in keep:
            continue
        database = Path(events.path_for_shard(run.run_id)) if isinstance(events, SqliteEventLogStorage) else None
        logs = step_logs(instance, run.run_id)
        held = [*database_files(database), *([logs] if logs else [])]
        runs.append(OldRun(run.run_id, run.job_name, record.create_timestamp, database, logs,
                           sum(disk_bytes(path) for path in held)))
    return runs


def database_files(database: Path | None) -> list[Path]:
    """A run's SQLite database with its write-ahead log and shared-memory files (none without a database)."""
    if database is None:
        return []
    return [database, *(database.with_name(database.name + end) for end in ("-wal", "-shm"))]


def step_logs(instance: dg.DagsterInstance, run_id: str) -> Path | None:
    """Where the run's steps' stdout and stderr are, when Dagster keeps them in files here (its default)."""
    manager = instance.compute_log_manager
    if not isinstance(manager, LocalComputeLogManager):
        return None
    return Path(manager.get_captured_local_path([run_id, "any step"], "out")).parent


def delete_runs(instance: dg.DagsterInstance, runs: Sequence[OldRun]) -> None:
    """Delete each run with its events, its SQLite database and its steps' captured output (Dagster's delete_run
    leaves both files). The files go first, so a prune stopped midway leaves a run the next prune finds again rather
    than files no run names; the database goes again after, as deleting the events opens (creates) it anew."""
    for run in runs:
        for path in database_files(run.database):
            path.unlink(missing_ok=True)
        instance.compute_log_manager.delete_logs(prefix=[run.run_id])
        instance.delete_run(run.run_id)
        for path in database_files(run.database):
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class History:
    """The Dagster run history a prune trims: notes on whose it is, and the asset checks whose latest evaluations
    keep their runs (None: there is no history to prune, and the notes say why)."""

    notes: list[str]
    check_keys: list[dg.AssetCheckKey] | None


def history_to_prune() -> History:
    """Whose run history to prune: the running `make serve`'s on these data, else DAGSTER_HOME's. The definitions are
    loaded here, before anything is removed, so a setting they cannot use stops the whole prune, not half of it."""
    notes = []
    if (ui_url := join_running_service(service_home(), data_dir())) is not None:
        notes.append(f"note: make serve is running on these data: its run history is pruned (its UI: {ui_url})")
    elif not os.environ.get("DAGSTER_HOME"):
        return History(["note: DAGSTER_HOME is not set, so Dagster's run history was left as it is"], None)
    elif not Path(os.environ["DAGSTER_HOME"]).is_dir():
        return History([f"note: DAGSTER_HOME={os.environ['DAGSTER_HOME']} is not a folder, so no Dagster run "
                        "history was pruned"], None)
    return History(notes, list(build_definitions().resolve_asset_graph().asset_check_keys))


def prune_runs(keep_days: int, dry_run: bool, history: History) -> list[str]:
    """`history`'s runs older than the window (see the module's docstring): what went, one line each, and a summary
    line; the notes alone when there is no history to prune."""
    notes, check_keys = history.notes, history.check_keys
    if check_keys is None:
        return notes
    verb = "would remove" if dry_run else "removed"
    with dg.DagsterInstance.get() as instance:
        kept = current_runs(instance, check_keys)
        runs = old_runs(instance, datetime.now(UTC) - timedelta(days=keep_days), kept)
        files = isinstance(instance.event_log_storage, SqliteEventLogStorage)
        if not dry_run:
            delete_runs(instance, runs)
    lines = [f"  {verb} run {run.run_id} ({run.job_name}, {run.created:%Y-%m-%d %H:%M} UTC)" for run in runs]
    held = f"; kept {len(kept)} holding an asset's or a check's latest result" if kept else ""
    plural = {"run": "run" if len(runs) == 1 else "runs", "day": "day" if keep_days == 1 else "days"}
    freed = f"{sum(run.bytes for run in runs) / 1e6:.1f} MB of " + (
        "event and step logs" if files else "step logs; their events deleted from the instance's database, which "
                                            "reuses the space")
    return [*notes, *lines, f"Dagster history: {verb} {len(runs)} finished {plural['run']} older than {keep_days} "
                    f"{plural['day']}, {freed}{held}"]


def remove(plan: PrunePlan) -> None:
    for path in plan.paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for folder in {path.parent for path in plan.paths}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # an emptied day folder of the raw archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-days", type=int, default=None,
                        help="keep every version built, raw file archived and Dagster run started in this many "
                             "last days (default PRUNE_KEEP_DAYS)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    args = parser.parse_args(argv)
    keep_days = int(number("PRUNE_KEEP_DAYS")) if args.keep_days is None else args.keep_days
    if keep_days < 0:
        parser.error("--keep-days cannot be negative")
    storage = data_dir()
    history = history_to_prune()
    plan = plan_prune(storage, keep_days, datetime.now(UTC).date())
    by_reason: dict[str, list[str]] = {}
    for version, why in plan.kept_versions.items():
        by_reason.setdefault(why, []).append(version)
    kept = "; ".join(f"{why} {', '.join(versions)}" for why, versions in by_reason.items())
    print(f"prune {storage}, keeping {keep_days} days: kept versions {kept or '(none: no report version is stored)'}")
    for note in plan.notes:
        print(f"note: {note}")
    verb = "would remove" if args.dry_run else "removed"
    if plan.removed_versions:
        print(f"{verb} versions never published: {', '.join(plan.removed_versions)}")
    total = plan.bytes
    for path in plan.paths:
        print(f"  {verb} {path.relative_to(storage)}")
    if not args.dry_run:
        remove(plan)
    for line in prune_runs(keep_days, args.dry_run, history):
        print(line)
    print(f"prune: {verb} {len(plan.paths)} {'path' if len(plan.paths) == 1 else 'paths'}, {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    exit_with(main)
