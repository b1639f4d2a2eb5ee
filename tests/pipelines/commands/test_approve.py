"""`make run` then `make approve`, in fresh processes as an analyst runs them, against the Datastore stand-in:
what they print, what they refuse, and what reaches the Datastore."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from resources.settings import REPO_ROOT
from tests.conftest import live_environment, serve_all_samples
from tests.processes import approve, fresh_environment, nightly, one_message
from tests.publishing import GLA_RESOURCES, HELD_BACK, SENT, preload_gla

# Each runs the command as an analyst does, in a fresh process (make test-fast leaves these out).
pytestmark = pytest.mark.commands


def test_sample_data_cannot_be_approved_but_can_be_rehearsed(tmp_path: Path, standin: StandIn) -> None:
    env = fresh_environment(tmp_path, standin)
    printed, version = nightly(env)
    lines = printed.strip().splitlines()
    # make run says the data are samples and what to do next, above its two last lines, which stay as they were.
    assert "SHIPPED SAMPLE DATA" in printed and "PIPELINE_MODE=live make run" in printed
    assert f'make approve BY="<your name>" VERSION={version} DRY_RUN=storage/dry-run' in printed
    report = Path(lines[-2].removeprefix("report: "))
    assert lines[-2].startswith("report: ") and report.is_file() and str(report) in printed.split("next:")[1]

    no_key = approve(env, version)
    assert no_key.returncode == 2 and "LDS_API_KEY is not set" in one_message(no_key)

    env["LDS_API_KEY"] = KEY
    wrong = approve(env, "000000000000")
    message = one_message(wrong)
    assert wrong.returncode == 1 and message.count("Refusing to publish") == 1
    assert f"the tables stored now are version '{version}'" in message

    refused = approve(env, version)
    message = one_message(refused)
    assert refused.returncode == 1 and message.count("Refusing to publish") == 1
    assert f"report version {version} was built from the shipped sample data" in message
    assert "Nothing was sent" in message and KEY not in message
    assert standin.log == []  # not even a read

    # The full log, on request: Dagster's error lines with the stack trace down to the refusal in our code. Not
    # "STEP_FAILURE" alone: one CI run printed only the run's failure (which carries the same error and stack
    # trace), which 43 tries here did not reproduce; the head of the output is kept for the next one.
    verbose = approve({**env, "VERBOSE": "1"}, version)
    shown = verbose.stdout + verbose.stderr
    assert verbose.returncode == 1 and "dagster - ERROR - publish" in shown, shown[:3000]
    assert "Stack Trace:" in shown and "Refusing to publish" in shown, shown[:3000]

    folder = tmp_path / "dry-run"
    dry = approve(env, version, "--dry-run", str(folder))
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert dry.stdout.startswith("dry run: nothing was sent to the London Datastore. "
                                 f"Report version {version} approved by Ana Analyst: 12 file(s)")
    assert standin.log == []
    [run_folder] = [p for p in folder.iterdir() if p.is_dir() and p.name != "state"]
    sent = {path.name.split("_", 1)[1]: path.read_bytes()  # "03_<file>"
            for path in [*run_folder.glob("*.csv"), *run_folder.glob("*.json")] if path.name != "requests.jsonl"}
    assert len(sent) == 12  # the 11 tables and the version's provenance.json
    # The files kept next to the report, for the analyst to open before approving, are exactly the bytes sent.
    kept = report.parent / "files" / version
    assert {path.name: path.read_bytes() for path in kept.iterdir()} == sent
    # The retired sources' files are among the 12 rehearsed, so the one line and held_back.txt beside
    # requests.jsonl say that a real publish would hold them back, and why.
    line = dry.stdout.strip()
    assert "\n" not in line and KEY not in dry.stdout + dry.stderr
    assert (f"A real publish would refuse this version and send nothing (it was built from the shipped sample data); "
            f"built from live releases, it would hold back {len(HELD_BACK)} file(s): ") in line
    assert all(file_name in line for file_name in HELD_BACK) and "the Datastore keeps its copy" in line
    reasons = dict(row.removeprefix("held back: ").split(" — ", 1)
                   for row in (run_folder / "held_back.txt").read_text().splitlines() if row.startswith("held back: "))
    assert set(reasons) == HELD_BACK and HELD_BACK <= set(sent)
    assert all(why.endswith("the Datastore keeps its copy") for why in reasons.values())


def test_a_live_build_from_local_servers_is_approved_and_published(tmp_path: Path, standin: StandIn,
                                                                   httpserver: HTTPServer) -> None:
    env = fresh_environment(tmp_path, standin) | live_environment(serve_all_samples(httpserver))
    printed, version = nightly(env)
    assert "SHIPPED SAMPLE DATA" not in printed
    assert f'2. approve it: make approve BY="<your name>" VERSION={version}\n' in printed

    preload_gla(standin)  # the dataset as the GLA left it: its five files, the boroughs' with an API table
    env["LDS_API_KEY"] = KEY
    approved = approve(env, version)
    assert approved.returncode == 0, approved.stdout[-2000:] + approved.stderr[-2000:]
    assert approved.stdout.startswith(f"published report version {version} approved by Ana Analyst to {standin.url}")
    assert f"{len(SENT)} file(s) sent, 0 unchanged, {len(HELD_BACK)} held back" in approved.stdout
    assert KEY not in approved.stdout + approved.stderr

    # The GLA's files replaced in place with the GLA's header lines, or held back as the GLA left them; ours added.
    resources = standin.resources()
    assert sorted(r["title"] for r in resources.values()) == sorted({*GLA_RESOURCES, *SENT})
    for title, (resource_id, _) in GLA_RESOURCES.items():
        real = (REPO_ROOT / "data" / "reference" / "gla_published" / title).read_bytes()
        sent = standin.content[(standin.dataset, resource_id)]
        assert resources[resource_id]["title"] == title
        assert sent.splitlines()[0] == real.splitlines()[0], title
        assert (sent == real) == (title in HELD_BACK), title
    assert len(standin.table_rows("s8c9t_j4fs2")) == sent_rows(standin, "151e497c")

    uploads = len(standin.uploads())
    again = approve(env, version)
    assert again.returncode == 0 and f"0 file(s) sent, {len(SENT)} unchanged" in again.stdout
    assert len(standin.uploads()) == uploads


def sent_rows(standin: StandIn, resource_id: str) -> int:
    return len(standin.content[(standin.dataset, resource_id)].splitlines()) - 1


def test_a_name_left_unquoted_sends_nothing(tmp_path: Path, standin: StandIn, built_from_samples: str) -> None:
    """`make approve BY=Nina Newcomer VERSION=...` as typed: make would have published as "Nina" and then failed on
    the goal "Newcomer"; now nothing starts, and the message says how to quote the name. (The build approved is a
    copy of what make run leaves: tests.conftest `built_from_samples`.)"""
    env = fresh_environment(tmp_path, standin)
    version = built_from_samples
    env["LDS_API_KEY"] = KEY
    dry_run = tmp_path / "dry-run"
    for command in (["BY=Nina", "Newcomer", f"VERSION={version}"],
                    ["BY=Nina", "Newcomer", f"VERSION={version}", f"DRY_RUN={dry_run}"]):
        typed = subprocess.run(["make", "-s", "approve", *command], cwd=REPO_ROOT, env=env, capture_output=True,
                               text=True, timeout=120)
        assert typed.returncode == 2
        assert ('does not know "Newcomer": a name or value with a space must be quoted, e.g. make approve '
                'BY="Nina Newcomer"') in typed.stderr
    assert standin.log == [] and not dry_run.exists()
    # A DRY_RUN folder inside a file is named as it was typed (it was named as LDS_DRY_RUN_DIR, the variable it sets).
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    refused = subprocess.run(["make", "-s", "approve", "BY=Nina", f"VERSION={version}", f"DRY_RUN={blocker}/dry"],
                             cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and refused.stderr.splitlines()[0] == (
        f"DRY_RUN='{blocker}/dry' is not a folder: {blocker} is a file: fix the setting (docs/operations.md, "
        "\"Settings\") and run the command again.")
    assert standin.log == []
    quoted = subprocess.run(["make", "-s", "approve", "BY=Nina O'Newcomer", f"VERSION={version}",
                             f"DRY_RUN={dry_run}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert quoted.returncode == 0, quoted.stderr
    assert "approved by Nina O'Newcomer" in quoted.stdout
