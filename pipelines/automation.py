"""What makes the pipeline run itself: schedules, the release sensor and the run-failure notifier.

All times are Europe/London. None of these ever targets the `publish` job: publishing needs an analyst.
"""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import dagster as dg

from assets.ingest.factory import job_name, keeps_last_release
from assets.ingest.fetch import source_session
from assets.ingest.source import Source
from assets.sources import SOURCES
from assets.sources.ons_infection_survey import SOURCE as ONS
from pipelines.console import AUTOMATED_RUN_CONFIG
from reports import wording
from resources.clock import LONDON, in_london
from resources.errors import FetchError, SettingError
from resources.http import HttpClient, conditional_headers
from resources.settings import dagster_ui_url, failure_webhook_url
from resources.upstreams import Upstreams

TIMEZONE = LONDON.key  # Dagster takes the zone by name


def build_schedules(daily_cron: str, ons_cron: str) -> list[dg.ScheduleDefinition]:
    """The nightly and weekly schedules, at the times the settings give (NIGHTLY_CRON, ONS_WEEKLY_CRON)."""
    return [
        _schedule("daily_sources_nightly", "daily_sources", daily_cron, "NIGHTLY_CRON",
                  "Nightly ({cron!r}, London time; NIGHTLY_CRON): every source but the weekly ONS survey, then the "
                  "Datastore tables and report."),
        _schedule("ons_weekly", job_name(ONS), ons_cron, "ONS_WEEKLY_CRON",
                  "Weekly ({cron!r}, London time; ONS_WEEKLY_CRON): the ONS Infection Survey workbook, then the "
                  "tables and report."),
    ]


def _schedule(name: str, job: str, cron: str, setting: str, description: str) -> dg.ScheduleDefinition:
    try:
        return dg.ScheduleDefinition(name=name, job_name=job, cron_schedule=cron, execution_timezone=TIMEZONE,
                                     default_status=dg.DefaultScheduleStatus.RUNNING, run_config=AUTOMATED_RUN_CONFIG,
                                     description=description.format(cron=cron))
    except dg.DagsterInvalidDefinitionError as error:
        # Dagster judges the expression; the setting it came from is what to change, named in one line.
        raise SettingError(f"{setting}={cron!r} is not a cron expression Dagster accepts (five fields: minute, hour, "
                           "day of month, month, day of week; e.g. '30 21 * * *')") from error


def _probe_marker(source: Source, http: HttpClient, upstreams: Upstreams, seen: dict) -> tuple[str | None, dict]:
    """Ask the source's first URL whether it changed since `seen` (conditional GET). Returns (new marker or None
    if unchanged, what to remember)."""
    variant = source.for_mode(upstreams.mode, upstreams.cases_api)
    base_url = upstreams.base_url(variant.api)
    request = variant.build_requests(base_url)[0]
    headers = conditional_headers({"ETag": seen.get("etag"), "Last-Modified": seen.get("last_modified")})
    with source_session(source, http, upstreams.mode, base_url) as session:
        result = http.get(session, source.name, request.url, headers)
    if result.not_modified:
        return None, seen
    etag, modified = result.headers.get("ETag"), result.headers.get("Last-Modified")
    marker = etag or modified or hashlib.sha256(result.content).hexdigest()[:16]
    remembered = {"etag": etag, "last_modified": modified, "marker": marker}
    return (None if marker == seen.get("marker") else marker), remembered


def _release_label(remembered: dict) -> str:
    """The release a run is for, as its `release` tag shows it: the publisher's time on London's clocks (HTTP sends
    it in GMT, an hour behind them in summer), else the marker that told the release apart (its ETag)."""
    if remembered.get("last_modified"):
        try:
            sent = parsedate_to_datetime(remembered["last_modified"])
        except (TypeError, ValueError):
            pass
        else:
            return wording.moment(in_london(sent))
    return remembered.get("marker", "?")


def build_release_sensor(source_jobs: list) -> dg.SensorDefinition:
    """The release sensor over the per-source jobs (built with their assets by assets/factory.py)."""

    @dg.sensor(
        name="release_sensor",
        jobs=source_jobs,
        minimum_interval_seconds=15 * 60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Off by default. Every 15 minutes, asks each source (one conditional GET: ETag / Last-Modified) "
        "whether a new release appeared, and runs just that source's job when one did. Its first evaluation only "
        "records the current releases.",
    )
    def release_sensor(context: dg.SensorEvaluationContext, upstreams: Upstreams) -> dg.SensorResult | dg.SkipReason:
        return look_for_releases(context, upstreams)

    return release_sensor


