"""Two real releases one after the other (the PHE downloads of 28 and 29 August 2020 for London and England, the
other sources' shipped releases beside them), then `make rebuild` of the first version: byte for byte, a tampered
raw file named, a changed code's first differing row named; the second report's revisions view. Expected values come
from the release files read with csv and hashlib, the version's published copies and git, never from the pipeline's
own helpers."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.publication.cases_report import cases_report
from assets.publication.datastore_tables import datastore_tables
from assets.sources import SOURCES
from pipelines.commands import rebuild as rebuild_command
from resources.report_store import ReportStore
from resources.settings import REPO_ROOT
from tests.conftest import (
    all_source_assets,
    base_url,
    failure_text,
    pipeline_resources,
    route_for,
    sample_response,
    serve_all_samples,
)
from tests.publishing import kept_csvs
from tests.service import copy_of_the_code

# Each runs the command as an analyst does, in a fresh process (make test-fast leaves these out).
pytestmark = pytest.mark.commands

ASSETS = [*all_source_assets(), datastore_tables, cases_report]
RELEASES = REPO_ROOT / "data" / "releases"
FIRST, SECOND = "2020-08-28", "2020-08-29"
REGION = SOURCES["phe_cases_by_region"]


def serve_release(server: HTTPServer, day: str) -> dict[str, str]:
    """London's and England's cases from the release of `day` (with its Last-Modified), every other source's
    shipped release; returns the base URL per upstream."""
    server.clear()
    for route_url, sample in REGION.sample_routes(base_url(server, "phe")).items():
        route, query = route_for(route_url)
        real = RELEASES / day / REGION.name / sample.name
        server.expect_request(route, query_string=query).respond_with_handler(
            lambda request, path=real: sample_response(path, request, day))
    return serve_all_samples(server)  # registered after: the release's routes answer first


def london_daily(day: str) -> dict[str, int]:
    with (RELEASES / day / REGION.name / "region_london.csv").open(newline="") as handle:
        return {row["Specimen date"]: int(row["Daily lab-confirmed cases"]) for row in csv.DictReader(handle)}


def report_version(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == dg.AssetKey("cases_report")]
    return event.materialization.metadata["report_version"].value


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory) -> tuple[Path, str, str]:
    """The storage after a nightly run of each release, and the two report versions."""
    storage = tmp_path_factory.mktemp("two_releases") / "storage"
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    instance = dg.DagsterInstance.ephemeral()
    versions = []
    try:
        for day in (FIRST, SECOND):
            result = dg.materialize(ASSETS, resources=pipeline_resources(storage, serve_release(server, day)),
                                    instance=instance, raise_on_error=False)
            assert result.success, failure_text(result)
            versions.append(report_version(result))
    finally:
        server.stop()
    assert versions[0] != versions[1]
    return storage, versions[0], versions[1]


def make_rebuild(storage: Path, version: str, home: Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage), "DAGSTER_HOME": str(home)}
    if cwd == REPO_ROOT:
        command = ["make", "-s", "rebuild", f"VERSION={version}"]
    else:  # another copy of the code, with the project's environment
        command = [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "pipelines.commands.rebuild", "--version",
                   version]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def published_files(storage: Path, version: str) -> dict[str, bytes]:
    return kept_csvs(storage / "reports" / "files" / version)


def test_make_rebuild_reproduces_the_first_version_byte_for_byte(two_releases, tmp_path: Path) -> None:
    storage, first, _ = two_releases
    # Asked for by its first characters, as git takes a commit's.
    done = make_rebuild(storage, first[:7], tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"rebuilding report version {first[:7]} ({first}) from the raw archive")
    assert lines[-1] == f"report_version: {first}"
    rebuilt = storage / "rebuilds" / first
    assert {path.name: path.read_bytes() for path in (rebuilt / "files" / first).glob("*.csv")} == published_files(
        storage, first)
    assert len(published_files(storage, first)) == 11
    # The rebuilt report, built from the first release's London figures, not the second's.
    html = (rebuilt / f"cases_report_{first}.html").read_text()
    # The release as a person writes the day (28 Aug 2020, from FIRST = "2020-08-28").
    assert "Only one release is kept so far (of 28 Aug 2020)" in " ".join(html.split())


def test_a_version_that_names_none_or_several_lists_what_can_be_rebuilt(two_releases, tmp_path: Path) -> None:
    storage, first, second = two_releases
    files = storage / "reports" / "files"
    with pytest.raises(rebuild_command.RebuildError) as unknown:
        rebuild_command.resolve_version("zz", storage)
    assert str(unknown.value).endswith(f"the newest that can be rebuilt: {second}, {first}")  # newest first
    # Two versions beginning alike (a copy of the first's record under a name that shares its first 6 characters).
    twin = first[:6] + "0" * 6 if first[6] != "0" else first[:6] + "1" * 6
    copy = tmp_path / "storage"
    shutil.copytree(files / first, copy / "reports" / "files" / twin)
    shutil.copytree(files / first, copy / "reports" / "files" / first)
    with pytest.raises(rebuild_command.RebuildError) as several:
        rebuild_command.resolve_version(first[:6], copy)
    assert str(several.value) == (f"report version {first[:6]} could be any of {', '.join(sorted([first, twin]))}: "
                                  "give more of it")
    assert rebuild_command.resolve_version(first[:7], copy) == first


def test_the_manifest_names_every_file_s_raw_release_and_the_code(two_releases) -> None:
    storage, first, _ = two_releases
    manifest = json.loads((storage / "reports" / "files" / first / "provenance.json").read_text())
    assert manifest["report_version"] == first
    published = published_files(storage, first)
    assert {entry["file"] for entry in manifest["files"]} == set(published)
    for entry in manifest["files"]:
        content = published[entry["file"]]
        rows = list(csv.reader(content.decode().splitlines()))
        assert (entry["md5"], entry["bytes"], entry["rows"]) == (
            hashlib.md5(content).hexdigest(), len(content), len(rows) - 1), entry["file"]
    [gla] = [e for e in manifest["files"] if e["file"] == "phe_cases_london_england.csv"]
    [derived] = gla["derived_from"]
    assert (derived["source"], derived["release_date"]) == (REGION.name, FIRST)
    released = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in (RELEASES / FIRST / REGION.name).iterdir()}
    assert sorted(raw["sha256"] for raw in derived["raw_files"]) == sorted(released.values())
    for raw in derived["raw_files"]:
        assert raw["url"].startswith("http://127.0.0.1:") and "28 Aug 2020" in raw["last_modified"]
        archived = gzip.decompress((storage / f"{raw['file']}.gz").read_bytes())  # kept compressed
        assert hashlib.sha256(archived).hexdigest() == raw["sha256"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    if head.returncode == 0:
        assert manifest["code"]["git_commit"] == head.stdout.strip()
    assert manifest["dependency_lock"]["sha256"] == hashlib.sha256(
        (REPO_ROOT / "requirements.lock").read_bytes()).hexdigest()


def test_each_release_is_kept_and_the_report_shows_a_revised_day_with_both_values(two_releases) -> None:
    storage, _, second = two_releases
    held = sorted(path.stem for path in (storage / "vintages" / REGION.name).glob("*.parquet"))
    assert held == [FIRST, SECOND]
    before, after = london_daily(FIRST), london_daily(SECOND)
    for day, figures in ((FIRST, before), (SECOND, after)):
        vintage = pd.read_parquet(storage / "vintages" / REGION.name / f"{day}.parquet")
        london = vintage[vintage.area_code == "E12000007"].set_index("date")["new_cases"]
        assert {f"{d:%Y-%m-%d}": int(v) for d, v in london.items()} == figures
    revised = sorted(day for day in before if before[day] != after[day])
    day = revised[-1]  # the most recent day the second release changed
    html = (storage / "reports" / f"cases_report_{second}.html").read_text()
    row = re.search(rf'data-testid="revised-day-{day}">(.*?)</tr>', html, re.S)[1]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    as_written = {iso: f"{d.day} {d:%b %Y}" for iso in (day, FIRST, SECOND) if (d := date.fromisoformat(iso))}
    assert cells[:5] == [as_written[day], as_written[FIRST], f"{before[day]:,}", as_written[SECOND],
                         f"{after[day]:,}"]
    assert f"{len(revised)} day{'' if len(revised) == 1 else 's'} revised" in re.sub(r"\s+", " ", html)


def test_a_rebuild_never_empties_a_folder_it_did_not_write(two_releases, tmp_path: Path) -> None:
    storage, first, _ = two_releases

    def rebuild_into(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "pipelines.commands.rebuild",
                               "--version", first, "--out", str(out)], cwd=REPO_ROOT,
                              env={**os.environ, "PIPELINE_DATA_DIR": str(storage)}, capture_output=True, text=True,
                              timeout=300)

    folder = tmp_path / "analysis"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    done = rebuild_into(folder)
    assert done.returncode == 1 and "is not empty and was not written by a rebuild" in done.stderr
    assert (folder / "notes.txt").read_text() == "mine"
    # An OUT inside a file: one line naming the setting (it was a traceback).
    out = folder / "notes.txt" / "rebuilt"
    refused = rebuild_into(out)
    assert refused.returncode == 1 and refused.stderr.splitlines() == [
        f"rebuild failed: the storage refused {out} (Not a directory): OUT ({out}) must be a folder this account can "
        "write, with room"]


def test_a_tampered_raw_file_fails_the_rebuild_naming_it(two_releases, tmp_path: Path) -> None:
    storage, first, _ = two_releases
    copy = tmp_path / "storage"
    shutil.copytree(storage, copy)
    manifest = json.loads((copy / "reports" / "files" / first / "provenance.json").read_text())
    [raw] = [raw for entry in manifest["files"] for derived in entry["derived_from"] for raw in derived["raw_files"]
             if raw["request"] == "region_london"][:1]
    tampered = copy / f"{raw['file']}.gz"  # the archive keeps it compressed
    tampered.write_bytes(gzip.compress(gzip.decompress(tampered.read_bytes()).replace(b",5,38919,", b",6,38919,")))
    done = make_rebuild(copy, first, tmp_path / "home")
    assert done.returncode != 0  # make's own status (2) for the command's exit 1
    assert str(tampered) in done.stderr and "has changed since version" in done.stderr
    assert f"report_version: {first}" not in done.stdout

    # Cut short instead (a disk that filled up, a copy interrupted): named as a file that cannot be read at all.
    tampered.write_bytes(tampered.read_bytes()[:200])
    done = make_rebuild(copy, first, tmp_path / "home")
    assert done.returncode != 0 and f"report_version: {first}" not in done.stdout
    [line] = [line for line in done.stderr.splitlines() if str(tampered) in line]
    assert "cannot be decompressed" in line and "restored from a backup" in line and "has changed" not in line


def test_code_that_builds_other_bytes_names_the_file_and_its_first_differing_row(two_releases, tmp_path) -> None:
    storage, first, _ = two_releases
    code = copy_of_the_code(tmp_path / "code")
    tables = code / "assets" / "publication" / "datastore_tables.py"
    source = tables.read_text()
    assert "* 100_000).round(1)" in source
    tables.write_text(source.replace("* 100_000).round(1)", "* 100_000).round(2)"))  # rates to 2 decimals
    done = make_rebuild(storage, first, tmp_path / "home", cwd=code)
    assert done.returncode == 1, done.stdout + done.stderr
    rebuilt_version = done.stdout.strip().splitlines()[-1].removeprefix("report_version: ")
    assert rebuilt_version != first
    name = "phe_cases_rates_london_boroughs.csv"
    published = published_files(storage, first)[name].decode().splitlines()
    rebuilt = (storage / "rebuilds" / first / "files" / rebuilt_version / name).read_bytes().decode().splitlines()
    row = next(i for i, (was, now) in enumerate(zip(published, rebuilt, strict=True)) if was != now)
    line = next(line for line in done.stdout.splitlines() if line.startswith(f"DIFFERS {name}"))
    assert f"first differing row {row}" in line and repr(published[row]) in line and repr(rebuilt[row]) in line
    assert "the version was built by code" in done.stdout


def test_a_damaged_kept_copy_is_mended_by_doing_what_its_message_says(two_releases, tmp_path: Path) -> None:
    """An earlier version's compressed copy cut short: the next report passes it over naming the file and the remedy;
    the remedy's command and copy, done as written, give the next report that version's published bytes again
    (checked against the SHA-256 its manifest recorded when it was published)."""
    storage, first, second = two_releases
    copy = tmp_path / "storage"
    shutil.copytree(storage, copy)
    name = "phe_cases_london_boroughs.csv"
    damaged = copy / "reports" / "files" / first / f"{name}.gz"
    damaged.write_bytes(damaged.read_bytes()[:300])
    store = ReportStore(copy / "reports")
    message = str(store.previous(second).passed_over[first])
    assert message.startswith(f"{damaged} could not be read (cannot be decompressed")

    command = re.search(r"\((make rebuild VERSION=\w+)\)", message)[1]
    done = make_rebuild(copy, command.removeprefix("make rebuild VERSION="), tmp_path / "home")
    assert done.returncode == 0 and "every file is byte for byte the published version's" in done.stdout, done.stderr
    source, target = re.search(r"copy (\S+) into (\S+)$", message).groups()
    shutil.copy(source, target)

    previous = store.previous(second)
    assert previous.version == first and not previous.passed_over
    manifest = json.loads((copy / "reports" / "files" / first / "provenance.json").read_text())
    sha256 = {entry["file"]: entry["sha256"] for entry in manifest["files"]}
    assert {file: hashlib.sha256(content).hexdigest() for file, content in previous.files.items()} == sha256
