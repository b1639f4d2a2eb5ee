"""Every source end to end through Dagster against a real local HTTP server: good runs, bad input, 304s,
replay. Bad input must fail with the source, the file and the problem named, keep the raw bytes, and leave the
previously stored clean table untouched."""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from assets.ingest.factory import SCHEMA_CHECK, fetch_retry_policy, retry_notice
from assets.sources import SOURCES
from pipelines.commands.outcomes import step_failures
from resources.archive import RawArchive
from resources.errors import FetchError
from resources.settings import UPSTREAMS
from tests.conftest import base_url, failure_text, fast_http, https_server, route_for, run_source, serve_samples
from tests.samples import csv_bytes, sample_path, sample_rows

REGION = SOURCES["phe_cases_by_region"]


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_source_lands_from_a_local_server(name: str, httpserver: HTTPServer, data_dir: Path) -> None:
    source = SOURCES[name]
    result = run_source(source, data_dir, serve_samples(httpserver, source))
    assert result.success, failure_text(result)
    assert (data_dir / "tables" / f"{name}.parquet").exists()
    evaluations = result.get_asset_check_evaluations()
    assert [(e.check_name, e.passed) for e in evaluations] == [(SCHEMA_CHECK, True)]
    archived = RawArchive(data_dir=str(data_dir)).latest_for_source(name)
    assert archived and all((data_dir / f"{e.path}.gz").exists() for e in archived)  # compressed at rest


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_source_lands_in_sample_mode_without_a_server(name: str, data_dir: Path) -> None:
    source = SOURCES[name]
    # The real public URL: sample mode must answer it from data/samples without touching the network.
    result = run_source(source, data_dir, UPSTREAMS[source.sample.api].default_url, mode="sample")
    assert result.success, failure_text(result)


@pytest.fixture
def region_london_sample(tmp_path: Path, monkeypatch) -> Path:
    """Where sample mode reads region_london.csv from: a copy of the shipped samples of phe_cases_by_region made
    PIPELINE_SAMPLES_DIR, that file taken out (the test puts what it wants there, or nothing)."""
    samples = tmp_path / "samples" / "phe_cases_by_region"
    shutil.copytree(sample_path("phe_cases_by_region", "region_london.csv").parent, samples)
    monkeypatch.setenv("PIPELINE_SAMPLES_DIR", str(tmp_path / "samples"))
    (samples / "region_london.csv").unlink()
    return samples / "region_london.csv"


def test_sample_mode_with_a_sample_missing_fails_at_once_naming_the_file(data_dir: Path,
                                                                          region_london_sample: Path) -> None:
    """A samples folder without a source's file: the shipped-sample server answers 404 naming the missing file,
    so the step fails at once in one line (it failed with a TypeError from its error path, after both retries)."""
    result = run_source(REGION, data_dir, UPSTREAMS["phe"].default_url, mode="sample")
    assert not result.success
    [(step, message)] = step_failures(result)
    assert step == "raw__phe_cases_by_region"
    assert message.startswith("[phe_cases_by_region] https://") and "(HTTP 404)" in message
    assert f"{region_london_sample} is missing (PIPELINE_SAMPLES_DIR)" in message and "\n" not in message
    raw_step = [e.event_type_value for e in result.all_events if e.step_key == "raw__phe_cases_by_region"]
    assert "STEP_UP_FOR_RETRY" not in raw_step


def test_a_sample_that_cannot_be_read_fails_at_once_naming_it(data_dir: Path, region_london_sample: Path) -> None:
    """Not the storage's fault, so not PIPELINE_DATA_DIR's: the message names the file and what it must be."""
    region_london_sample.mkdir()  # unreadable as a file, as one without read permission is
    result = run_source(REGION, data_dir, UPSTREAMS["phe"].default_url, mode="sample")
    [(step, message)] = step_failures(result)
    assert step == "raw__phe_cases_by_region"
    assert message == (f"[phe_cases_by_region] the storage refused {region_london_sample} (Is a directory): "
                       "it must be a file this account can read; a retry would meet the same refusal")


def london_rows() -> list[dict[str, str]]:
    return sample_rows("phe_cases_by_region", "region_london.csv")


