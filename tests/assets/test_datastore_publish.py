"""Publishing against the local London Datastore stand-in: approval, idempotence, refusals, faults, the key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer

from assets.cases_report import cases_report
from assets.datastore_publish import datastore_publish
from assets.datastore_tables import datastore_tables
from checks.published import PUBLISHED, fingerprint, to_csv_bytes
from resources.datastore import DryRunDatastore, LondonDatastore
from tests.assets.test_cases_report import revised_london_file
from tests.conftest import all_source_assets, failure_text, pipeline_resources, serve_all_samples
from tests.datastore_standin import StandIn

ASSETS = [*all_source_assets(), datastore_tables, cases_report, datastore_publish]
KEY = "lds-test-key-5f1c2b9e-not-a-real-secret"


@pytest.fixture
def standin(make_standin) -> StandIn:
    return make_standin(KEY)


@pytest.fixture
def built(httpserver: HTTPServer, data_dir: Path) -> str:
    """A nightly run's tables and report in data_dir; returns the report version."""
    result = dg.materialize(ASSETS[:-1], resources=pipeline_resources(data_dir, serve_all_samples(httpserver)),
                            raise_on_error=False)
    assert result.success, failure_text(result)
    return stored_version(data_dir)


def stored_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in (data_dir / "tables" / "datastore_tables").glob("*.parquet")}


def stored_version(data_dir: Path) -> str:
    return fingerprint(stored_tables(data_dir))


def real_target(standin: StandIn, data_dir: Path, **settings) -> LondonDatastore:
    return LondonDatastore(base_url=standin.url, dataset=standin.dataset, api_key=dg.EnvVar("LDS_API_KEY"),
                           state_dir=str(data_dir / "publish"), backoff_base_s=0.01, read_timeout_s=5, **settings)


def publish(data_dir: Path, target, version: str, by: str = "Ana Analyst", instance=None):
    resources = {**pipeline_resources(data_dir, "http://127.0.0.1:9/unused"), "datastore": target}
    return dg.materialize(
        ASSETS, selection=[datastore_publish], resources=resources, instance=instance, raise_on_error=False,
        run_config={"ops": {"datastore_publish": {"config": {"approved_by": by, "report_version": version}}}},
    )


def publish_metadata(result) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("LDS_API_KEY", KEY)


def test_approved_publish_uploads_every_table_once_then_nothing(built: str, standin: StandIn, data_dir: Path):
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert result.success, failure_text(result)
    assert standin.titles() == sorted(f"{name}.csv" for name in PUBLISHED)
    assert len(standin.uploads()) == len(PUBLISHED)
    tables = stored_tables(data_dir)
    for resource in standin.resources().values():
        assert resource["hash"] == hashlib.md5(to_csv_bytes(tables[resource["title"][:-4]])).hexdigest()
    assert f"report version {built}" in standin.datasets[standin.dataset]["description"]
    meta = publish_metadata(result)
    assert (meta["approved_by"], meta["report_version"], meta["files_sent"], meta["files_skipped"]) == (
        "Ana Analyst", built, 6, 0)
    assert set(meta["datastore_responses"]) == set(standin.titles())
    audit = [json.loads(line) for line in (data_dir / "publish" / standin.dataset / "audit.jsonl").open()]
    assert audit[-1]["approved_by"] == "Ana Analyst" and len(audit[-1]["files"]) == 6

    requests_before = len(standin.log)
    again = publish(data_dir, real_target(standin, data_dir), built)
    assert again.success, failure_text(again)
    assert len(standin.uploads()) == len(PUBLISHED)  # nothing new uploaded
    assert [r.method for r in standin.log[requests_before:]] == ["GET"]  # read the dataset, nothing else
    assert publish_metadata(again)["files_skipped"] == 6


def test_a_changed_table_replaces_its_resource_in_place(built, standin, data_dir, httpserver):
    assert publish(data_dir, real_target(standin, data_dir), built).success
    ids = {r["title"]: rid for rid, r in standin.resources().items()}
    httpserver.clear()
    revised = serve_all_samples(httpserver, {"region_london.csv": revised_london_file("2020-05-01", 100)})
    assert dg.materialize(ASSETS[:-1], resources=pipeline_resources(data_dir, revised), raise_on_error=False).success
    new_version = stored_version(data_dir)
    uploads_before = len(standin.uploads())

    result = publish(data_dir, real_target(standin, data_dir), new_version)
    assert result.success, failure_text(result)
    sent = standin.uploads()[uploads_before:]
    assert [r.title for r in sent] == ["phe_cases_london_england.csv"]
    assert sent[0].path.endswith(f"/resources/{ids['phe_cases_london_england.csv']}")  # same resource, replaced
    assert {r["title"]: rid for rid, r in standin.resources().items()} == ids  # no duplicate, no new id


