"""Publishing against the local London Datastore stand-in: approval, idempotence, refusals, faults, the key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.publication.cases_report import cases_report
from assets.publication.datastore_publish import datastore_publish
from assets.publication.datastore_tables import datastore_tables
from assets.sources import RETIRED
from checks.published import PUBLISHED
from pipelines.commands.approve import success_message
from pipelines.commands.datastore_standin import STANDIN_KEY as KEY
from pipelines.commands.datastore_standin import StandIn
from pipelines.commands.outcomes import step_failures
from resources.datastore import DryRunDatastore, LondonDatastore, datastore_from_environment
from tests.conftest import (
    all_source_assets,
    failure_text,
    pipeline_resources,
    serve_all_samples,
    stored_tables,
    stored_version,
)
from tests.publishing import GLA_RESOURCES, HELD_BACK, PROVENANCE, SENT, gla_published, preload_gla
from tests.samples import revised_london_file

ASSETS = [*all_source_assets(), datastore_tables, cases_report, datastore_publish]


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


def reached_check(result):
    """The check that tells a publish from a dry run or rehearsal in the UI."""
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "reached_london_datastore"]
    return check


@pytest.fixture(autouse=True)
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("LDS_API_KEY", KEY)


def test_approved_publish_uploads_every_table_once_then_nothing(built: str, standin: StandIn, data_dir: Path):
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert result.success, failure_text(result)
    assert standin.titles() == SENT
    assert len(standin.uploads()) == len(SENT)
    tables = stored_tables(data_dir)
    held = {r["title"]: r["hash"] for r in standin.resources().values()}
    for title, md5 in held.items():
        if title != PROVENANCE:
            name = title.removesuffix(".csv")
            assert md5 == hashlib.md5(PUBLISHED[name].to_bytes(tables[name])).hexdigest()
    # The manifest sent is the version's own, and names the MD5 the Datastore computed for every file it holds.
    manifest_file = data_dir / "reports" / "files" / built / PROVENANCE
    assert held[PROVENANCE] == hashlib.md5(manifest_file.read_bytes()).hexdigest()
    manifest = {f["file"]: f["md5"] for f in json.loads(manifest_file.read_text())["files"]}
    assert all(manifest[title] == md5 for title, md5 in held.items() if title != PROVENANCE)
    assert f"report version {built}" in standin.datasets[standin.dataset]["description"]
    meta = publish_metadata(result)
    assert (meta["approved_by"], meta["report_version"], meta["files_sent"], meta["files_skipped"],
            meta["files_held_back"], meta["kind"]) == ("Ana Analyst", built, len(SENT), 0, len(HELD_BACK), "publish")
    assert meta["outcome"] == f"published to the London Datastore ({meta['target']})"
    assert reached_check(result).passed
    assert set(meta["datastore_responses"]) == set(standin.titles())
    audit = [json.loads(line) for line in (data_dir / "publish" / standin.dataset / "audit.jsonl").open()]
    assert audit[-1]["approved_by"] == "Ana Analyst" and len(audit[-1]["files"]) == len(PUBLISHED) + 1
    assert {f["file_name"] for f in audit[-1]["files"] if f["action"] == "hold"} == HELD_BACK
    assert audit[-1]["kind"] == "publish" and audit[-1]["data_origin"]["phe_cases_london_boroughs"] == {
        "phe_cases_by_utla": "download"}

    requests_before = len(standin.log)
    again = publish(data_dir, real_target(standin, data_dir), built)
    assert again.success, failure_text(again)
    assert len(standin.uploads()) == len(SENT)  # nothing new uploaded
    assert [r.method for r in standin.log[requests_before:]] == ["GET"]  # read the dataset, nothing else
    assert publish_metadata(again)["files_skipped"] == len(SENT)


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
    # London's figure for one day changed: the GLA's London/England file and our rates file, and the new version's
    # provenance, nothing else.
    assert sorted(r.title for r in sent) == ["phe_cases_london_england.csv", "phe_cases_rates_london_england.csv",
                                             PROVENANCE]
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
    assert standin.titles() == SENT


def test_an_add_that_landed_but_lost_its_answer_is_not_added_twice(built, standin, data_dir):
    standin.faults = {2: "drop-after"}  # the first upload is stored, then the connection drops
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert result.success, failure_text(result)
    assert standin.titles() == SENT


def test_interrupted_publish_finishes_on_rerun_without_duplicates(built, standin, data_dir):
    standin.faults = dict.fromkeys(range(4, 60), 503)  # two files land, then the Datastore goes down
    first = publish(data_dir, real_target(standin, data_dir, max_attempts=2), built)
    assert not first.success and "503" in failure_text(first)
    assert len(standin.resources()) == 2
    standin.faults = {}
    second = publish(data_dir, real_target(standin, data_dir), built)
    assert second.success, failure_text(second)
    meta = publish_metadata(second)
    assert (meta["files_sent"], meta["files_skipped"]) == (len(SENT) - 2, 2)
    assert standin.titles() == SENT


def test_records_the_storage_refuses_stop_the_publish_naming_the_folder_and_the_next_finishes_it(
        built, standin, data_dir, tmp_path):
    """A file where the dataset's publish records go (as a full disk or a folder without permission refuses them):
    the publish stops at the first record, after one upload, in one line naming the folder's setting; mended, the
    next approval sends the rest and nothing twice. A dry run's refused folder names LDS_DRY_RUN_DIR."""
    records = data_dir / "publish" / standin.dataset
    records.parent.mkdir(parents=True)
    records.write_text("a file where the publish records go")
    first = publish(data_dir, real_target(standin, data_dir), built)
    assert not first.success
    [(step, message)] = step_failures(first)
    assert step == "datastore_publish" and message.startswith(f"[datastore_publish] the storage refused {records}")
    assert f"PIPELINE_DATA_DIR ({data_dir}) must be a folder this account can write" in message
    assert len(standin.resources()) == 1
    records.unlink()
    second = publish(data_dir, real_target(standin, data_dir), built)
    assert second.success, failure_text(second)
    assert standin.titles() == SENT

    folder = tmp_path / "dry-run"
    folder.mkdir()
    (folder / "state").write_text("a file where the dry run's records go")
    dry = publish(data_dir, DryRunDatastore(folder=str(folder), state_dir=str(folder / "state")), built)
    [(_, message)] = step_failures(dry)
    assert f"LDS_DRY_RUN_DIR ({folder}) must be a folder this account can write" in message


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
    assert sorted(e["fields"]["title"] for e in uploads) == SENT and log[-1]["method"] == "PATCH"
    tables = stored_tables(data_dir)
    for entry in uploads:
        sent = (run_folder / entry["file"]).read_bytes()
        name = entry["fields"]["title"].removesuffix(".csv")
        if name in PUBLISHED:
            assert sent == PUBLISHED[name].to_bytes(tables[name])
        else:
            assert sent == (data_dir / "reports" / "files" / built / PROVENANCE).read_bytes()
    assert publish_metadata(result)["target"].startswith("dry run: ")
    assert publish_metadata(result)["kind"] == "dry run"
    # In the UI: the first line of the materialization, and a warning beside it where a publish shows a pass.
    assert next(iter(publish_metadata(result))) == "outcome"
    assert publish_metadata(result)["outcome"].startswith("DRY RUN: nothing was sent to the London Datastore")
    check = reached_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("DRY RUN: nothing was sent")