# Dagster gives a sensor tick 60 s (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS); a tick that runs over fails whole, with no
# cursor saved and no run requested, and says only that it timed out. So every HTTP exchange a sensor makes ends
# within this long in all (connecting, waiting, reading, retries): the release sensor asks the sources together, each
# within it, so one stalled upstream hides no other source's new release; the failure notifier's webhook post fails
# within it, naming FAILURE_WEBHOOK_URL, and the next tick posts it again.
SENSOR_HTTP_DEADLINE_S = 40.0
SENSOR_HTTP_RULE = "a sensor's request may take {deadline}s in all (Dagster ends a sensor's tick at 60 s)"


def look_for_releases(context: dg.SensorEvaluationContext, upstreams: Upstreams) -> dg.SensorResult | dg.SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    # One quick attempt per source: the sensor asks again in 15 minutes anyway.
    http = HttpClient(max_attempts=1, connect_timeout_s=10, read_timeout_s=30, deadline_s=SENSOR_HTTP_DEADLINE_S,
                      deadline_rule=SENSOR_HTTP_RULE)
    # A retired source's run keeps the last release whatever the API says, and the API is gone: asking it every 15
    # minutes would only warn, for ever.
    retired = [name for name, source in SOURCES.items() if keeps_last_release(source, upstreams)]
    asked = [name for name in SOURCES if name not in retired]

    def probe(name: str) -> tuple[str | None, dict] | FetchError:
        try:
            return _probe_marker(SOURCES[name], http, upstreams, cursor.get(name, {}))
        except FetchError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(len(asked), 1), thread_name_prefix="release_sensor") as pool:
        answers = dict(zip(asked, pool.map(probe, asked), strict=True))
    requests, unchanged, problems, first_seen = [], [], [], []
    for name, answer in answers.items():
        source = SOURCES[name]
        if isinstance(answer, FetchError):
            problems.append(f"{name}: {answer}")
            continue
        marker, remembered = answer
        if marker is None:
            unchanged.append(name)
        elif name not in cursor:
            first_seen.append(name)
        else:
            requests.append(dg.RunRequest(
                job_name=job_name(source), run_key=f"{name}:{marker}", run_config=AUTOMATED_RUN_CONFIG,
                tags={"release": _release_label(remembered), "source": name},
            ))
        cursor[name] = remembered
    for problem in problems:
        context.log.warning(f"could not check {problem}")
    new_cursor = json.dumps(cursor, sort_keys=True)
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)
    parts = []
    if unchanged:
        parts.append(f"no new release for {', '.join(unchanged)}")
    if first_seen:
        parts.append(f"recorded the current release of {', '.join(first_seen)}")
    if problems:
        parts.append(f"could not check {'; '.join(problems)}")
    if retired:
        parts.append(f"not asked (retired, nothing publishes them: their last release is kept): {', '.join(retired)}")
    context.update_cursor(new_cursor)
    return dg.SkipReason("; ".join(parts) or "no sources")


def failure_summary(context: dg.RunFailureSensorContext) -> dict:
    """A plain account of a failed run: which job, which steps failed and why, and where to look."""
    run = context.dagster_run
    failures = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:
            error = error.cause  # the exception the asset raised, not Dagster's wrapper
        failures.append({"step": event.step_key, "error": (error.message.strip() if error else "")[:500]})
    link = f"{dagster_ui_url()}/runs/{run.run_id}"
    lines = [f"Run {run.run_id[:8]} of job {run.job_name} failed."]
    lines += [f"- {f['step']}: {f['error'].splitlines()[0] if f['error'] else 'no message'}" for f in failures]
    lines.append(f"Open {link} to re-run only what failed (Re-execute > From failure).")
    return {"text": "\n".join(lines), "job": run.job_name, "run_id": run.run_id, "failed_steps": failures,
            "url": link}


@dg.run_failure_sensor(
    name="run_failure_notifier",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs a summary of every failed run and, when FAILURE_WEBHOOK_URL is set, posts it there as JSON "
    "(a Slack/Teams-style {'text': ...} body with the details alongside).",
)
def run_failure_notifier(context: dg.RunFailureSensorContext) -> None:
    summary = failure_summary(context)
    context.log.error(summary["text"])
    if url := failure_webhook_url():
        http = HttpClient(max_attempts=3, backoff_base_s=1.0, connect_timeout_s=10, read_timeout_s=30,
                          deadline_s=SENSOR_HTTP_DEADLINE_S, deadline_rule=SENSOR_HTTP_RULE)
        with http.session() as session:
            # The address of a Slack or Teams webhook is its secret: never in a log line or the tick's error.
            http.request(session, "failure_webhook", "POST", url, json=summary,
                         shown_url="FAILURE_WEBHOOK_URL (its address, a secret, is not shown)")