@pytest.mark.parametrize("problem", ["wrong_version", "failed_validation"])
def test_refusals_send_nothing_and_say_why(problem, built, standin, data_dir, monkeypatch):
    version = built
    if problem == "wrong_version":
        version, expected = "0123456789ab", f"tables stored now are version '{built}'"
    elif problem == "failed_validation":
        path = data_dir / "tables" / "datastore_tables" / "phe_cases_london_boroughs.parquet"
        table = pd.read_parquet(path)
        table.loc[0, "new_cases"] = -3
        table.to_parquet(path, index=False)
        version = stored_version(data_dir)
        # As if a report had been rendered for the tampered tables: the publish step must still re-validate.
        (data_dir / "reports" / f"cases_report_{version}.html").write_text("report")
        expected = "phe_cases_london_boroughs: column 'new_cases'"
    result = publish(data_dir, real_target(standin, data_dir), version)
    assert not result.success
    assert expected in failure_text(result) and "Nothing was sent" in failure_text(result)
    assert standin.log == []


def test_without_a_key_the_run_stops_before_starting_and_names_the_variable(built, standin, data_dir, monkeypatch):
    monkeypatch.delenv("LDS_API_KEY")
    with pytest.raises(dg.DagsterInvalidConfigError, match='environment variable "LDS_API_KEY" which is not set'):
        publish(data_dir, real_target(standin, data_dir), built)
    assert standin.log == []


def test_an_upload_answered_with_a_5xx_is_retried(built, standin, data_dir):
    standin.faults = {3: 502}  # GET dataset, first upload, then the second upload fails once
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert result.success, failure_text(result)
    assert [r.status for r in standin.log].count(502) == 1
    assert standin.titles() == sorted(f"{name}.csv" for name in PUBLISHED)


def test_an_add_that_landed_but_lost_its_answer_is_not_added_twice(built, standin, data_dir):
    standin.faults = {2: "drop-after"}  # the first upload is stored, then the connection drops
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert result.success, failure_text(result)
    assert standin.titles() == sorted(f"{name}.csv" for name in PUBLISHED)


def test_interrupted_publish_finishes_on_rerun_without_duplicates(built, standin, data_dir):
    standin.faults = dict.fromkeys(range(4, 60), 503)  # two files land, then the Datastore goes down
    first = publish(data_dir, real_target(standin, data_dir, max_attempts=2), built)
    assert not first.success and "503" in failure_text(first)
    assert len(standin.resources()) == 2
    standin.faults = {}
    second = publish(data_dir, real_target(standin, data_dir), built)
    assert second.success, failure_text(second)
    meta = publish_metadata(second)
    assert (meta["files_sent"], meta["files_skipped"]) == (4, 2)
    assert standin.titles() == sorted(f"{name}.csv" for name in PUBLISHED)


def test_a_rejected_key_is_explained_and_never_shown(built, standin, data_dir, monkeypatch, capfd, caplog, tmp_path):
    wrong = "lds-WRONG-key-77aa0c-not-a-real-secret"
    monkeypatch.setenv("LDS_API_KEY", wrong)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        failed = publish(data_dir, real_target(standin, data_dir), built, instance=instance)
        monkeypatch.setenv("LDS_API_KEY", KEY)
        succeeded = publish(data_dir, real_target(standin, data_dir), built, instance=instance)
        events = [str(e) for e in instance.all_logs(failed.run_id) + instance.all_logs(succeeded.run_id)]
    assert not failed.success and "did not accept the API key: check LDS_API_KEY" in failure_text(failed)
    assert succeeded.success, failure_text(succeeded)
    captured = capfd.readouterr()
    for text in (failure_text(failed), captured.out, captured.err, caplog.text, "\n".join(events)):
        assert KEY not in text and wrong not in text
    for path in [*home.rglob("*"), *data_dir.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert KEY.encode() not in content and wrong.encode() not in content, path


def test_dry_run_writes_what_would_be_sent_without_a_key(built, data_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("LDS_API_KEY")
    folder = tmp_path / "dry-run"
    result = publish(data_dir, DryRunDatastore(folder=str(folder), state_dir=str(folder / "state")), built)
    assert result.success, failure_text(result)
    [run_folder] = [p for p in folder.iterdir() if p.is_dir() and p.name != "state"]
    log = [json.loads(line) for line in (run_folder / "requests.jsonl").open()]
    uploads = [entry for entry in log if entry["method"] == "POST"]
    assert len(uploads) == 6 and log[-1]["method"] == "PATCH"
    tables = stored_tables(data_dir)
    for entry in uploads:
        sent = (run_folder / entry["file"]).read_bytes()
        assert sent == to_csv_bytes(tables[entry["fields"]["title"][:-4]])
    assert publish_metadata(result)["target"].startswith("dry run: ")