# The five files the GLA keeps on the dataset (as the GLA left them), with their Datastore ids and API tables: the
# boroughs' table follows a replaced file, the healthcare file's table does not (it was never redeployed), and the
# age file's is not read back (its file is held back).
def test_the_first_publish_replaces_the_gla_s_files_adds_ours_and_reads_the_api_tables_back(built, standin,
                                                                                            data_dir):
    preload_gla(standin)
    target = real_target(standin, data_dir, table_follow_timeout_s=0.3, table_poll_interval_s=0.1)
    result = publish(data_dir, target, built)
    assert result.success, failure_text(result)

    resources = standin.resources()
    titles = [r["title"] for r in resources.values()]
    assert sorted(titles) == sorted({*GLA_RESOURCES, *SENT})  # no title twice
    tables = stored_tables(data_dir)
    for title, (resource_id, _) in GLA_RESOURCES.items():
        assert resources[resource_id]["title"] == title  # under the GLA's id
        real = gla_published(title)
        name = title.removesuffix(".csv")
        held = title in HELD_BACK
        # Replaced in place by the new file, or, held back, still the GLA's own copy.
        assert standin.content[(standin.dataset, resource_id)] == (real if held else
                                                                   PUBLISHED[name].to_bytes(tables[name])), title
    adds = [r for r in standin.uploads() if r.path.endswith("/resources")]
    assert sorted(r.title for r in adds) == sorted([*(t.file_name for t in PUBLISHED.values()
                                                      if not t.gla and t.file_name not in HELD_BACK), PROVENANCE])

    # The boroughs' API table now serves the new file; the healthcare file's still serves the GLA's old one.
    assert len(standin.table_rows("s8c9t_j4fs2")) == len(tables["phe_cases_london_boroughs"])
    meta = publish_metadata(result)
    assert meta["api_tables_not_following"] == "phe_healthcare.csv (hc9_lon_tbl)"
    assert "redeploy" in meta["api_tables"] and "/api/table/hc9_lon_tbl" in meta["api_tables"]
    assert "a6e_lon_tbl" not in meta["api_tables"]
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "api_tables_follow"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    audit = json.loads((data_dir / "publish" / standin.dataset / "audit.jsonl").read_text().splitlines()[-1])
    assert {(t["ref"], t["follows"]) for t in audit["api_tables"]} == {("s8c9t_j4fs2", True), ("hc9_lon_tbl", False)}

    uploads = len(standin.uploads())
    again = publish(data_dir, real_target(standin, data_dir, table_follow_timeout_s=0.0), built)
    assert again.success and len(standin.uploads()) == uploads  # a second approval sends nothing


