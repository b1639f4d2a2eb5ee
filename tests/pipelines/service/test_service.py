"""`make serve` for real: PostgreSQL (Debian's server, as its own non-root account), the code server, webserver,
daemon and report server as separate processes, driven through Dagster's GraphQL API as the UI drives it.

The tests run in order against one service (module fixture), as a day in its life: a sensor launches a run, an
analyst approves, everything restarts, two analysts approve at once, a run's process is killed, the database goes
away, the code is upgraded. Each prints how long detection and recovery took (`-s` shows them). The runs execute
every step in the run's own process (DAGSTER_EXECUTOR=in_process: less than half the CPU) until the crash and the
outage, which are about what becomes of a run's processes and restart the code server on the product's executor, a
process per step.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import requests

from pipelines.commands.datastore_standin import STANDIN_KEY as API_KEY
from pipelines.service import logs
from pipelines.service.postgres import postgres_bin_dir
from resources.settings import REPO_ROOT
from tests.conftest import STEPS_IN_THE_RUN_PROCESS, copied_nightly
from tests.service import (
    REPOSITORY,
    Api,
    Service,
    copy_of_the_code,
    fast_monitoring_config,
    free_settings,
    kill_tree,
    postgres_available,
    postgres_folder,
    run_process_id,
)

SENSOR = {**REPOSITORY, "sensorName": "release_sensor"}
NIGHTLY_DESCRIPTION = """{ pipelineOrError(params: {repositoryLocationName: "london_covid",
    repositoryName: "__repository__", pipelineName: "nightly"}) { ... on Pipeline { description } } }"""
# A source's own job: fetch and clean one source, then rebuild the tables and the report (about 20 s here).
SOURCE_JOB = "phe_cases_by_region_job"
# How long PostgreSQL is away in the outage test: longer than Dagster's own retries of one lost database write
# (dagster_postgres' retry_pg_connection_fn: five waits of 0.2 x (2^n - 1) s, 11.4 s give or take 1 s).
OUTAGE_S = 13
ARTIFACTS = REPO_ROOT / "test-artifacts"

pytestmark = pytest.mark.service


def require_postgres() -> None:
    message = "PostgreSQL is missing: `make test` installs Debian's postgresql"
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def service_env(settings, data_folder: Path, **extra: str) -> dict[str, str]:
    """The environment `make serve` reads its ports and data folder from."""
    return {**os.environ, "PIPELINE_DATA_DIR": str(data_folder), "DAGSTER_PORT": str(settings.dagster_port),
            "REPORTS_PORT": str(settings.reports_port), "DAGSTER_PG_PORT": str(settings.pg_port),
            "CODE_SERVER_PORT": str(settings.code_server_port), **extra}


def assert_closed(*ports: int) -> None:
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def figure(text: str) -> None:
    """A measured time, printed (`-s`) and kept in test-artifacts/service-figures.txt (the closing note's source)."""
    print(f"\n[service figure] {text}", flush=True)
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "service-figures.txt").open("a") as handle:
        handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def stop_schedules(api: Api) -> None:
    """Turn the service's schedules off, as an analyst can in the UI: this module's tests compare the runs before and
    after what they do, and the suite may run across a schedule's minute (the nightly at 21:30 London time, the ONS
    job on Fridays at 22:00). The schedules themselves are tested in tests/pipelines/test_automation.py."""
    found = api("""query($r: RepositorySelector!) { schedulesOrError(repositorySelector: $r) {
        ... on Schedules { results { id scheduleState { status } } } } }""", r=REPOSITORY)["schedulesOrError"]
    schedules = found["results"]
    assert schedules and all(s["scheduleState"]["status"] == "RUNNING" for s in schedules)  # on by default
    for schedule in schedules:
        stopped = api("""mutation($id: String!) { stopRunningSchedule(id: $id) { __typename
            ... on ScheduleStateResult { scheduleState { status } } } }""", id=schedule["id"])["stopRunningSchedule"]
        assert stopped["scheduleState"]["status"] == "STOPPED", stopped


