"""`make replay` lives real nights again: nine nights of PHE's summer 2020 downloads (data/releases/, two eras of the
download's format and three nights with no release), each through the nightly job and a rehearsed approval. Expected
values come from each night's raw file, read here with the csv module."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from resources.settings import REPO_ROOT
from tests.processes import instance_at
from tests.publishing import kept_csvs

pytestmark = pytest.mark.commands

RELEASES = REPO_ROOT / "data" / "releases"
FIRST, LAST = date(2020, 7, 28), date(2020, 8, 5)  # 08-01 to 08-03: nights with no release
NIGHTS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
CITY, HACKNEY = "E09000001", "E09000012"


def replay(cwd: Path, storage: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIPELINE_DATA_DIR": str(storage), "DAGSTER_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pipelines.commands.replay", str(RELEASES), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)


def dagster_home(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "config" / "dagster.yaml", folder / "dagster.yaml")
    return folder


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    tmp = tmp_path_factory.mktemp("replay")
    home = dagster_home(tmp / "home")
    done = replay(REPO_ROOT, tmp / "storage", home, "--from", f"{FIRST}", "--to", f"{LAST}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    nights_csv = Path(done.stdout.strip().splitlines()[-1].removeprefix("replay: "))
    return done, nights_csv, home


def held_release(night: date, source: str) -> date:
    """The newest release of `source` in data/releases on or before `night`, found from the folder names."""
    return max(day for folder in RELEASES.iterdir() if (day := date.fromisoformat(folder.name)) <= night
               and (folder / source).is_dir())


def raw_london_boroughs(night: date) -> dict[tuple[str, str], int]:
    """(area code, date) -> cases, from the night's upper-tier file read with csv: City of London added to Hackney
    (PHE's 32 areas), a day without a line had no cases."""
    path = RELEASES / f"{held_release(night, 'phe_cases_by_utla')}" / "phe_cases_by_utla" / "utla_all.csv"
    cases: dict[tuple[str, str], int] = defaultdict(int)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = HACKNEY if row["Area code"] == CITY else row["Area code"]
            assert row["Daily lab-confirmed cases"].strip(), row  # no day left blank in these nights
            cases[(code, row["Specimen date"])] += int(float(row["Daily lab-confirmed cases"]))
    return cases


def raw_london(night: date) -> dict[str, int]:
    path = RELEASES / f"{night}" / "phe_cases_by_region" / "region_london.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["Specimen date"]: int(float(row["Daily lab-confirmed cases"])) for row in csv.DictReader(handle)}


def test_one_line_a_night_and_the_nights_table(replayed) -> None:
    done, nights_csv, _ = replayed
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == f"replay: {nights_csv}"
    for night in NIGHTS:
        assert sum(line.startswith(f"{night}  ") for line in lines) == 1, night
    with nights_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["night"] for row in rows] == [f"{night}" for night in NIGHTS]
    assert {"night", "report_version", "seconds", "warnings", "files_sent", "raw_bytes", "tables_bytes",
            "vintages_bytes", "reports_bytes", "dagster_bytes"} <= set(rows[0])
    assert (nights_csv.parent / "nights.html").stat().st_size > 100_000  # the chart, plotly inlined
    # A night with no release changes nothing: the same version, nothing sent, and no new raw bytes.
    by_night = {row["night"]: row for row in rows}
    for quiet in ("2020-08-01", "2020-08-02", "2020-08-03"):
        assert by_night[quiet]["new_releases"] == ""
        assert by_night[quiet]["report_version"] == by_night["2020-07-31"]["report_version"]
        assert by_night[quiet]["files_sent"] == "0"
        # Only the record of the fetch changes (its files are now marked unchanged): no release is archived again.
        assert 0 <= int(by_night[quiet]["raw_bytes"]) - int(by_night["2020-07-31"]["raw_bytes"]) < 100
    assert by_night["2020-08-04"]["new_releases"] == "phe_cases_by_region phe_cases_by_utla"