def truncated() -> bytes:
    whole = sample_path("phe_cases_by_region", "region_london.csv").read_bytes()
    return whole[: len(whole) // 2 + 7]


def renamed_column() -> bytes:
    rows = london_rows()
    for row in rows:
        row["newCases"] = row.pop("newCasesBySpecimenDate")
    return csv_bytes(rows)


def duplicated_rows() -> bytes:
    rows = london_rows()
    return csv_bytes(rows + rows[:2])


def negative_count() -> bytes:
    rows = london_rows()
    rows[4]["newCasesBySpecimenDate"] = "-12"
    return csv_bytes(rows)


BAD_INPUTS = {
    "html_error_page": (lambda: b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>",
                        "got an HTML page where a CSV file was expected"),
    "truncated_body": (truncated, "could not be read as CSV: CSV parse error: Expected 5 columns"),
    "renamed_column": (renamed_column, "missing column(s) 'newCasesBySpecimenDate'"),
    "empty_file": (lambda: b"", "the file is empty"),
    "duplicated_rows": (duplicated_rows, "failed validation"),
    "negative_counts": (negative_count, "-12"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_clearly_keeps_raw_bytes_and_last_good_table(
    case: str, httpserver: HTTPServer, data_dir: Path
) -> None:
    good = run_source(REGION, data_dir, serve_samples(httpserver, REGION))
    assert good.success, failure_text(good)
    table = data_dir / "tables" / "phe_cases_by_region.parquet"
    good_table = table.read_bytes()

    make_body, problem = BAD_INPUTS[case]
    body = make_body()
    httpserver.clear()
    bad = run_source(REGION, data_dir, serve_samples(httpserver, REGION, replace={"region_london.csv": body}))

    assert not bad.success
    message = failure_text(bad)
    assert "[phe_cases_by_region]" in message
    assert "region_london.csv" in message
    assert problem in message
    # The bad download is archived as it came, for whoever investigates, but is not the latest: the next fetch asks
    # for what changed since the last good release.
    digest = hashlib.sha256(body).hexdigest()
    [archived] = (data_dir / "raw" / "phe_cases_by_region").glob(f"*/{digest[:16]}_region_london.csv.gz")
    assert gzip.decompress(archived.read_bytes()) == body
    assert RawArchive(data_dir=str(data_dir)).latest("phe_cases_by_region", "region_london").sha256 != digest
    # ... and the table analysts and the report read is still the last good one.
    assert table.read_bytes() == good_table


@pytest.mark.parametrize("case", ["duplicated_rows", "negative_counts"])
def test_failed_validation_is_visible_as_a_failed_check(case: str, httpserver: HTTPServer, data_dir: Path) -> None:
    body = BAD_INPUTS[case][0]()
    result = run_source(REGION, data_dir, serve_samples(httpserver, REGION, replace={"region_london.csv": body}))
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == SCHEMA_CHECK and not evaluation.passed
    assert evaluation.metadata["failure_count"].value >= 1
    assert "|" in evaluation.metadata["first_failures"].value  # a markdown table of the first failures


def test_unchanged_source_answers_304_and_adds_no_archive_entry(httpserver: HTTPServer, data_dir: Path) -> None:
    url = serve_samples(httpserver, REGION)
    assert run_source(REGION, data_dir, url).success
    files_before = sorted((data_dir / "raw").rglob("*"))
    httpserver.clear()
    url = serve_samples(httpserver, REGION)
    second = run_source(REGION, data_dir, url)
    assert second.success, failure_text(second)
    assert [response.status_code for _, response in httpserver.log] == [304, 304]
    assert all(request.headers.get("If-None-Match") for request, _ in httpserver.log)
    assert sorted((data_dir / "raw").rglob("*")) == files_before
    raw_event = next(e for e in second.get_asset_materialization_events() if "raw" in e.asset_key.path)
    assert raw_event.materialization.metadata["changed"].value is False


def test_a_damaged_archived_copy_is_downloaded_again_whole_and_replaced(httpserver: HTTPServer, data_dir: Path) -> None:
    """A stored copy cut short (a disk fault, a careless hand) would fail every night after it, the server answering
    304 to its validators; the fetch notices, asks for the file whole, and the same bytes replace the copy."""
    url = serve_samples(httpserver, REGION)
    assert run_source(REGION, data_dir, url).success
    archive = RawArchive(data_dir=str(data_dir))
    damaged = archive.latest("phe_cases_by_region", "region_london")
    stored = data_dir / f"{damaged.path}.gz"
    stored.write_bytes(stored.read_bytes()[:100])
    httpserver.clear()
    url = serve_samples(httpserver, REGION)
    with dg.DagsterInstance.ephemeral() as instance:
        second = run_source(REGION, data_dir, url, instance=instance)
        assert second.success, failure_text(second)
        warnings = [e.user_message for e in instance.all_logs(second.run_id) if e.level == logging.WARNING]
    asked = {route_for(request.url)[1]: (request.headers.get("If-None-Match"), response.status_code)
             for request, response in httpserver.log}
    assert [(etag is None, status) for query, (etag, status) in asked.items() if "E12000007" in query] == [(True, 200)]
    assert [(etag is None, status) for query, (etag, status) in asked.items() if "E92000001" in query] == [(False, 304)]
    assert gzip.decompress(stored.read_bytes()) == sample_path("phe_cases_by_region", "region_london.csv").read_bytes()
    [warning] = [w for w in warnings if "damaged" in w]
    assert warning.startswith("phe_cases_by_region: ") and damaged.file_name in warning and str(stored) in warning


def test_a_damaged_copy_replayed_fails_the_source_in_one_line_naming_the_file(httpserver: HTTPServer,
                                                                              data_dir: Path) -> None:
    assert run_source(REGION, data_dir, serve_samples(httpserver, REGION)).success
    damaged = RawArchive(data_dir=str(data_dir)).latest("phe_cases_by_region", "region_london")
    (data_dir / f"{damaged.path}.gz").write_bytes(b"not gzip")
    before = (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes()
    result = run_source(REGION, data_dir, "http://127.0.0.1:9/nothing-listens", mode="replay")
    assert not result.success
    [(step, message)] = step_failures(result)
    assert step == "phe_cases_by_region"
    assert message.startswith(f"[phe_cases_by_region] {damaged.file_name} (from {damaged.url}): ")
    assert "cannot be decompressed" in message and "replay cannot" in message
    assert (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes() == before


def test_a_damaged_record_of_the_last_release_fails_at_once_in_one_line(httpserver: HTTPServer,
                                                                         data_dir: Path) -> None:
    """The archive's record of a source's last good release (`raw/<source>/latest/<file>.json`) damaged on this
    disk: a step retry would read the same bytes (it used to wait through both, minutes, then fail with a
    traceback), so the step fails at once, in one line naming the source, the file and what to do."""
    url = serve_samples(httpserver, REGION)
    assert run_source(REGION, data_dir, url).success
    record = data_dir / "raw" / "phe_cases_by_region" / "latest" / "region_london.json"
    record.write_text('{"path": "raw/phe_cases_by_region/cut sho')
    before = (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes()
    result = run_source(REGION, data_dir, url)
    assert not result.success
    [(step, message)] = step_failures(result)
    assert step == "raw__phe_cases_by_region"
    assert message.startswith(f"[phe_cases_by_region] {record} could not be read (Unterminated string")
    assert message.endswith("delete it: the next run downloads the source's files again (the archived files "
                            "themselves are untouched)")
    raw_step = [e.event_type_value for e in result.all_events if e.step_key == "raw__phe_cases_by_region"]
    assert "STEP_UP_FOR_RETRY" not in raw_step
    assert (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes() == before
    record.unlink()  # as the message says: the next run fetches the source again
    assert run_source(REGION, data_dir, url).success


# A file on the way to a folder (the archive writes into a day's folder under its source's) or where a folder is made.
ON_THE_WAY, IN_PLACE = "(Not a directory)", "(a file where a folder should be)"


@pytest.mark.parametrize(("place", "step", "who", "why"), [
    ("raw/phe_cases_by_region", "raw__phe_cases_by_region", "phe_cases_by_region", ON_THE_WAY),  # the archive
    ("tables/raw", "raw__phe_cases_by_region", "raw/phe_cases_by_region", IN_PLACE),  # the step's stored value
    ("vintages/phe_cases_by_region", "phe_cases_by_region", "phe_cases_by_region", IN_PLACE),  # the releases kept
], ids=["raw archive", "stored value", "vintages"])
def test_storage_that_refuses_a_write_fails_the_source_at_once_naming_the_place(
        place: str, step: str, who: str, why: str, httpserver: HTTPServer, data_dir: Path) -> None:
    """A file where the storage needs a folder (as a read-only, full or someone else's disk does, it refuses the
    write): a step retry meets the same refusal (the download step used to wait through both, minutes, then fail
    naming no setting), so the step fails at once naming the path and PIPELINE_DATA_DIR, and the table stored
    before is kept."""
    url = serve_samples(httpserver, REGION)
    assert run_source(REGION, data_dir, url).success
    before = (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes()
    refused = data_dir / place
    shutil.rmtree(refused)
    refused.write_text("a file where the storage keeps a folder")
    result = run_source(REGION, data_dir, url)
    assert not result.success
    [(failed, message)] = step_failures(result)
    assert failed == step
    assert message.startswith(f"[{who}] the storage refused {refused}") and why in message, message
    assert f"PIPELINE_DATA_DIR ({data_dir}) must be a folder this account can write" in message
    assert "\n" not in message
    assert "STEP_UP_FOR_RETRY" not in [e.event_type_value for e in result.all_events if e.step_key == step]
    assert (data_dir / "tables" / "phe_cases_by_region.parquet").read_bytes() == before


def test_replay_rebuilds_from_the_archive_without_the_network(httpserver: HTTPServer, data_dir: Path) -> None:
    assert run_source(REGION, data_dir, serve_samples(httpserver, REGION)).success
    (data_dir / "tables" / "phe_cases_by_region.parquet").unlink()
    result = run_source(REGION, data_dir, "http://127.0.0.1:9/nothing-listens", mode="replay")
    assert result.success, failure_text(result)
    assert (data_dir / "tables" / "phe_cases_by_region.parquet").exists()


def test_a_server_error_that_persists_fails_the_source_naming_url(httpserver: HTTPServer, data_dir: Path) -> None:
    httpserver.expect_request("/v2/data").respond_with_data("upstream down", status=503)
    result = run_source(REGION, data_dir, httpserver.url_for("/v2/data"))
    assert not result.success
    message = failure_text(result)
    assert "[phe_cases_by_region]" in message and "HTTP 503" in message and "/v2/data?areaType=region" in message
    assert UPSTREAMS["phe"].default_url not in message


def test_an_outage_longer_than_the_client_retries_is_retried_as_a_step(httpserver: HTTPServer, data_dir: Path) -> None:
    url = serve_samples(httpserver, REGION)
    calls = {"n": 0}
    healthy = httpserver.handlers[0].request_handler  # region_london.csv (registered first), once the outage ends

    def flaky(request):
        calls["n"] += 1
        if calls["n"] <= 3:  # the client's 3 quick attempts all fail: the step fails, then is retried
            return Response("maintenance", status=503)
        return healthy(request)

    httpserver.handlers[0].request_handler = flaky
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_source(REGION, data_dir, url, http=fast_http(max_attempts=3), instance=instance)
        assert result.success, failure_text(result)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    raw_step = [e for e in result.all_events if e.step_key == "raw__phe_cases_by_region"]
    assert any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in raw_step)
    # The wait is said in the run's log (Dagster's own retry event is a debug one): the tests' policy retries twice
    # after 0.05 s, give or take 0.05 s.
    [notice] = [w for w in warnings if "tries it again" in w]
    assert notice.startswith("phe_cases_by_region: the download failed: [phe_cases_by_region] ")
    assert "gave up after 3 attempts: server answered 503" in notice
    assert notice.endswith("; Dagster tries it again in 0-0.1 s (retry 1 of 2: FETCH_STEP_RETRIES, "
                           "FETCH_STEP_RETRY_DELAY_S)")


def test_a_missing_file_is_not_retried_as_a_step(httpserver: HTTPServer, data_dir: Path) -> None:
    httpserver.expect_request("/v2/data").respond_with_data("no such metric", status=404)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_source(REGION, data_dir, httpserver.url_for("/v2/data"), instance=instance)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert not result.success and "HTTP 404" in failure_text(result)
    assert len(httpserver.log) == 1
    assert not [w for w in warnings if "tries it again" in w]  # no retry is announced that will not come


def test_a_certificate_that_cannot_be_verified_is_not_retried_as_a_step(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a proxy that inspects TLS every download meets a certificate it cannot verify: a step retry a minute
    later would meet it again (and a live make run waited 7 minutes to say so)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with https_server() as (url, accepted):
        result = run_source(REGION, data_dir, url.removesuffix("/data.csv"))
    assert not result.success
    message = failure_text(result)
    assert "[phe_cases_by_region]" in message and "could not be verified" in message
    assert "REQUESTS_CA_BUNDLE" in message
    raw_step = [e.event_type_value for e in result.all_events if e.step_key == "raw__phe_cases_by_region"]
    assert "STEP_UP_FOR_RETRY" not in raw_step and raw_step.count("STEP_FAILURE") == 1
    assert len(accepted) == 1  # the first download's one handshake: no quick retry either


@pytest.mark.parametrize("retry", [1, 2])
def test_the_wait_announced_before_a_step_retry_is_the_one_dagster_takes(retry: int) -> None:
    """The default policy (2 retries, 60 s): the range the log gives holds every wait Dagster draws for that retry,
    and no more than that."""
    policy = fetch_retry_policy(max_retries=2, delay_s=60.0)
    notice = retry_notice("nhs_111", FetchError("nhs_111", "https://example.org/x.csv", "timed out"), retry - 1, policy)
    low, high = map(float, re.search(r"again in ([\d.]+)-([\d.]+) s \(retry (\d) of 2", notice).group(1, 2))
    waits = [policy.calculate_delay(retry) for _ in range(5000)]
    assert low <= min(waits) < low + 1 and high - 1 < max(waits) <= high
    assert f"(retry {retry} of 2: " in notice


def test_no_retry_is_announced_after_the_last_or_for_a_failure_that_is_not_retried() -> None:
    policy = fetch_retry_policy(max_retries=2, delay_s=60.0)
    error = FetchError("nhs_111", "https://example.org/x.csv", "timed out")
    assert retry_notice("nhs_111", error, 2, policy) is None
    assert retry_notice("nhs_111", dg.Failure("HTTP 404", allow_retries=False), 0, policy) is None


def test_live_mode_keeps_the_last_release_of_a_source_with_no_live_successor(data_dir: Path) -> None:
    age_sex = SOURCES["phe_cases_by_age_sex"]
    nowhere = "http://127.0.0.1:9/retired"  # nothing is fetched: the PHE API is gone
    first = run_source(age_sex, data_dir, nowhere, mode="live")
    assert first.success, failure_text(first)
    note = next(e for e in first.get_asset_materialization_events() if "raw" in e.asset_key.path) \
        .materialization.metadata["note"].value
    assert "no live source" in note and "shipped sample" in note
    second = run_source(age_sex, data_dir, nowhere, mode="live")
    assert second.success, failure_text(second)
    note = next(e for e in second.get_asset_materialization_events() if "raw" in e.asset_key.path) \
        .materialization.metadata["note"].value
    assert "last archived" in note


def test_an_error_page_served_as_200_is_kept_as_evidence_but_never_becomes_the_latest(httpserver: HTTPServer,
                                                                                       data_dir: Path) -> None:
    """The next fetch asks what changed since the last good release (its ETag), never since the error page."""
    good = run_source(REGION, data_dir, serve_samples(httpserver, REGION))
    assert good.success, failure_text(good)
    good_etag = RawArchive(data_dir=str(data_dir)).latest(REGION.name, "region_london").headers["ETag"]
    page = b"<!DOCTYPE html><html><body>Service busy</body></html>"
    httpserver.clear()
    url = base_url(httpserver, REGION.sample.api)
    for route_url, path in REGION.sample_routes(url).items():
        route, query = route_for(route_url)
        error = Response(page, headers={"ETag": '"error-page"', "Last-Modified": "Sat, 05 Dec 2026 10:00:00 GMT"})
        if path.name == "region_london.csv":
            httpserver.expect_request(route, query_string=query).respond_with_response(error)
        else:
            httpserver.expect_request(route, query_string=query).respond_with_data(path.read_bytes())
    bad = run_source(REGION, data_dir, url)
    assert not bad.success and "got an HTML page" in failure_text(bad)

    httpserver.clear()
    again = run_source(REGION, data_dir, serve_samples(httpserver, REGION))
    assert again.success, failure_text(again)
    asked = [request.headers.get("If-None-Match") for request, _ in httpserver.log
             if "areaType=region" in request.query_string.decode()]
    assert asked == [good_etag]
    assert RawArchive(data_dir=str(data_dir)).latest(REGION.name, "region_london").headers["ETag"] == good_etag
