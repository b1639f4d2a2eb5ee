"""Schedules, the release sensor (against a real local server) and the run-failure notifier (with a webhook)."""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from assets.sources import SOURCES
from pipelines import automation
from pipelines.automation import run_failure_notifier
from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_SOURCES
from resources.errors import FetchError, SettingError
from resources.settings import UPSTREAMS
from resources.upstreams import Upstreams
from tests.conftest import base_url, failure_text, route_for, run_source, serve_all_samples, serve_samples

LONDON = ZoneInfo("Europe/London")
# The sources whose API went and nothing replaced (docs/analyst.md: cases by age, by age and sex, admissions by age).
RETIRED_SOURCES = {"phe_cases_by_age", "phe_cases_by_age_sex", "phe_admissions_by_age"}
defs = build_definitions()
release_sensor = defs.resolve_sensor_def("release_sensor")


@pytest.mark.parametrize(
    ("name", "cron", "job", "tick"),
    [("daily_sources_nightly", "30 21 * * *", "daily_sources", datetime(2026, 7, 1, 21, 30, tzinfo=LONDON)),
     ("ons_weekly", "0 22 * * 5", "ons_infection_survey_job", datetime(2026, 1, 9, 22, 0, tzinfo=LONDON))],
)
def test_schedules_run_in_london_time_and_target_their_job(name, cron, job, tick) -> None:
    schedule = defs.resolve_schedule_def(name)
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (cron, "Europe/London", job)
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    [request] = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick)).run_requests
    # Only how its console prints (tests/pipelines/test_console.py): nothing an analyst would set.
    assert request.run_key is None and list(request.run_config) == ["loggers"]


def test_schedule_times_come_from_the_settings(monkeypatch) -> None:
    monkeypatch.setenv("NIGHTLY_CRON", "15 23 * * *")
    monkeypatch.setenv("ONS_WEEKLY_CRON", "0 9 * * 1")
    rebuilt = build_definitions()
    assert rebuilt.resolve_schedule_def("daily_sources_nightly").cron_schedule == "15 23 * * *"
    assert rebuilt.resolve_schedule_def("ons_weekly").cron_schedule == "0 9 * * 1"
    assert "NIGHTLY_CRON" in rebuilt.resolve_schedule_def("daily_sources_nightly").description


@pytest.mark.parametrize(("setting", "value"), [("NIGHTLY_CRON", "nightly"), ("ONS_WEEKLY_CRON", "0 22 * *")])
def test_a_schedule_time_that_is_not_cron_names_its_setting(setting: str, value: str, monkeypatch) -> None:
    monkeypatch.setenv(setting, value)
    with pytest.raises(SettingError) as raised:
        build_definitions()
    assert str(raised.value).startswith(f"{setting}={value!r} is not a cron expression Dagster accepts")


def test_the_daily_job_holds_the_daily_sources_and_rebuilds_the_report() -> None:
    assert sorted(DAILY_SOURCES) == sorted(name for name in SOURCES if name != "ons_infection_survey")
    keys = {k.to_user_string() for k in defs.resolve_job_def("daily_sources").asset_layer.executable_asset_keys}
    assert keys == {*DAILY_SOURCES, *(f"raw/{n}" for n in DAILY_SOURCES), "datastore_tables", "cases_report"}


def test_nothing_automatic_targets_publish() -> None:
    assert all(s.job_name != "publish" for s in defs.schedules)
    assert {job.name for job in release_sensor.jobs} == {f"{name}_job" for name in SOURCES}


def evaluate(cursor: str | None, upstreams: Upstreams):
    context = dg.build_sensor_context(cursor=cursor, resources={"upstreams": upstreams})
    outcome = release_sensor(context)
    if isinstance(outcome, dg.SkipReason):
        return [], outcome.skip_message, context.cursor
    return outcome.run_requests, None, outcome.cursor


def live(urls: dict[str, str]) -> Upstreams:
    return Upstreams(mode="live", cases_api="phe", urls=urls)


def test_release_sensor_runs_a_source_once_per_new_release(httpserver: HTTPServer) -> None:
    upstreams = live(serve_all_samples(httpserver))
    requests, reason, cursor = evaluate(None, upstreams)
    assert requests == [] and "recorded the current release of" in reason and cursor

    requests, reason, cursor = evaluate(cursor, upstreams)
    assert requests == [] and "no new release for phe_cases_by_region" in reason
    asked = len(SOURCES) - len(RETIRED_SOURCES)
    assert [response.status_code for _, response in httpserver.log[-asked:]] == [304] * asked

    # A new release of one source: different bytes, so a new ETag.
    httpserver.clear()
    region = SOURCES["phe_cases_by_region"]
    serve_all_samples(httpserver, {"region_london.csv": b"areaCode,areaName,areaType,date,newCasesBySpecimenDate,"
                                                         b"cumCasesBySpecimenDate\n"})
    requests, reason, new_cursor = evaluate(cursor, upstreams)
    assert [r.job_name for r in requests] == [f"{region.name}_job"]
    assert requests[0].run_key.startswith("phe_cases_by_region:")
    # Its console prints as a scheduled run's does (tests/pipelines/test_console.py).
    [scheduled] = defs.resolve_schedule_def("daily_sources_nightly").evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 7, 1, 21, 30, tzinfo=LONDON))).run_requests
    assert requests[0].run_config == scheduled.run_config

    again, reason, _ = evaluate(new_cursor, upstreams)
    assert again == [] and "no new release" in reason