@pytest.fixture(scope="module")
def service(tmp_path_factory, standin_server, stored_builds):
    require_postgres()
    standin_server.reset()  # this module's tests share it from here on, as the service's runs do
    tmp = tmp_path_factory.mktemp("service")
    env = {
        "PIPELINE_DATA_DIR": str(tmp / "storage"), "PIPELINE_MODE": "sample", "FETCH_STEP_RETRIES": "0",
        **STEPS_IN_THE_RUN_PROCESS,  # until a test of the runs' processes asks for a process per step
        # The stand-in is a test Datastore: approving the sample data is a rehearsal, allowed there only.
        "LDS_URL": standin_server.url, "LDS_DATASET": standin_server.dataset, "LDS_API_KEY": API_KEY,
        "LDS_REHEARSAL": "1",
    }
    # An analyst's machine that has already run `make run` (a copy of what it leaves): every source has a stored
    # table, so one source's run can rebuild the tables and the report.
    copied_nightly(stored_builds, "sample", tmp / "storage")
    pg_folder = postgres_folder()
    service = Service(tmp / "home", settings=free_settings(), instance_config=fast_monitoring_config(tmp),
                      extra_env=env, postgres_root=pg_folder / "postgres")
    try:
        figure(f"service start (PostgreSQL initialised on the way): {service.start(report=lambda _: None):.1f} s")
        stop_schedules(Api(service.ui_url))
        yield service
    finally:
        service.stop(report=lambda _: None)
        shutil.rmtree(pg_folder, ignore_errors=True)


@pytest.fixture(scope="module")
def api(service) -> Api:
    return Api(service.ui_url)


@pytest.fixture(scope="module")
def first(service, api, standin_server) -> dict:
    """A run the daemon launched on its own (the release sensor saw a new release), and an analyst's approval of
    its report sent through the GraphQL API, as the Launchpad sends it."""
    # The sensor remembers an older release of one source; the daemon evaluates it as soon as it is started.
    api("""mutation($s: SensorSelector!, $c: String) { setSensorCursor(sensorSelector: $s, cursor: $c) {
        __typename } }""", s=SENSOR, c=json.dumps({"phe_cases_by_region": {"marker": "an older release"}}))
    started = time.monotonic()
    api("""mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename } }""", s=SENSOR)

    def sensor_run():
        runs = api("""{ runsOrError(filter: {tags: [{key: "dagster/sensor_name", value: "release_sensor"}]}) {
            ... on Runs { results { runId } } } }""")["runsOrError"]["results"]
        return runs[0]["runId"] if runs else None

    run_id = api.wait_for(sensor_run, "the release sensor to launch a run")
    run = api.wait(run_id)
    figure(f"sensor started -> its run finished: {time.monotonic() - started:.1f} s ({run['status']})")
    version = api.report_version(run_id)
    approval = api.launch("publish", {"ops": {"datastore_publish": {"config": {
        "approved_by": "Ana Analyst", "report_version": version}}}})
    return {"run": run, "version": version, "approval": api.wait(approval), "approval_id": approval,
            "uploads": [r.title for r in standin_server.uploads()]}


def test_a_sensor_run_builds_the_report_and_an_approval_over_graphql_publishes_it(first, service, api) -> None:
    assert first["run"]["jobName"] == SOURCE_JOB and first["run"]["status"] == "SUCCESS"
    # The code server's DAGSTER_EXECUTOR reached the run's process: its steps ran in it.
    assert any((e.get("message") or "").startswith("Executing steps in process")
               for e in api.events(first["run"]["runId"]))
    report = requests.get(f"{service.reports_url}/cases_report_{first['version']}.html", timeout=10)
    assert report.ok and first["version"] in report.text
    assert first["approval"]["status"] == "SUCCESS"
    assert first["uploads"] and len(first["uploads"]) == len(set(first["uploads"]))
    audit = (Path(service.extra_env["PIPELINE_DATA_DIR"]).glob("**/audit.jsonl"))
    [record] = [json.loads(line) for path in audit for line in path.read_text().splitlines()]
    assert (record["report_version"], record["approved_by"], record["kind"]) == (
        first["version"], "Ana Analyst", "rehearsal")


