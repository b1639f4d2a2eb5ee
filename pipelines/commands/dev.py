"""`make dev`: the Dagster UI (`dagster dev`: webserver, daemon, code server) and the report server on 127.0.0.1,
started together and stopped whole.

Ctrl-C, SIGTERM (`kill`, a supervisor, make passing on its own SIGTERM) or SIGHUP stops both, whether `make dev`
runs in the foreground or the background: each part runs in a process group of its own, which is signalled as a
whole (`dagster dev` does not stop its webserver and daemon on a SIGTERM meant for it alone) until none of it runs,
then killed if it has not stopped within STOP_WAIT_S. No process is left holding the ports, and no socket file of
theirs in /tmp. If one part stops by itself, the other is stopped too and the command exits non-zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil

from pipelines.commands import open_instance
from resources import settings
from resources.errors import SettingError
from resources.settings import REPO_ROOT

STOP_WAIT_S = 20.0
PR_SET_PDEATHSIG = 1  # Linux prctl: the signal a process gets when its parent dies


def _stop_with_parent() -> None:
    """In a child, before it runs: on Linux, be sent SIGTERM if this command is killed outright (SIGKILL), so the UI
    does not outlive it holding the port."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a SIGKILL of this command leaves the parts to be stopped by hand


def start(command: list[str]) -> subprocess.Popen:
    # The report server also answers report links recorded with other ports (reports/serve.py).
    env = {**os.environ, "REPORTS_ANSWER_OLD_LINKS": "1"}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True, preexec_fn=_stop_with_parent)


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each part's whole process group until none of it runs, then SIGKILL to any group still there after
    STOP_WAIT_S; then the socket files its processes were started with are removed. The whole group, not only its
    leader: on SIGTERM `dagster dev` starts its code server again (seen 1.5 s in) and ends before that one does. And a
    process killed leaves its socket file in /tmp: two for each stop of `make dev` when the group was killed as soon
    as `dagster dev` had ended, and still one now and then under load, where Dagster's code server kills its own gRPC
    server."""
    deadline = time.monotonic() + STOP_WAIT_S
    sockets = {path for process in processes for path in _socket_files(_group(process))}
    for process in processes:  # every part at once
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        signalled = time.monotonic()
        while time.monotonic() < deadline and (running := _group(process)):
            sockets |= _socket_files(running)  # a process started since, too
            if time.monotonic() - signalled >= 1.0:  # again, for a process started since
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                signalled = time.monotonic()
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group's stragglers, even once its leader has gone
        process.wait()
    for path in sockets:  # no process of the groups is left to use them
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)


def _group(leader: subprocess.Popen) -> list[psutil.Process]:
    """The processes of `leader`'s group still running (one that has ended but is not yet reaped is not)."""
    leader.poll()  # reaps the leader once it has ended
    running = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) == leader.pid and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def _socket_files(processes: list[psutil.Process]) -> set[str]:
    """The socket files `processes` were started with (`--socket <path>`: dagster dev's code servers)."""
    found: set[str] = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found |= set(re.findall(r"--socket (\S+)", " ".join(process.cmdline())))
    return found


def main() -> int:
    # What the parts read first, checked once here: wrong, it is one line naming it, not a traceback from each part.
    settings.data_dir()
    settings.dagster_home()
    port = settings.number("DAGSTER_PORT")
    settings.check_ports({"DAGSTER_PORT": port, "REPORTS_PORT": settings.number("REPORTS_PORT")})
    dagster = str(Path(sys.executable).with_name("dagster"))
    parts = {
        "the report server": start([sys.executable, "-m", "reports.serve"]),
        "dagster dev": start([dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]),
    }
    # A plain flag, polled: a handler that took a lock (threading.Event.set) could run while the main thread holds
    # that same lock inside Event.wait, and hang for ever with both parts still up (seen under load).
    asked: list[int] = []
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(stop_signal, lambda signum, _frame: asked.append(signum))
    while not asked and all(process.poll() is None for process in parts.values()):
        time.sleep(0.5)
    ended = [name for name, process in parts.items() if process.poll() is not None]
    stop(list(parts.values()))
    if asked:
        print("make dev stopped: the Dagster UI and the report server are down.", file=sys.stderr)
        return 0
    why = (dagster_home_problem() if "dagster dev" in ended else None) or "its output above says why"
    print(f"make dev stopped: {', '.join(ended)} ended by itself ({why}); the rest was stopped too.", file=sys.stderr)
    return 1


def dagster_home_problem() -> str | None:
    """Once `dagster dev` has ended by itself: the one line saying so when DAGSTER_HOME's dagster.yaml is what it could
    not read, which it tells in a traceback of about a hundred lines (a hand edit left broken). Checked only then:
    opening the instance before every start would cost each one about 0.7 s."""
    try:
        with open_instance():
            return None
    except SettingError as error:
        return str(error)


if __name__ == "__main__":
    sys.exit(main())
