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
from checks.published import PUBLISHED, fingerprint
from resources.datastore import DryRunDatastore, LondonDatastore
from resources.settings import REPO_ROOT
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
        name = resource["title"].removesuffix(".csv")
        assert resource["hash"] == hashlib.md5(PUBLISHED[name].to_bytes(tables[name])).hexdigest()
    assert f"report version {built}" in standin.datasets[standin.dataset]["description"]
    meta = publish_metadata(result)
    assert (meta["approved_by"], meta["report_version"], meta["files_sent"], meta["files_skipped"]) == (
        "Ana Analyst", built, len(PUBLISHED), 0)
    assert set(meta["datastore_responses"]) == set(standin.titles())
    audit = [json.loads(line) for line in (data_dir / "publish" / standin.dataset / "audit.jsonl").open()]
    assert audit[-1]["approved_by"] == "Ana Analyst" and len(audit[-1]["files"]) == len(PUBLISHED)

    requests_before = len(standin.log)
    again = publish(data_dir, real_target(standin, data_dir), built)
    assert again.success, failure_text(again)
    assert len(standin.uploads()) == len(PUBLISHED)  # nothing new uploaded
    assert [r.method for r in standin.log[requests_before:]] == ["GET"]  # read the dataset, nothing else
    assert publish_metadata(again)["files_skipped"] == len(PUBLISHED)


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
    # London's figure for one day changed: the GLA's London/England file and our rates file, nothing else.
    assert sorted(r.title for r in sent) == ["phe_cases_london_england.csv", "phe_cases_rates_london_england.csv"]
    for upload in sent:
        assert upload.path.endswith(f"/resources/{ids[upload.title]}")  # same resource, replaced
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
    assert (meta["files_sent"], meta["files_skipped"]) == (len(PUBLISHED) - 2, 2)
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
    assert len(uploads) == len(PUBLISHED) and log[-1]["method"] == "PATCH"
    tables = stored_tables(data_dir)
    for entry in uploads:
        sent = (run_folder / entry["file"]).read_bytes()
        name = entry["fields"]["title"].removesuffix(".csv")
        assert sent == PUBLISHED[name].to_bytes(tables[name])
    assert publish_metadata(result)["target"].startswith("dry run: ")


# The five files the GLA keeps on the dataset (as the GLA left them), with their Datastore ids and API tables: the
# boroughs' table follows a replaced file, the age file's table does not (it was never redeployed).
GLA_RESOURCES = {
    "phe_cases_london_boroughs.csv": ("151e497c", {"s8c9t_j4fs2": True}),
    "phe_cases_london_england.csv": ("7a3c305c", {}),
    "phe_cases_age_london.csv": ("d15e692d", {"a6e_lon_tbl": False}),
    "phe_healthcare.csv": ("hc0a1b2c", {}),
    "phe_healthcare_admissions_age.csv": ("ad037e43", {}),
}


def preload_gla(standin: StandIn) -> None:
    for title, (resource_id, tables) in GLA_RESOURCES.items():
        standin.preload(resource_id, title, (REPO_ROOT / "data" / "reference" / "gla_published" / title).read_bytes(),
                        tables)


def test_the_first_publish_replaces_the_gla_s_files_adds_ours_and_reads_the_api_tables_back(built, standin,
                                                                                            data_dir):
    preload_gla(standin)
    target = real_target(standin, data_dir, table_follow_timeout_s=0.3, table_poll_interval_s=0.1)
    result = publish(data_dir, target, built)
    assert result.success, failure_text(result)

    resources = standin.resources()
    titles = [r["title"] for r in resources.values()]
    assert sorted(titles) == sorted(t.file_name for t in PUBLISHED.values())  # no title twice
    tables = stored_tables(data_dir)
    for title, (resource_id, _) in GLA_RESOURCES.items():
        assert resources[resource_id]["title"] == title  # replaced in place, under the GLA's id
        name = title.removesuffix(".csv")
        assert standin.content[(standin.dataset, resource_id)] == PUBLISHED[name].to_bytes(tables[name])
    adds = [r for r in standin.uploads() if r.path.endswith("/resources")]
    assert sorted(r.title for r in adds) == sorted(t.file_name for t in PUBLISHED.values() if not t.gla)

    # The boroughs' API table now serves the new file; the age file's still serves the GLA's old one.
    assert len(standin.table_rows("s8c9t_j4fs2")) == len(tables["phe_cases_london_boroughs"])
    meta = publish_metadata(result)
    assert meta["api_tables_not_following"] == "phe_cases_age_london.csv (a6e_lon_tbl)"
    assert "redeploy" in meta["api_tables"] and "/api/table/a6e_lon_tbl" in meta["api_tables"]
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "api_tables_follow" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    audit = json.loads((data_dir / "publish" / standin.dataset / "audit.jsonl").read_text().splitlines()[-1])
    assert {(t["ref"], t["follows"]) for t in audit["api_tables"]} == {("s8c9t_j4fs2", True), ("a6e_lon_tbl", False)}

    uploads = len(standin.uploads())
    again = publish(data_dir, real_target(standin, data_dir, table_follow_timeout_s=0.0), built)
    assert again.success and len(standin.uploads()) == uploads  # a second approval sends nothing