def snapshot(api: Api, service: Service) -> dict:
    runs = api.runs()
    cursor = api("""query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
        sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } } } }""", s=SENSOR)
    materializations = api("""{ assetOrError(assetKey: {path: ["cases_report"]}) { ... on Asset {
        assetMaterializations(limit: 100) { runId timestamp } } } }""")
    audit = sorted(Path(service.extra_env["PIPELINE_DATA_DIR"]).glob("**/audit.jsonl"))
    return {
        "runs": sorted((r["runId"], r["status"]) for r in runs),
        "events": {r["runId"]: len(api.events(r["runId"])) for r in runs},
        "report_materializations": materializations["assetOrError"]["assetMaterializations"],
        "sensor": cursor["sensorOrError"]["sensorState"],
        "audit": [path.read_text() for path in audit],
    }


def test_everything_is_still_there_after_every_process_restarts(first, service, api) -> None:
    before = snapshot(api, service)
    assert before["sensor"]["typeSpecificData"]["lastCursor"] and before["audit"]
    webserver_pid = service.parts["webserver"].process.pid
    service.stop(report=lambda _: None)
    took = service.start(report=lambda _: None)
    figure(f"service restart (stop, start, daemons healthy): {took:.1f} s")
    assert service.parts["webserver"].process.pid != webserver_pid
    after = snapshot(api, service)
    assert after == before