def test_a_version_built_from_the_shipped_samples_is_refused_and_nothing_is_sent(built_from_samples, standin,
                                                                                  data_dir):
    result = publish(data_dir, real_target(standin, data_dir), built_from_samples)
    assert not result.success
    message = failure_text(result)
    assert f"report version {built_from_samples} was built from the shipped sample data" in message
    # The live sources whose samples were used, by name, and the ways to rehearse instead.
    assert "phe_cases_by_utla" in message and "ons_infection_survey" in message
    assert "DRY_RUN=" in message and "LDS_REHEARSAL=1" in message and "Nothing was sent" in message
    assert standin.log == []


def test_a_rehearsal_on_a_test_datastore_may_send_samples_and_says_so(built_from_samples, standin, data_dir):
    result = publish(data_dir, real_target(standin, data_dir, rehearsal=True), built_from_samples)
    assert result.success, failure_text(result)
    # A rehearsal of a sample version sends every file: nothing in it is live to keep apart.
    assert standin.titles() == sorted([*(t.file_name for t in PUBLISHED.values()), PROVENANCE])
    assert publish_metadata(result)["kind"] == "rehearsal"
    assert not reached_check(result).passed
    assert publish_metadata(result)["outcome"].startswith("REHEARSAL: nothing was sent to the London Datastore")
    audit = json.loads((data_dir / "publish" / standin.dataset / "audit.jsonl").read_text().splitlines()[-1])
    assert audit["kind"] == "rehearsal" and audit["data_origin"]["phe_cases_london_boroughs"] == {
        "phe_cases_by_utla": "sample"}


def test_a_rehearsal_against_the_real_datastore_is_refused(built_from_samples, data_dir):
    target = LondonDatastore(dataset="coronavirus--covid-19--cases", api_key=dg.EnvVar("LDS_API_KEY"),
                             state_dir=str(data_dir / "publish"), rehearsal=True)
    result = publish(data_dir, target, built_from_samples)
    assert not result.success
    assert "LDS_REHEARSAL: is set, but LDS_URL is the real London Datastore" in failure_text(result)


def test_tables_that_do_not_record_their_origin_are_refused(built, standin, data_dir):
    # Tables stored before origins were recorded (the Parquet files carry no pandas attrs).
    folder = data_dir / "tables" / "datastore_tables"
    for path in folder.glob("*.parquet"):
        table = pd.read_parquet(path)
        table.attrs = {}
        table.to_parquet(path, index=False)
    assert stored_version(data_dir) == built  # same bytes, same version: only the record is missing
    result = publish(data_dir, real_target(standin, data_dir), built)
    assert not result.success
    assert "do not record where their data came from" in failure_text(result)
    assert standin.log == []


