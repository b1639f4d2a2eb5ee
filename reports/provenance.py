"""The provenance manifest of a report version (`provenance.json`): for every published file, its MD5, SHA-256,
size and rows, and the release and raw files it was derived from (source, archived path, URL, SHA-256,
Last-Modified, fetch time), with the code version and the dependency lock's hash. It is kept beside the version's
files, sent with every publish, and is what `make rebuild` rebuilds the version from (docs/operations.md,
"Provenance")."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata

import pandas as pd

from checks.published import PUBLISHED
from resources.settings import REPO_ROOT

FILE_NAME = "provenance.json"
LOCK_FILE = "requirements.lock"
PACKAGE = "london-covid-pipeline"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


@lru_cache(maxsize=1)
def code_version() -> dict[str, object]:
    """The code that is running: the git commit of the checkout (and whether tracked files differ from it), or,
    outside a git checkout, the installed package's version. Read once per process, when first asked: the code a
    process runs does not change under it."""
    commit = _git("rev-parse", "HEAD") if (REPO_ROOT / ".git").exists() else None
    try:
        package = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        package = None
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"git_commit": commit, "git_dirty": dirty, "package_version": package}


def lock_hash() -> str | None:
    """SHA-256 of the dependency lock the environment was installed from (None where it is not shipped)."""
    path = REPO_ROOT / LOCK_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def build_manifest(version: str, mode: str, tables: Mapping[str, pd.DataFrame], contents: Mapping[str, bytes]
                   ) -> dict[str, object]:
    """The manifest of the version made of `contents` (table name -> the published bytes) built from `tables`
    (which carry, in their attrs, the release and raw files of their source: assets/datastore_tables.py)."""
    files = []
    for name, content in contents.items():
        derived = tables[name].attrs.get("derived_from") or {}
        files.append({
            "file": PUBLISHED[name].file_name, "table": name, "rows": len(tables[name]), "bytes": len(content),
            "md5": hashlib.md5(content).hexdigest(), "sha256": hashlib.sha256(content).hexdigest(),
            "derived_from": [{"source": source, **facts} for source, facts in sorted(derived.items())],
        })
    return {
        "report_version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "code": code_version(),
        "dependency_lock": {"file": LOCK_FILE, "sha256": lock_hash()},
        "files": files,
    }


def manifest_bytes(manifest: Mapping[str, object]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def sources_of(manifest: Mapping[str, object]) -> dict[str, dict]:
    """Each source the version was built from, once: its release date and raw files."""
    sources: dict[str, dict] = {}
    for entry in manifest["files"]:
        for derived in entry["derived_from"]:
            sources.setdefault(derived["source"], derived)
    return sources