def test_a_release_s_run_is_tagged_with_the_publisher_s_time_in_london(httpserver: HTTPServer) -> None:
    """The run a new release starts is tagged with the publisher's time (its Last-Modified, sent in GMT) as London's
    clocks showed it, which is what the publisher's own page says: in summer GMT is an hour behind them."""
    upstreams = live(serve_all_samples(httpserver))
    _, _, cursor = evaluate(None, upstreams)
    region = SOURCES["phe_cases_by_region"]
    for sent, shown in [("Mon, 01 Jun 2026 23:30:00 GMT", "2 Jun 2026, 00:30"),  # British Summer Time
                        ("Tue, 01 Dec 2026 23:30:00 GMT", "1 Dec 2026, 23:30")]:  # GMT
        httpserver.clear()
        for route_url in region.sample_routes(base_url(httpserver, region.sample.api)):
            route, query = route_for(route_url)
            httpserver.expect_request(route, query_string=query).respond_with_data(
                f"released {sent}".encode(), headers={"Last-Modified": sent})  # new bytes: a new release
        serve_all_samples(httpserver)
        [request], _, cursor = evaluate(cursor, upstreams)
        assert request.job_name == f"{region.name}_job" and request.tags["release"] == shown


def test_release_sensor_skips_with_a_reason_when_the_server_is_down() -> None:
    down = "http://127.0.0.1:9/nothing-listens"
    requests, reason, _ = evaluate(None, live(dict.fromkeys(UPSTREAMS, down)))
    assert requests == []
    assert "could not check" in reason and "phe_cases_by_region" in reason and "connection failed" in reason


def test_release_sensor_leaves_the_retired_sources_alone_in_live_mode(httpserver: HTTPServer) -> None:
    """Their runs keep the last release whatever the PHE API said, and that API is gone: asking it every 15 minutes
    would only warn, for ever. Replaying a past night, they are asked as they were live then."""
    upstreams = live(serve_all_samples(httpserver))
    requests, reason, cursor = evaluate(None, upstreams)
    asked = {request.full_path for request, _ in httpserver.log}
    assert requests == [] and set(json.loads(cursor)) == set(SOURCES) - RETIRED_SOURCES
    assert reason.endswith(f"not asked (retired, nothing publishes them: their last release is kept): "
                           f"{', '.join(name for name in SOURCES if name in RETIRED_SOURCES)}")
    assert not any("Age" in path or "maleCases" in path for path in asked)  # the retired sources' metrics
    httpserver.clear_log()
    _, reason, cursor = evaluate(None, Upstreams(mode="live", cases_api="phe", urls=upstreams.urls,
                                              as_of="2020-11-20"))
    assert set(json.loads(cursor)) == set(SOURCES) and "not asked" not in reason


@contextmanager
def hung_server(path: str) -> Iterator[str]:
    """The URL of `path` on a server of its own (its stall holds up no other host's answers) that takes every request
    and answers only once the test is over, 20 s at most, as a hung server would."""
    stall = threading.Event()

    def stalled(_request: Request) -> Response:
        stall.wait(timeout=20)
        return Response("late", status=200)

    hung = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    hung.expect_request(re.compile(f"^{path}")).respond_with_handler(stalled)
    hung.start()
    try:
        yield hung.url_for(path)
    finally:
        stall.set()
        hung.stop()


def test_one_stalled_upstream_leaves_the_others_checked_within_the_tick(httpserver: HTTPServer, monkeypatch) -> None:
    """Dagster ends a sensor tick at 60 s and then keeps nothing of it: asked one after another, each allowed its
    full timeouts, one upstream that stalls hid every other source's new release. The sources are asked together,
    each within its deadline (shortened here from 40 s), and the stalled one is named."""
    monkeypatch.setattr(automation, "SENSOR_HTTP_DEADLINE_S", 1.0)
    urls = serve_all_samples(httpserver)
    with hung_server("/ons") as urls["ons"]:
        started = time.monotonic()
        requests, reason, cursor = evaluate(None, live(urls))
        took = time.monotonic() - started
    assert took < 10  # within a deadline of its own (1 s), not the stall's 20 s
    asked = set(SOURCES) - RETIRED_SOURCES - {"ons_infection_survey"}
    assert requests == [] and set(json.loads(cursor)) == asked
    assert f"recorded the current release of {', '.join(name for name in SOURCES if name in asked)}" in reason
    assert "could not check ons_infection_survey: [ons_infection_survey] http://" in reason