# --- finding the GLA's resources when their titles are not their file names ------------------------------------------

# Titles an editor might have given the GLA's five resources on the live dataset, none of them its file name.
GLA_TITLES = {
    "phe_cases_london_boroughs.csv": "Coronavirus cases by London borough",
    "phe_cases_london_england.csv": "Coronavirus cases, London and England",
    "phe_cases_age_london.csv": "Coronavirus cases by age group",
    "phe_healthcare.csv": "Hospital admissions, London",
    "phe_healthcare_admissions_age.csv": "Hospital admissions by age",
}
BOROUGHS = "phe_cases_london_boroughs.csv"
ENGLAND = "phe_cases_london_england.csv"


def published_copy(data_dir: Path, file_name: str) -> bytes:
    """The bytes of one of our files as built (and as a publish sends them)."""
    name = file_name.removesuffix(".csv")
    return PUBLISHED[name].to_bytes(stored_tables(data_dir)[name])


def posts(standin: StandIn) -> list[str]:
    """The paths of every upload the stand-in answered (adds end with /resources, replaces with the resource id)."""
    return [r.path.removeprefix(f"/api/dataset/{standin.dataset}") for r in standin.uploads()]


def test_the_gla_s_resources_are_found_by_their_download_file_names_and_replaced_in_place(built, standin, data_dir):
    for file_name, (resource_id, _) in GLA_RESOURCES.items():
        standin.preload(resource_id, GLA_TITLES[file_name], gla_published(file_name), file_name=file_name)
    result = publish(data_dir, real_target(standin, data_dir, table_follow_timeout_s=0.0), built)
    assert result.success, failure_text(result)

    resources = standin.resources()
    for file_name, (resource_id, _) in GLA_RESOURCES.items():
        # Still the GLA's resource under the GLA's title; its file is ours, or the GLA's own when held back.
        assert resources[resource_id]["title"] == GLA_TITLES[file_name]
        expected = gla_published(file_name) if file_name in HELD_BACK else published_copy(data_dir, file_name)
        assert standin.content[(standin.dataset, resource_id)] == expected, file_name
    replaced = sorted(f"/resources/{rid}" for f, (rid, _) in GLA_RESOURCES.items() if f not in HELD_BACK)
    assert sorted(p for p in posts(standin) if p != "/resources") == replaced
    # Only the files the GLA never had are added: nothing lands beside the GLA's five.
    added = sorted(set(SENT) - set(GLA_RESOURCES))
    assert sorted(r.title for r in standin.uploads() if r.path.endswith("/resources")) == added
    assert len(resources) == len(GLA_RESOURCES) + len(added)

    uploads = len(standin.uploads())
    again = publish(data_dir, real_target(standin, data_dir, table_follow_timeout_s=0.0), built)
    assert again.success, failure_text(again)
    assert len(standin.uploads()) == uploads  # found again, unchanged: nothing sent


@pytest.mark.parametrize("dataset", ["file_under_another_files_title", "two_resources_carry_the_file"])
def test_a_publish_that_could_duplicate_a_file_sends_nothing_and_names_both(dataset, built, standin, data_dir):
    boroughs = gla_published(BOROUGHS)
    if dataset == "file_under_another_files_title":
        # The England file was uploaded to the resource titled as the boroughs' file: the boroughs' file replaces
        # that resource (by its title), so the England file would be added beside the copy readers download.
        standin.preload("151e497c", BOROUGHS, boroughs, file_name=ENGLAND)
        expected = (f"{ENGLAND} would be added as a new resource, but resource '{BOROUGHS}' (id 151e497c) already "
                    "carries that file name in its download URL")
    else:
        # Two resources hold a file of that name, neither titled with it: which one readers use cannot be told.
        standin.preload("151e497c", "Cases by borough", boroughs, file_name=BOROUGHS)
        standin.preload("0ld0ld00", "Cases by borough (archive)", boroughs, file_name=BOROUGHS)
        expected = (f"{BOROUGHS} is the file of resource 'Cases by borough' (id 151e497c) and resource 'Cases by "
                    "borough (archive)' (id 0ld0ld00)")
    before = {rid: dict(r) for rid, r in standin.resources().items()}

    result = publish(data_dir, real_target(standin, data_dir), built)
    assert not result.success
    [line] = [line for line in failure_text(result).splitlines() if "Refusing to publish" in line]
    assert expected in line and line.endswith("Nothing was sent.")
    assert [r.method for r in standin.log] == ["GET"]  # read the dataset, sent nothing
    assert standin.resources() == before
    assert not (data_dir / "publish" / standin.dataset / "audit.jsonl").exists()


