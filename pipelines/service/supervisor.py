"""`make serve`: the pipeline as an always-on service on one machine (docs/operations.md, "Running as a service").

Each part is its own process, bound to 127.0.0.1, started in this order and stopped in the reverse one:

1. PostgreSQL (postgres.py): Dagster's run, event-log and schedule storage. Our own server (Debian's `postgresql`
   package), initialised on the first start under `<data folder>/postgres/` (or, when its non-root account cannot
   reach that folder, under /var/lib/covid-pipeline/, said in a start-up line) and run as a non-root account; or an
   existing server when DAGSTER_PG_HOST points to one.
2. The code server (`dagster code-server start`): loads the pipeline's definitions and runs them. The webserver and
   daemon reach it over gRPC, so a new version of the code is loaded by reloading it (the UI's "Reload" on the code
   location) without stopping the UI; runs in progress finish on the code they started with.
3. `dagster-webserver` (the UI), 4. `dagster-daemon` (schedules, sensors, the run queue, run monitoring),
5. the report server (`reports.serve`).

Their output goes to `<SERVICE_HOME>/service-logs/<part>.log`. Ctrl-C or SIGTERM stops them all; so does any part
exiting on its own (named, with the end of its log), so a process supervisor (systemd, ...) can restart the whole
service.
Starting again finds everything where it was: the database, the stored tables, the reports and the publish audit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
from dagster._core.instance.ref import InstanceRef

from pipelines.commands import UNREADABLE_INSTANCE_CONFIG, instance_config_problem
from pipelines.service.logs import keep_small
from pipelines.service.postgres import Postgres, ServiceError, log_tail
from resources.files import write_atomically
from resources.settings import (
    CODE_LOCATION,
    REPO_ROOT,
    ServiceSettings,
    check_ports,
    data_dir,
    service_home,
    service_settings,
)

INSTANCE_CONFIG = REPO_ROOT / "config" / "dagster-service.yaml"
LOG_CHECK_S = 60.0  # how often the logs' sizes are looked at (a stat each)
# In the service's home while it runs: how `make approve` reaches its instance (Service.announce).
RUNNING = "running.json"
DAEMONS = ("SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING")
DAEMON_HEALTH_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"


@dataclass
class Part:
    """One Dagster or report process of the service."""

    name: str
    command: list[str]
    log: Path
    cwd: Path = REPO_ROOT
    process: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Its own process group: stopping it reaches the processes it starts (the code server's runs, the
        # webserver's helpers), and a Ctrl-C in the terminal reaches only the supervisor, which stops the parts in
        # order.
        with self.log.open("a") as log:
            self.process = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 30) -> None:
        if self.process is None:
            return
        group = self.process.pid
        if self.running():
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # Whatever of its group is left (a run's step processes, a webserver helper) goes too.
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == group:
                    process.kill()
            except (psutil.Error, ProcessLookupError):
                pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class Service:
    """The whole service; `start()` brings every part up and waits until each answers."""

    home: Path  # DAGSTER_HOME of the service: dagster.yaml, the workspace, logs, compute logs
    settings: ServiceSettings = field(default_factory=service_settings)
    instance_config: Path = INSTANCE_CONFIG
    extra_env: dict[str, str] = field(default_factory=dict)  # settings for the parts (tests: data folder, ...)
    postgres_root: Path | None = None  # default <data folder>/postgres
    data_folder: Path = field(init=False)  # PIPELINE_DATA_DIR: raw archive, tables, reports, audit
    postgres: Postgres = field(init=False)
    parts: dict[str, Part] = field(init=False)
    logs_left: set[Path] = field(init=False, default_factory=set)  # logs that could not be moved (said once)

    def __post_init__(self) -> None:
        self.home = self.home.resolve()
        env_data = self.extra_env.get("PIPELINE_DATA_DIR")
        self.data_folder = Path(env_data).resolve() if env_data else data_dir()
        self.postgres = Postgres(self.settings, self.postgres_root or self.data_folder / "postgres")
        # Not "logs": Dagster moves $DAGSTER_HOME/logs away (its telemetry queue).
        logs = self.home / "service-logs"
        s = self.settings
        workspace = str(self.home / "workspace.yaml")
        self.parts = {
            "code server": Part("code server", [
                bin_path("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(s.code_server_port),
                "-m", "pipelines.definitions", "--location-name", CODE_LOCATION], logs / "code-server.log"),
            "webserver": Part("webserver", [
                bin_path("dagster-webserver"), "-h", "127.0.0.1", "-p", str(s.dagster_port), "-w", workspace],
                logs / "webserver.log"),
            "daemon": Part("daemon", [bin_path("dagster-daemon"), "run", "-w", workspace], logs / "daemon.log"),
            "reports": Part("reports", [sys.executable, "-m", "reports.serve"], logs / "reports.log"),
        }

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dagster_port}"

    @property
    def reports_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.reports_port}"

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ, **self.extra_env, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1",
            "DAGSTER_PG_HOST": self.postgres.host, "DAGSTER_PG_PORT": str(s.pg_port),
            "DAGSTER_PG_USERNAME": s.pg_username, "DAGSTER_PG_PASSWORD": self.postgres.password(),
            "DAGSTER_PG_DB": s.pg_db, "DAGSTER_PORT": str(s.dagster_port), "REPORTS_PORT": str(s.reports_port),
            # The report server also answers report links recorded with other ports (reports/serve.py).
            "REPORTS_ANSWER_OLD_LINKS": "1",
        }

    def prepare(self) -> None:
        """The instance's dagster.yaml (refreshed from config/ at every start) and the workspace that points the
        webserver and daemon at the code server."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.instance_config, self.home / "dagster.yaml")
        (self.home / "workspace.yaml").write_text(
            "# Written by `make serve` (pipelines/service.py) at every start: the code server it runs.\n"
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {self.settings.code_server_port}\n      location_name: {CODE_LOCATION}\n")

    def start(self, report=print) -> float:
        """Start every part and wait until each answers; returns the seconds it took. The code server starts first
        (the webserver and the daemon load the code from it), the report server beside it, then the webserver and
        the daemon together: each part spends seconds importing before it answers, and those overlap."""
        began = time.monotonic()
        self.check_ports()
        self.check_instance_config()
        self.prepare()
        self.start_postgres(report)
        self.start_parts(("code server", "reports"), report)
        self.start_parts(("webserver", "daemon"), report)
        self.wait_for_daemons()
        self.announce()
        return time.monotonic() - began

    def check_ports(self) -> None:
        """Every port the parts will listen on free, before anything starts (PostgreSQL's only when it is ours)."""
        s = self.settings
        ports = {"DAGSTER_PORT": s.dagster_port, "REPORTS_PORT": s.reports_port, "CODE_SERVER_PORT": s.code_server_port}
        if self.postgres.managed:
            ports["DAGSTER_PG_PORT"] = s.pg_port
        check_ports(ports)

    def check_instance_config(self) -> None:
        """The instance's config (config/dagster-service.yaml) as Dagster reads it, before anything starts. Left broken
        by a hand edit, each part failed in turn with Dagster's traceback in its log, naming the copy in the service's
        home, which every start writes again: mending that copy mended nothing."""
        where = f"each start copies it to {self.home / 'dagster.yaml'}"
        if not self.instance_config.is_file():
            raise ServiceError(f"{self.instance_config} is missing ({where}): `git checkout {self.instance_config}` "
                               "brings it back")
        try:
            # Reads and checks the file against Dagster's schema without opening any storage.
            InstanceRef.from_dir(str(self.home), config_dir=str(self.instance_config.parent),
                                 config_filename=self.instance_config.name)
        except UNREADABLE_INSTANCE_CONFIG as error:
            raise ServiceError(f"Dagster cannot read {self.instance_config} ({instance_config_problem(error)}): mend "
                               f"it there ({where}); `git diff` shows what was changed") from error

    def announce(self) -> None:
        """Say, in the service's home, that it runs and how to reach its instance (never the password itself: where
        it is kept), so `make approve` publishes through it and the publish shows in its UI (running_service)."""
        record = {"pid": os.getpid(), "ui_url": self.ui_url, "data_dir": str(self.data_folder),
                  "pg": {"host": self.postgres.host, "port": self.settings.pg_port,
                         "username": self.settings.pg_username, "db": self.settings.pg_db},
                  "password_file": None if self.settings.pg_password is not None or not self.postgres.managed
                  else str(self.postgres.root / "password")}
        write_atomically(self.home / RUNNING, json.dumps(record, indent=2))

    def start_postgres(self, report=print) -> None:
        # Where the cluster lives is said before initdb, so an operator sees it even when the start fails after.
        if self.postgres.managed and (note := self.postgres.place.note(self.settings.pg_os_user)):
            report(note)
        created = self.postgres.managed and self.postgres.initialise()
        self.postgres.start()
        self.postgres.wait_ready()
        where = (f"our own server, {'created now in' if created else 'cluster'} {self.postgres.cluster}"
                 if self.postgres.managed else "an existing server")
        report(f"PostgreSQL ready on {self.postgres.host}:{self.settings.pg_port}, database "
               f"{self.settings.pg_db!r} ({where})")

    def start_part(self, name: str, report=print, timeout_s: float = 180) -> None:
        self.start_parts((name,), report, timeout_s)

    def start_parts(self, names: tuple[str, ...], report=print, timeout_s: float = 180) -> None:
        """Start the parts together, then wait until each answers; a part that exits or never answers is named."""
        for name in names:
            self.parts[name].start(self.env())
        deadline = time.monotonic() + timeout_s
        for name in names:
            self._wait_until_answering(name, deadline, timeout_s, report)

    def _wait_until_answering(self, name: str, deadline: float, timeout_s: float, report) -> None:
        part = self.parts[name]
        while not self._answers(name):
            if not part.running():
                raise ServiceError(f"the {name} exited with code {part.process.returncode} while starting; the end "
                                   f"of its log, {part.log}:\n{log_tail(part.log)}")
            if time.monotonic() > deadline:
                raise ServiceError(f"the {name} did not answer within {timeout_s:.0f} s; see {part.log}")
            time.sleep(0.5)
        report(f"{name} ready (log: {part.log})")

    def _answers(self, name: str) -> bool:
        try:
            if name == "code server":
                return code_server_serving(self.settings.code_server_port)
            if name == "webserver":
                return requests.get(f"{self.ui_url}/server_info", timeout=2).ok
            if name == "reports":
                return requests.get(self.reports_url, timeout=2).ok
            return True  # the daemon answers through the webserver: wait_for_daemons
        except requests.RequestException:
            return False

    def daemon_health(self) -> dict[str, bool]:
        response = requests.post(f"{self.ui_url}/graphql", json={"query": DAEMON_HEALTH_QUERY}, timeout=10)
        statuses = response.json()["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {status["daemonType"]: status["healthy"] for status in statuses}

    def wait_for_daemons(self, timeout_s: float = 120) -> None:
        """Until the daemons the service relies on report healthy heartbeats (as the UI's Deployment page shows)."""
        deadline = time.monotonic() + timeout_s
        health: dict[str, bool] = {}
        while time.monotonic() < deadline:
            daemon = self.parts["daemon"]
            if not daemon.running():
                raise ServiceError(f"the daemon exited with code {daemon.process.returncode}; the end of its log, "
                                   f"{daemon.log}:\n{log_tail(daemon.log)}")
            try:
                health = self.daemon_health()
                if all(health.get(name) for name in DAEMONS):
                    return
            except (requests.RequestException, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        unhealthy = [name for name in DAEMONS if not health.get(name)]
        raise ServiceError(f"daemons not healthy after {timeout_s:.0f} s: {', '.join(unhealthy)}; see "
                           f"{self.parts['daemon'].log}")

    def stopped_part(self) -> Part | None:
        """A part that exited although nobody stopped it (or None)."""
        for part in self.parts.values():
            if part.process is not None and not part.running():
                return part
        return None

    def started(self) -> bool:
        """Whether any part or PostgreSQL has been started (so that there is something to stop)."""
        return self.postgres.process is not None or any(part.process is not None for part in self.parts.values())

    def postgres_stopped(self) -> bool:
        return self.postgres.process is not None and self.postgres.process.poll() is not None

    def keep_logs_small(self) -> None:
        """Every part's log and PostgreSQL's within their cap (pipelines/service/logs.py). A log that cannot be moved
        (a full disk) is said once and left to grow: nothing in it is lost."""
        for log in [part.log for part in self.parts.values()] + [self.postgres.log]:
            try:
                keep_small(log)
            except OSError as error:
                if log not in self.logs_left:
                    self.logs_left.add(log)
                    print(f"make serve: {log} could not be moved to {log.name}.1 ({error}); it grows until "
                          "there is room", file=sys.stderr, flush=True)
            else:
                self.logs_left.discard(log)

    def stop(self, report=print) -> None:
        """Everything, in the reverse order: nothing new starts while the rest stops; PostgreSQL goes last."""
        (self.home / RUNNING).unlink(missing_ok=True)
        for name in ("daemon", "webserver", "reports", "code server"):
            if self.parts[name].process is not None:
                self.parts[name].stop()
                report(f"{name} stopped")
        if self.postgres.process is not None:
            self.postgres.stop()
            report("PostgreSQL stopped")


def running_service(home: Path, data_folder: Path) -> tuple[dict[str, str], str] | None:
    """The environment that reaches a running `make serve`'s instance (DAGSTER_HOME and DAGSTER_PG_*), and its UI's
    address, when one runs from `home` on the same data folder; else None. A record left by a service that was
    killed names a process that is gone: not running."""
    try:
        record = json.loads((home / RUNNING).read_text())
        alive = psutil.pid_exists(int(record["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not alive or Path(record.get("data_dir", "")).resolve() != data_folder.resolve():
        return None
    password = (Path(record["password_file"]).read_text().strip() if record.get("password_file")
                else os.environ.get("DAGSTER_PG_PASSWORD", ""))
    pg = record["pg"]
    return {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": pg["host"], "DAGSTER_PG_PORT": str(pg["port"]),
            "DAGSTER_PG_USERNAME": pg["username"], "DAGSTER_PG_PASSWORD": password,
            "DAGSTER_PG_DB": pg["db"]}, record["ui_url"]


def join_running_service(home: Path, data_folder: Path) -> str | None:
    """When `make serve` runs from `home` on `data_folder`, point this process's Dagster instance at the service's
    (its PostgreSQL) and return its UI's address, so what a command does is in the service's history and UI rather
    than a local instance nobody else sees; else None, leaving the environment as it is."""
    if (service := running_service(home, data_folder)) is None:
        return None
    environment, ui_url = service
    os.environ.update(environment)
    return ui_url


def code_server_serving(port: int) -> bool:
    """gRPC's standard health check, which Dagster's code server answers once the code is loaded."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=service_home(),
                        help="the service's Dagster home (SERVICE_HOME; default .dagster_service)")
    args = parser.parse_args(argv)
    service = Service(Path(args.home))
    stopping = False

    def stop_on_signal(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    try:
        took = service.start()
        print(f"service up in {took:.1f} s: Dagster UI {service.ui_url}, reports {service.reports_url}. "
              "Ctrl-C stops it.", flush=True)
        if not any((service.data_folder / "tables").glob("*.parquet")):
            print("No stored tables yet: launch the nightly job once (Jobs > nightly > Launch run) so every source "
                  "has one; the schedules and single-source runs build on them.", flush=True)
        trimmed_at = time.monotonic()
        while not stopping:
            if time.monotonic() - trimmed_at > LOG_CHECK_S:
                service.keep_logs_small()
                trimmed_at = time.monotonic()
            if (part := service.stopped_part()) is not None:
                raise ServiceError(f"the {part.name} exited with code {part.process.returncode}; the end of its "
                                   f"log, {part.log}:\n{log_tail(part.log)}")
            if service.postgres_stopped():
                raise ServiceError(f"PostgreSQL exited; the end of its log, {service.postgres.log}:\n"
                                   f"{log_tail(service.postgres.log)}")
            time.sleep(1)
        print("stopping the service", flush=True)
        return 0
    except ServiceError as error:
        print(f"make serve: {error}" + ("\nstopping the service" if service.started() else ""), file=sys.stderr,
              flush=True)
        return 1
    finally:
        # Once stopping, a second Ctrl-C must not leave parts running half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        service.stop()


if __name__ == "__main__":
    sys.exit(main())