def test_every_night_publishes_the_boroughs_its_raw_file_holds(replayed) -> None:
    _, nights_csv, _ = replayed
    data = nights_csv.parent / "data"
    with nights_csv.open(newline="") as handle:
        versions = {date.fromisoformat(row["night"]): row["report_version"] for row in csv.DictReader(handle)}
    for night in NIGHTS:
        raw = raw_london_boroughs(night)
        published = kept_csvs(data / "reports" / "files" / versions[night])["phe_cases_london_boroughs.csv"]
        rows = list(csv.DictReader(io.StringIO(published.decode("utf-8"), newline="")))
        first = min(day for _, day in raw)
        last = max(day for _, day in raw)
        codes = {code for code, _ in raw}
        assert len(codes) == 32 and CITY not in codes
        assert len(rows) == 32 * ((date.fromisoformat(last) - date.fromisoformat(first)).days + 1), night
        totals: dict[str, int] = defaultdict(int)
        for row in rows:
            expected = raw.get((row["area_code"], row["date"]), 0)
            assert int(row["new_cases"]) == expected, (night, row)
            totals[row["area_code"]] += expected
        assert {row["area_code"]: int(row["total_cases"]) for row in rows if row["date"] == last} == totals


def test_every_release_is_kept_and_the_last_report_shows_a_revised_day(replayed) -> None:
    _, nights_csv, _ = replayed
    data = nights_csv.parent / "data"
    releases = sorted({held_release(night, "phe_cases_by_region") for night in NIGHTS})
    held = sorted(date.fromisoformat(p.stem) for p in (data / "vintages" / "phe_cases_by_region").glob("*.parquet"))
    assert held == releases  # one vintage per release, none for the nights without one
    first, last = raw_london(releases[0]), raw_london(releases[-1])
    revised = sorted(day for day in first if day in last and first[day] != last[day])
    day = revised[-1]
    with nights_csv.open(newline="") as handle:
        last_version = list(csv.DictReader(handle))[-1]["report_version"]
    html = (data / "reports" / f"cases_report_{last_version}.html").read_text(encoding="utf-8")
    row = re.search(rf'data-testid="revised-day-{day}">(.*?)</tr>', html, re.S)[1]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[1] == f"{releases[0].day} {releases[0]:%b %Y}"
    assert cells[2] == f"{first[day]:,}" and cells[4] == f"{last[day]:,}"
    assert "for the night of 5 Aug 2020 (replayed" in html


def test_the_nights_ran_on_the_users_instance_dated_to_the_night(replayed) -> None:
    _, nights_csv, home = replayed
    with instance_at(home) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"replay": nights_csv.parent.name}))
    nights = sorted({run.tags["replay/night"] for run in runs})
    assert nights == [f"{night}" for night in NIGHTS]
    assert {run.job_name for run in runs} == {"nightly", "publish"}
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)


def test_against_another_version_names_what_it_would_publish_differently(tmp_path: Path) -> None:
    """A copy of the project under git whose branch `rounded` rounds the borough rates to whole numbers: replayed
    against it, the rates files' differing rows are named and the exit status is 1; against HEAD nothing differs."""
    code = tmp_path / "code"
    for part in ("pipelines", "assets", "resources", "checks", "reports"):
        shutil.copytree(REPO_ROOT / part, code / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("config", "data"):
        (code / part).symlink_to(REPO_ROOT / part)
    git = ["git", "-C", str(code), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "the code as it is"], check=True)
    tables = code / "assets" / "publication" / "datastore_tables.py"
    text = tables.read_text()
    assert "* 100_000).round(1)" in text
    subprocess.run([*git, "checkout", "-qb", "rounded"], check=True)
    tables.write_text(text.replace("* 100_000).round(1)", "* 100_000).round(0)"))
    subprocess.run([*git, "commit", "-qam", "round the rates"], check=True)
    subprocess.run([*git, "checkout", "-q", "-"], check=True)

    night = ("--from", "2020-07-31", "--to", "2020-07-31")
    differs = replay(code, tmp_path / "s1", dagster_home(tmp_path / "h1"), *night, "--against", "rounded")
    assert differs.returncode == 1, differs.stdout[-3000:] + differs.stderr[-3000:]
    out = differs.stdout
    assert "AGAINST rounded: published bytes differ on 1 night(s)" in out
    line = next(line for line in out.splitlines() if "phe_cases_rates_london_boroughs.csv:" in line)
    changed = int(re.search(r"(\d+) changed", line)[1])
    assert changed > 0 and "0 row(s) added, 0 removed" in line
    assert re.search(r"first differing row \d+: rounded '.*', this code '.*'", line)
    assert "phe_cases_london_boroughs.csv:" not in out  # the GLA's borough file has no rates: unchanged

    same = replay(code, tmp_path / "s2", dagster_home(tmp_path / "h2"), *night, "--against", "HEAD")
    assert same.returncode == 0, same.stdout[-3000:] + same.stderr[-3000:]
    assert "AGAINST HEAD: no published byte differs over 1 night(s)" in same.stdout
    assert not subprocess.run(["git", "-C", str(code), "worktree", "list", "--porcelain"], capture_output=True,
                              text=True).stdout.count("worktree ") - 1  # the other code's worktree is removed