def test_a_recorded_resource_id_wins_over_a_title(built, standin, data_dir):
    boroughs = gla_published(BOROUGHS)
    # An old copy still titled with the file name, and the resource the previous publish recorded for the file
    # (retitled on the site since).
    standin.preload("151e497c", BOROUGHS, boroughs)
    standin.preload("n3wb0r0s", "Cases by borough", boroughs, file_name=BOROUGHS)
    real_target(standin, data_dir).remember_resource_id(BOROUGHS, "n3wb0r0s")

    result = publish(data_dir, real_target(standin, data_dir, table_follow_timeout_s=0.0), built)
    assert result.success, failure_text(result)
    assert "/resources/n3wb0r0s" in posts(standin) and "/resources/151e497c" not in posts(standin)
    assert standin.content[(standin.dataset, "n3wb0r0s")] == published_copy(data_dir, BOROUGHS)
    assert standin.content[(standin.dataset, "151e497c")] == boroughs  # untouched
    assert BOROUGHS not in [r.title for r in standin.uploads() if r.path.endswith("/resources")]


def test_the_key_is_also_read_from_lds_api_key_as_the_gla_s_r_scripts_named_it(built, standin, data_dir, monkeypatch,
                                                                               capfd, caplog, tmp_path):
    """An analyst's environment from the R scripts (`lds_api_key`, LDS_API_KEY unset) publishes; the key is never
    shown or stored, and LDS_API_KEY wins when both are set."""
    monkeypatch.delenv("LDS_API_KEY")
    monkeypatch.setenv("lds_api_key", KEY)
    monkeypatch.setenv("LDS_URL", standin.url)
    monkeypatch.setenv("LDS_DATASET", standin.dataset)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = publish(data_dir, datastore_from_environment(data_dir), built, instance=instance)
        events = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert result.success, failure_text(result)
    assert standin.titles() == SENT
    captured = capfd.readouterr()
    for text in (captured.out, captured.err, caplog.text, events):
        assert KEY not in text
    for path in [*home.rglob("*"), *data_dir.rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

    monkeypatch.setenv("LDS_API_KEY", "lds-WRONG-key-not-a-real-secret")
    wrong = publish(data_dir, datastore_from_environment(data_dir), built)
    assert not wrong.success and "did not accept the API key" in failure_text(wrong)


# --- what a real publish would hold back, shown by a dry run and a rehearsal (issue 24, item 5) ---------------------


def held_back_lines(text: str) -> dict[str, str]:
    """The `held back: <file> — <why>` lines of held_back.txt or the `held_back` metadata, by file."""
    return dict(line.split("held back: ", 1)[1].split(" — ", 1) for line in text.splitlines()
                if "held back: " in line and " — " in line)


def assert_plain_reasons(reasons: dict[str, str]) -> None:
    """Each file's reason is written for an analyst: why it is not sent and what stays, no source ids."""
    assert set(reasons) == HELD_BACK
    for file_name, why in reasons.items():
        assert "no longer published" in why and why.endswith("the Datastore keeps its copy"), file_name
        assert not any(source in why for source in RETIRED), why


def test_a_dry_run_and_a_rehearsal_of_a_sample_version_say_what_a_real_publish_would_hold_back(
        built_from_samples, standin, data_dir, tmp_path):
    """A sample version's dry run and rehearsal send every file, the retired sources' too: the one line, the
    metadata and the dry run's folder still say which files a real publish holds back, and why."""
    folder = tmp_path / "dry-run"
    result = publish(data_dir, DryRunDatastore(folder=str(folder), state_dir=str(folder / "state")),
                     built_from_samples)
    assert result.success, failure_text(result)
    [run_folder] = [p for p in folder.iterdir() if p.is_dir() and p.name != "state"]
    log = [json.loads(line) for line in (run_folder / "requests.jsonl").open()]
    sent = {e["fields"]["title"] for e in log if e["method"] == "POST"}
    assert HELD_BACK < sent  # rehearsed here, as every file of a sample version is

    # (3) held_back.txt beside requests.jsonl.
    note = (run_folder / "held_back.txt").read_text()
    reasons = held_back_lines(note)
    assert_plain_reasons(reasons)
    assert ("A real publish would refuse this version and send nothing: it was built from the shipped sample data. "
            "Built from live releases, it would still hold back the files above.") in note
    assert "This dry run wrote them here all the same" in note
    assert "held_back.txt" not in {e.get("file") for e in log}  # a note, not a request

    # (2) The asset's metadata: the same files and reasons.
    meta = publish_metadata(result)
    assert meta["held_back_files"] == reasons
    assert held_back_lines(meta["held_back"]) == reasons
    assert meta["held_back"].startswith("A real publish would refuse this version")
    assert meta["real_publish_refusal"] == "it was built from the shipped sample data"
    assert meta["held_back_note"] == str(run_folder / "held_back.txt")

    # (1) The one line make approve prints.
    line = success_message(meta)
    assert "\n" not in line and line.startswith("dry run: nothing was sent to the London Datastore.")
    assert (f"A real publish would refuse this version and send nothing (it was built from the shipped sample "
            f"data); built from live releases, it would hold back {len(HELD_BACK)} file(s): ") in line
    assert all(file_name in line for file_name in HELD_BACK) and "the Datastore keeps its copy" in line
    assert "held_back.txt" in line

    rehearsal = publish(data_dir, real_target(standin, data_dir, rehearsal=True), built_from_samples)
    assert rehearsal.success, failure_text(rehearsal)
    assert HELD_BACK < set(standin.titles())  # sent to the test Datastore
    meta = publish_metadata(rehearsal)
    assert meta["held_back_files"] == reasons and held_back_lines(meta["held_back"]) == reasons
    assert "held_back_note" not in meta
    line = success_message(meta)
    assert "\n" not in line and line.startswith("rehearsal (LDS_REHEARSAL=1): ")
    assert "A real publish would refuse this version" in line and all(f in line for f in HELD_BACK)
    assert line.endswith("Nothing reached the real London Datastore.") and KEY not in line


def test_a_live_dry_run_holds_back_what_the_real_publish_then_holds_back(built, standin, data_dir, tmp_path):
    folder = tmp_path / "dry-run"
    dry = publish(data_dir, DryRunDatastore(folder=str(folder), state_dir=str(folder / "state")), built)
    assert dry.success, failure_text(dry)
    [run_folder] = [p for p in folder.iterdir() if p.is_dir() and p.name != "state"]
    note = (run_folder / "held_back.txt").read_text()
    reasons = held_back_lines(note)
    assert_plain_reasons(reasons)
    assert "This dry run held them back too: they are not in this folder." in note and "refuse" not in note
    assert not any(path.name.endswith(tuple(HELD_BACK)) for path in run_folder.iterdir())
    meta = publish_metadata(dry)
    assert meta["held_back_files"] == reasons and meta["real_publish_refusal"] == "none"
    assert meta["held_back"].startswith("A real publish of this version would hold back:")
    line = success_message(meta)
    assert f", {len(HELD_BACK)} held back). A real publish would hold back {len(HELD_BACK)} file(s): " in line
    assert all(file_name in line for file_name in HELD_BACK) and "refuse" not in line

    # The real publish of the same version holds back exactly those files, and its metadata gives the same reasons.
    published = publish(data_dir, real_target(standin, data_dir), built)
    assert published.success, failure_text(published)
    audit = json.loads((data_dir / "publish" / standin.dataset / "audit.jsonl").read_text().splitlines()[-1])
    assert {f["file_name"] for f in audit["files"] if f["action"] == "hold"} == set(reasons)
    meta = publish_metadata(published)
    assert meta["held_back_files"] == reasons and held_back_lines(meta["held_back"]) == reasons
    assert meta["held_back"].startswith("Held back (not sent):")