def test_the_readme_backup_command_dumps_the_run_history(first, service, tmp_path) -> None:
    """docs/operations.md, "Backup": pg_dump of the service's database holds Dagster's runs and event logs."""
    s = service.settings
    env = {**os.environ, "PGPASSWORD": service.postgres.password()}
    dump = tmp_path / "dagster.dump"
    with dump.open("wb") as out:
        subprocess.run([str(postgres_bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(s.pg_port), "-U",
                        s.pg_username, "-Fc", s.pg_db], env=env, stdout=out, check=True, timeout=60)
    listing = subprocess.run([str(postgres_bin_dir() / "pg_restore"), "--list", str(dump)], capture_output=True,
                             text=True, check=True).stdout
    assert "TABLE DATA public runs" in listing and "TABLE DATA public event_logs" in listing


def failure_messages(api: Api, run_id: str) -> list[str]:
    """What the run's page says about why it failed: the failure and the engine events before it."""
    return [e["message"] for e in api.events(run_id) if e["__typename"] in ("RunFailureEvent", "EngineEvent")]


def step_started(api: Api, run_id: str, step: str | None = None) -> bool:
    return any(e["__typename"] == "ExecutionStepStartEvent" and step in (None, e.get("stepKey"))
               for e in api.events(run_id))


def code_loaded(api: Api) -> str | None:
    """The nightly job's description as the UI has it from the code server (None until it has loaded the code)."""
    return api(NIGHTLY_DESCRIPTION)["pipelineOrError"].get("description")


def steps_in_processes_of_their_own(service: Service, api: Api) -> None:
    """The product's executor from here on, for the tests about what becomes of a run's processes: the code server
    (whose environment a launched run inherits) restarted with DAGSTER_EXECUTOR=multiprocess, if it is not so."""
    if service.extra_env.get("DAGSTER_EXECUTOR") == "multiprocess":
        return
    service.extra_env["DAGSTER_EXECUTOR"] = "multiprocess"
    service.parts["code server"].stop()
    service.start_part("code server", report=lambda _: None)
    api.wait_for(lambda: code_loaded(api), "the UI to see the code again")


def test_two_approvals_at_the_same_moment_publish_one_at_a_time(first, service, api, standin_server) -> None:
    # A Datastore that has none of the files yet, so each approval on its own would upload every one of them.
    with standin_server._lock:
        standin_server.resources().clear()
        standin_server.log.clear()
    config = {"ops": {"datastore_publish": {"config": {"approved_by": "Ana Analyst",
                                                       "report_version": first["version"]}}}}
    launched: list[str] = []
    threads = [threading.Thread(target=lambda: launched.append(api.launch("publish", config))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [api.wait(run_id) for run_id in launched]
    assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"]
    titles = [upload.title for upload in standin_server.uploads()]
    assert titles == first["uploads"] or sorted(titles) == sorted(first["uploads"])
    assert len(titles) == len(set(titles))  # every file uploaded once
    # The pool let one publish step run at a time: one's step ended before the other's began.
    spans = []
    for run_id in launched:
        events = api.events(run_id)
        start = next(int(e["timestamp"]) for e in events if e["__typename"] == "ExecutionStepStartEvent")
        end = next(int(e["timestamp"]) for e in events if e["__typename"] == "ExecutionStepSuccessEvent")
        spans.append((start, end))
    spans.sort()
    assert spans[0][1] <= spans[1][0]


def test_make_approve_while_make_serve_runs_publishes_through_the_service(first, service, api, tmp_path) -> None:
    """An analyst at a terminal of the machine the service runs on: `make approve` goes into the service's history
    and UI (its PostgreSQL instance), not a local instance of its own."""
    before = {run["runId"] for run in api.runs()}
    env = {**os.environ, **service.extra_env, "SERVICE_HOME": str(service.home),
           "DAGSTER_HOME": str(tmp_path / "local_home")}
    (tmp_path / "local_home").mkdir()
    (tmp_path / "local_home" / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    approved = subprocess.run([sys.executable, "-m", "pipelines.commands.approve", "--by", "Cleo Commandline",
                               "--version", first["version"]], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
    assert approved.returncode == 0, approved.stdout[-2000:] + approved.stderr[-2000:]
    assert f"note: make serve is running: this publish runs in its instance (its UI: {service.ui_url})" in (
        approved.stdout)
    [new] = [run for run in api.runs() if run["runId"] not in before]  # the schedules are off (stop_schedules)
    assert new["jobName"] == "publish" and new["status"] == "SUCCESS"
    assert not (tmp_path / "local_home" / "history").exists()  # no local instance was even opened


def test_a_run_lost_in_a_crash_is_marked_failed_and_completes_when_reexecuted_from_failure(
        first, service, api) -> None:
    steps_in_processes_of_their_own(service, api)
    tables = Path(service.extra_env["PIPELINE_DATA_DIR"]) / "tables"
    run_id = api.launch(SOURCE_JOB)
    api.wait_for(lambda: step_started(api, run_id), "the run's first step to start")
    # The service crashes mid-run: the daemon, the code server and the run's process (with its step processes)
    # all killed with SIGKILL, so nothing is left to say what happened to the run.
    run_pid = run_process_id(api, run_id)
    for name in ("daemon", "code server"):
        os.killpg(service.parts[name].process.pid, signal.SIGKILL)
        service.parts[name].process.wait(timeout=10)
    if psutil.pid_exists(run_pid):
        kill_tree(run_pid)
    assert api.run(run_id)["status"] == "STARTED"
    restarted_at = time.monotonic()
    service.start_part("code server", report=lambda _: None)
    service.start_part("daemon", report=lambda _: None)
    service.wait_for_daemons()
    assert api.wait(run_id, timeout_s=120)["status"] == "FAILURE"
    figure(f"crash (daemon, code server, run killed) -> from the restart of the two, run monitoring marked the "
           f"run failed in {time.monotonic() - restarted_at:.1f} s (polling every 2 s here, 30 s as shipped)")
    messages = failure_messages(api, run_id)
    assert any("is no longer running" in message and "Re-execute it from failure" in message for message in messages)
    assert any(m.startswith("Executing steps using multiprocess executor") for m in messages)  # a process per step
    # Every stored table is whole: writes land by rename, so a killed write leaves the previous file (and at most
    # a hidden .tmp- file, never read).
    for table in tables.glob("[!.]*.parquet"):
        assert len(pd.read_parquet(table)) > 0, table
    retry = api.reexecute_from_failure(run_id)
    started = time.monotonic()
    assert api.wait(retry)["status"] == "SUCCESS"
    figure(f"re-execution from failure: {time.monotonic() - started:.1f} s")
    # Same samples, same tables: the re-executed run ends at the report version the first run made.
    assert api.report_version(retry) == first["version"]


def test_a_run_that_loses_postgresql_never_ends_half_recorded_and_a_rerun_after_it_is_back_succeeds(
        first, service, api) -> None:
    steps_in_processes_of_their_own(service, api)
    earlier = {r["runId"]: api.events(r["runId"]) for r in api.runs()}
    run_id = api.launch(SOURCE_JOB)
    api.wait_for(lambda: step_started(api, run_id), "the run to start its first step")
    service.postgres.stop()
    stopped_at = time.monotonic()
    time.sleep(OUTAGE_S)
    service.postgres.start()
    service.postgres.wait_ready()
    run = api.wait(run_id, timeout_s=180)
    figure(f"PostgreSQL stopped for {OUTAGE_S} s mid-run -> run {run['status']} {time.monotonic() - stopped_at:.1f} s "
           "after it stopped")
    if run["status"] == "FAILURE":
        # Where the database went away decides who reports it: the run (Dagster's "too many retries for DB
        # connection"), a step writing its events (the driver's connection error), or run monitoring afterwards.
        errors = api.failure_errors(run_id)
        database_errors = [error for error in errors if "DB connection" in error
                           or ("connection" in error.lower() and ("psycopg" in error or "server" in error))]
        assert database_errors or any("no longer running" in m for m in failure_messages(api, run_id)), errors
    else:
        # A run whose processes wrote nothing while the server was away rides it out (seen with steps forked from
        # a preloaded process, which finish faster): then its record must be whole.
        assert run["status"] == "SUCCESS"
        assert api.report_version(run_id) == first["version"]
    rerun = api.launch(SOURCE_JOB)
    assert api.wait(rerun)["status"] == "SUCCESS"
    # Nothing recorded before the outage is lost: every earlier run keeps every one of its events, as it was. An
    # event stored after them (by run monitoring, say) is not a loss and does not fail this.
    now = {run_id: api.events(run_id) for run_id in earlier}
    changed = {run_id[:8]: (len(events), len(now[run_id])) for run_id, events in earlier.items()
               if now[run_id][:len(events)] != events}
    assert not changed, f"earlier runs whose events were lost or changed (events before, now): {changed}"


def test_new_code_reaches_the_ui_without_stopping_it_or_a_running_job(first, service, api, tmp_path) -> None:
    webserver_pid = service.parts["webserver"].process.pid
    checkout = copy_of_the_code(tmp_path / "checkout")
    code_server = service.parts["code server"]
    # Last on this service: the code server is left on the checkout (the module's service stops after it).
    # The code server now loads a checkout of its own (as a deployment does), restarted while the UI stays up.
    code_server.stop()
    code_server.cwd = checkout
    service.extra_env["PYTHONPATH"] = str(checkout)
    service.extra_env.update(STEPS_IN_THE_RUN_PROCESS)  # not a test of the steps' processes
    service.start_part("code server", report=lambda _: None)
    api.wait_for(lambda: code_loaded(api), "the UI to see the code again")
    running = api.launch(SOURCE_JOB)
    api.wait(running, until=("STARTED", "SUCCESS", "FAILURE", "CANCELED"))
    # Upgrade: the checkout changes, then the UI's "Reload" on the code location.
    jobs = checkout / "pipelines" / "jobs.py"
    jobs.write_text(jobs.read_text().replace("Never publishes.", "Never publishes. Upgraded."))
    reloaded_at = time.monotonic()
    api("""mutation { reloadRepositoryLocation(repositoryLocationName: "london_covid") { __typename } }""")
    api.wait_for(lambda: "Upgraded." in (code_loaded(api) or ""),
                 "the UI to serve the new code")
    figure(f"code reload -> new code in the UI: {time.monotonic() - reloaded_at:.1f} s")
    assert service.parts["webserver"].process.pid == webserver_pid and service.parts["webserver"].running()
    assert api.wait(running)["status"] == "SUCCESS"  # the run in progress finished on the code it started with


def test_make_prune_while_make_serve_runs_trims_its_history_but_not_what_the_asset_pages_show(
        first, service, api, tmp_path) -> None:
    """Dagster never trims its run history; `make prune` at the service's terminal trims the service's (PostgreSQL),
    keeping each asset's latest materialization's run, and opens no local instance."""
    nodes = api("""{ assetNodes { assetMaterializations(limit: 1) { runId } } }""")["assetNodes"]
    current = {node["assetMaterializations"][0]["runId"] for node in nodes if node["assetMaterializations"]}
    before = {run["runId"]: run["status"] for run in api.runs()}
    with_step_logs = {run_id for run_id in before if (service.home / "storage" / run_id).is_dir()}  # Dagster's place
    (tmp_path / "local_home").mkdir()
    (tmp_path / "local_home" / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text())
    env = {**os.environ, **service.extra_env, "SERVICE_HOME": str(service.home),
           "DAGSTER_HOME": str(tmp_path / "local_home")}
    pruned = subprocess.run([sys.executable, "-m", "pipelines.commands.prune", "--keep-days", "0"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert pruned.returncode == 0, pruned.stdout[-2000:] + pruned.stderr[-2000:]
    assert (f"note: make serve is running on these data: its run history is pruned (its UI: {service.ui_url})"
            in pruned.stdout)
    removed = {line.split()[2] for line in pruned.stdout.splitlines() if line.startswith("  removed run ")}
    after = {run["runId"] for run in api.runs()}
    # Each removed run is gone and every other is still there.
    assert removed and removed.isdisjoint(after) and set(before) - removed <= after
    assert current <= after and {before[run_id] for run_id in removed} <= {"SUCCESS", "FAILURE", "CANCELED"}
    assert " MB of step logs; their events deleted from the instance's database, which reuses the space" in (
        pruned.stdout)
    assert removed & with_step_logs and not any((service.home / "storage" / run_id).exists() for run_id in removed)
    assert not (tmp_path / "local_home" / "history").exists()


def test_every_part_s_log_and_postgresql_s_are_kept_small_while_they_run(service, api, monkeypatch) -> None:
    """What the supervisor does every minute, with the cap at 1 byte: each log moves aside, and the parts, writing on
    to the files they hold open, still answer."""
    monkeypatch.setattr(logs, "LOG_CAP_BYTES", 1)
    written = {log: log.read_bytes() for log in [*(part.log for part in service.parts.values()), service.postgres.log]
               if log.stat().st_size > 1}
    assert {log.name for log in written} >= {"daemon.log", "code-server.log", "postgres.log"}
    service.keep_logs_small()
    for log, before in written.items():
        assert log.with_name(f"{log.name}.1").read_bytes().startswith(before)
        assert not log.read_bytes().startswith(before)  # emptied: what it holds now was written since
    assert api("{ version }")["version"] and service.stopped_part() is None and not service.postgres_stopped()


def test_make_serve_starts_everything_and_sigterm_to_make_stops_everything(tmp_path) -> None:
    require_postgres()
    settings = free_settings()
    pg_folder = postgres_folder()
    env = service_env(settings, pg_folder / "storage", SERVICE_HOME=str(tmp_path / "home"))
    started = time.monotonic()
    make = subprocess.Popen(["make", "-s", "serve"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in make.stdout:
            lines.append(line)
            if line.startswith("service up"):
                break
        assert lines and lines[-1].startswith("service up"), "".join(lines)
        # A new installation is told what to do first.
        assert "launch the nightly job once" in make.stdout.readline()
        figure(f"make serve on a new folder (initdb included): {time.monotonic() - started:.1f} s; says: "
               f"{lines[-1].strip()}")
        assert requests.get(f"http://127.0.0.1:{settings.dagster_port}/server_info", timeout=5).ok
        assert requests.get(f"http://127.0.0.1:{settings.reports_port}/", timeout=5).ok
        # PostgreSQL runs as its own account, never root.
        postgres = [p for p in psutil.process_iter(["name", "username", "cmdline"])
                    if p.info["cmdline"] and str(pg_folder) in " ".join(p.info["cmdline"])]
        assert postgres and all(p.info["username"] != "root" for p in postgres)
        make.send_signal(signal.SIGTERM)
        rest = make.communicate(timeout=90)[0]
        # make passes SIGTERM to `make serve`'s process, waits for it, then ends by the signal itself.
        assert make.returncode in (0, -signal.SIGTERM), rest
        assert "PostgreSQL stopped" in rest
        assert_closed(settings.dagster_port, settings.reports_port, settings.code_server_port, settings.pg_port)
    finally:
        if make.poll() is None:
            make.kill()
        shutil.rmtree(pg_folder, ignore_errors=True)


def test_a_port_taken_is_named_before_anything_starts_and_a_part_that_cannot_start_stops_the_rest(tmp_path) -> None:
    """The UI's port held by another program: named in one line before anything starts (it used to start PostgreSQL,
    initdb included, and the code server first). Taken only once PostgreSQL is ready, as another program may do
    meanwhile: the webserver is named with its log, and the parts already started are stopped."""
    require_postgres()
    settings = free_settings()
    pg_folder = postgres_folder()
    env = service_env(settings, pg_folder / "storage")
    env.pop("VERBOSE", None)
    command = [sys.executable, "-m", "pipelines.service", "--home", str(tmp_path / "home")]
    try:
        with socket.socket() as taken:  # something else already listens on the UI's port
            taken.bind(("127.0.0.1", settings.dagster_port))
            taken.listen()
            held = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert held.returncode == 1 and held.stdout == ""
        assert held.stderr.splitlines() == [
            f"DAGSTER_PORT={settings.dagster_port}: that port on 127.0.0.1 is in use by another program (Address "
            "already in use): fix the setting (docs/operations.md, \"Settings\") and run the command again."]
        assert not (tmp_path / "home").exists() and not (pg_folder / "storage").exists()

        service = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        with socket.socket() as taken:
            for line in service.stdout:
                if line.startswith("PostgreSQL ready"):
                    taken.bind(("127.0.0.1", settings.dagster_port))
                    taken.listen()
                    break
            out, err = service.communicate(timeout=180)
        assert service.returncode == 1
        assert "the webserver exited with code" in err and "webserver.log" in err, err
        assert "PostgreSQL stopped" in out and "code server stopped" in out
        assert_closed(settings.code_server_port, settings.pg_port)
    finally:
        shutil.rmtree(pg_folder, ignore_errors=True)


def test_a_data_folder_that_is_a_file_stops_make_serve_in_one_line_before_anything_starts(tmp_path) -> None:
    settings = free_settings()
    storage = tmp_path / "storage"
    storage.write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "pipelines.service", "--home", str(tmp_path / "home")],
                          cwd=REPO_ROOT, env=service_env(settings, storage), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"PIPELINE_DATA_DIR='{storage}' is not a folder: {storage} is a file: fix the "
                                        "setting (docs/operations.md, \"Settings\") and run the command again."]
    assert not (tmp_path / "home").exists()
    assert_closed(settings.dagster_port, settings.reports_port, settings.code_server_port, settings.pg_port)


def test_a_service_config_left_broken_is_named_in_one_line_before_anything_starts(tmp_path) -> None:
    """config/dagster-service.yaml broken by a hand edit (not YAML, then a key Dagster does not know): one line naming
    that file and what is wrong, before anything starts. Each part used to fail in turn with Dagster's traceback,
    naming the copy in the service's home, which the next start writes again."""
    checkout = copy_of_the_code(tmp_path / "checkout")
    (checkout / "config").unlink()  # a config of its own to break, not the repository's
    shutil.copytree(REPO_ROOT / "config", checkout / "config")
    config = checkout / "config" / "dagster-service.yaml"
    shipped = config.read_text().splitlines()
    monitoring = shipped.index("run_monitoring:")
    settings = free_settings()
    env = {**service_env(settings, tmp_path / "storage"), "PYTHONPATH": str(checkout)}
    env.pop("VERBOSE", None)
    for broken, named in (
        (["run_monitoring: [unclosed"], f'line {monitoring + 1}, column 17'),
        (["run_monitorng:"], 'unexpected config entry "run_monitorng"'),
    ):
        config.write_text("\n".join([*shipped[:monitoring], *broken, *shipped[monitoring + 1:]]) + "\n")
        done = subprocess.run([sys.executable, "-m", "pipelines.service", "--home", str(tmp_path / "home")],
                              cwd=checkout, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stdout == "", done.stdout
        [line] = done.stderr.splitlines()
        assert line.startswith(f"make serve: Dagster cannot read {config} (") and named in line, line
        assert f"mend it there (each start copies it to {tmp_path / 'home' / 'dagster.yaml'})" in line, line
        assert not (tmp_path / "home").exists() and not (tmp_path / "storage").exists()
        assert_closed(settings.dagster_port, settings.reports_port, settings.code_server_port, settings.pg_port)