def test_release_sensor_is_off_by_default() -> None:
    assert release_sensor.default_status == dg.DefaultSensorStatus.STOPPED


def failure_context(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dg.RunFailureSensorContext:
    """What the daemon hands the run-failure notifier for the failed run `result`."""
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_notifier", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id), dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


def test_failure_notifier_posts_a_summary_to_the_webhook(httpserver: HTTPServer, tmp_path: Path,
                                                         monkeypatch) -> None:
    received = []

    def hook(request):
        received.append(request.get_json())
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    monkeypatch.setenv("FAILURE_WEBHOOK_URL", httpserver.url_for("/hook"))
    region = SOURCES["phe_cases_by_region"]
    serve_samples(httpserver, region, replace={"region_london.csv": b"<html>Service Unavailable</html>"})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = run_source(region, tmp_path / "storage", httpserver.url_for("/v2/data"), instance=instance)
        assert not result.success
        context = failure_context(instance, result)
        run_failure_notifier(context)
    [summary] = received
    assert summary["run_id"] == result.run_id and summary["failed_steps"][0]["step"] == "phe_cases_by_region"
    assert "got an HTML page where a CSV file was expected" in summary["text"]
    assert summary["url"].endswith(f"/runs/{result.run_id}")
    assert json.dumps(summary)  # plain JSON, as a chat webhook expects
    assert "got an HTML page" in failure_text(result)


def test_a_hung_webhook_fails_the_notifier_within_the_tick(tmp_path: Path, monkeypatch) -> None:
    """Three attempts of up to 30 s each outlasted Dagster's 60 s sensor tick, which then ended with only its own
    timeout message. The post now gives up within its deadline (shortened here from 40 s), naming the setting."""
    monkeypatch.setattr(automation, "SENSOR_HTTP_DEADLINE_S", 1.0)
    region = SOURCES["phe_cases_by_region"]
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance, hung_server("/services/T0/B0/Xq9Tok") as hook:
        monkeypatch.setenv("FAILURE_WEBHOOK_URL", hook)
        result = run_source(region, tmp_path / "storage", "http://127.0.0.1:9/nothing-listens", instance=instance)
        started = time.monotonic()
        with pytest.raises(FetchError) as raised:
            run_failure_notifier(failure_context(instance, result))
        took = time.monotonic() - started
    assert took < 10  # the deadline (1 s), not the hung server's 20 s
    message = str(raised.value)
    assert "FAILURE_WEBHOOK_URL" in message and "Xq9Tok" not in message
    # The deadline named as what it is: not HTTP_DEADLINE_S, the downloads' setting, which does not govern it.
    assert "a sensor's request may take 1s in all" in message and "HTTP_DEADLINE_S" not in message


def test_a_webhook_that_fails_is_named_by_its_setting_never_by_its_secret_address(httpserver: HTTPServer,
                                                                                   tmp_path: Path, monkeypatch,
                                                                                   caplog) -> None:
    """A Slack or Teams webhook's address holds its token: a failing post must not put it in a log line or in the
    sensor tick's error, which the UI shows."""
    token = "T0123/B0456/Xq9SecretToken"
    answers = iter([Response("busy", status=503), Response("no such hook", status=404)])
    httpserver.expect_request(f"/services/{token}", method="POST").respond_with_handler(lambda _: next(answers))
    monkeypatch.setenv("FAILURE_WEBHOOK_URL", httpserver.url_for(f"/services/{token}"))
    region = SOURCES["phe_cases_by_region"]
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = run_source(region, tmp_path / "storage", "http://127.0.0.1:9/nothing-listens", instance=instance)
        context = failure_context(instance, result)
        with caplog.at_level("WARNING"), pytest.raises(FetchError) as raised:
            run_failure_notifier(context)
    assert len(httpserver.log) == 2  # retried once after the 503, then the 404 ended it
    # Ours, not the test server's own request log (werkzeug's).
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name != "werkzeug")
    # The error as a traceback shows it, with what it says was its cause (Dagster's error display follows the same
    # rules: a context suppressed by `raise ... from None` is not shown).
    shown = [str(raised.value), "".join(traceback.format_exception(raised.value)), logged]
    assert "FAILURE_WEBHOOK_URL" in shown[0] and "HTTP 404" in shown[0] and "retry 1/2" in logged
    assert not [text for text in shown if "Secret" in text or "T0123" in text]