def test_the_rates_files_count_a_day_the_release_left_out_as_no_cases(replayed) -> None:
    """PHE's 2020 downloads left out the days an area had no cases; our rates file lists them as 0, so its 7-day
    sums are whole (the GLA's borough file always did)."""
    _, nights_csv, _ = replayed
    night = date(2020, 7, 31)  # the July downloads leave such days out; August's list them as 0
    with nights_csv.open(newline="") as handle:
        version = next(row for row in csv.DictReader(handle) if row["night"] == f"{night}")["report_version"]
    published = kept_csvs(nights_csv.parent / "data" / "reports" / "files" / version)
    rates = pd.read_csv(io.BytesIO(published["phe_cases_rates_london_boroughs.csv"]), dtype={"area_code": str})
    raw = raw_london_boroughs(night)
    left_out = [(code, day) for code in {c for c, _ in raw} for day in pd.date_range(
        min(d for c, d in raw if c == code), max(d for c, d in raw if c == code)).strftime("%Y-%m-%d")
        if (code, day) not in raw]
    assert left_out  # the release does leave days out
    rows = rates.set_index(["area_code", "date"])
    for key in left_out:
        assert rows.loc[key, "new_cases"] == 0, key
    assert rates["rolling_7day_cases"].notna().sum() == len(rates) - 6 * 32  # empty only for each area's first 6


def test_a_stop_during_the_nights_ends_the_replay_saying_how_far_it_got(tmp_path: Path) -> None:
    """SIGTERM (`kill`, or make passing its own on) once the first night is done, so that it lands in the second
    night's run: the replay stops there (it used to take the stop as that run's failure and go on to the last night),
    says how many nights it replayed, keeps them in nights.csv, and leaves no run marked as still going."""
    home = dagster_home(tmp_path / "home")
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "storage"), "DAGSTER_HOME": str(home)}
    replaying = subprocess.Popen([sys.executable, "-m", "pipelines.commands.replay", str(RELEASES), "--from",
                                  f"{FIRST}", "--to", f"{LAST}"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        for line in replaying.stdout:
            if line.startswith(f"{FIRST}  "):
                break
        replaying.send_signal(signal.SIGTERM)
        rest, err = replaying.communicate(timeout=120)
    finally:
        replaying.kill()
    assert replaying.returncode == 130, rest + err
    said = re.fullmatch(r"replay: stopped, (\d+) of (\d+) night\(s\) replayed, kept in (.+)",
                        err.strip().splitlines()[-1])
    assert said, err
    with Path(said[3]).open(newline="") as handle:
        kept = list(csv.DictReader(handle))
    assert int(said[2]) == len(NIGHTS) and int(said[1]) == len(kept) < len(NIGHTS)
    assert [row["night"] for row in kept] == [f"{night}" for night in NIGHTS[:len(kept)]]
    with instance_at(home) as instance:
        statuses = {run.status for run in instance.get_runs()}
    assert statuses <= {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}, statuses
