"""`make dev` as an analyst starts it, then stopped with SIGTERM sent to make alone (`kill`, as for a background job)
or Ctrl-C (SIGINT to the terminal's whole foreground group): the UI and the report server go down whole, leaving no
process and no port held."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from resources.settings import REPO_ROOT
from tests.browser.ui import free_ports

pytestmark = pytest.mark.commands


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ours(home: Path) -> list[psutil.Process]:
    """Every process started for this Dagster home (the command, dagster dev, its webserver, daemon, code server)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("DAGSTER_HOME") == str(home) and process.pid != os.getpid():
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def socket_files(home: Path) -> set[str]:
    """The socket files the processes of this Dagster home were started with (`--socket <path>`: dagster dev's code
    server and its gRPC server)."""
    found = set()
    for process in ours(home):
        with contextlib.suppress(psutil.Error):
            found |= set(re.findall(r"--socket (\S+)", " ".join(process.cmdline())))
    return found


def dev_environment(tmp_path: Path) -> tuple[Path, int, int, dict[str, str]]:
    """A new Dagster home, its storage and two free ports for make dev: the home, the UI's and the reports' ports,
    and the environment naming them."""
    home = tmp_path / "home"
    port, reports_port = free_ports(2)
    env = {**os.environ, "DAGSTER_HOME": str(home), "PIPELINE_DATA_DIR": str(tmp_path / "storage"),
           "DAGSTER_PORT": str(port), "REPORTS_PORT": str(reports_port)}
    return home, port, reports_port, env


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_make_dev_in_the_background_stops_whole(stop_signal: int, tmp_path: Path) -> None:
    home, port, reports_port, env = dev_environment(tmp_path)
    # Its own process group, as a terminal gives a foreground job (Ctrl-C reaches the whole group).
    make = subprocess.Popen(["make", "-s", "dev"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert make.poll() is None, make.communicate()[0][-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok and listening(reports_port):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "make dev did not start"
            time.sleep(1)
        assert len(ours(home)) >= 4  # make, the command, the report server, dagster dev and its parts

        sockets = socket_files(home)
        if stop_signal == signal.SIGTERM:
            make.send_signal(stop_signal)  # to make alone, as `kill` does
        else:
            os.killpg(make.pid, stop_signal)  # Ctrl-C
        # dagster dev starts its code server again while it stops (with a socket file of its own): watched until the
        # end, for its socket too.
        deadline = time.monotonic() + 90
        while make.poll() is None and time.monotonic() < deadline:
            sockets |= socket_files(home)
            time.sleep(0.05)
        output, _ = make.communicate(timeout=10)
        assert "make dev stopped: the Dagster UI and the report server are down." in output
        deadline = time.monotonic() + 30
        while (ours(home) or listening(port) or listening(reports_port)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ours(home) == [] and not listening(port) and not listening(reports_port)
        # Each process removes its socket file as it ends; killed, it left it in /tmp (two for each stop, before).
        assert sockets and not [path for path in sockets if Path(path).exists()]
    except BaseException:
        # Once the test has failed, nothing of this make dev may go on running through the rest of the suite.
        for process in ours(home):
            with contextlib.suppress(psutil.Error):
                process.kill()
        raise


def test_a_port_in_use_is_named_and_nothing_starts(tmp_path: Path) -> None:
    """The UI's port held by another program, then the report server given the UI's port, then a data folder that is
    a file: make dev says which setting to change, in one line, and starts nothing (it used to start, and the UI never
    answered)."""
    home, port, reports_port, env = dev_environment(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        held = subprocess.run(["make", "-s", "dev"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
    assert held.returncode != 0 and "Traceback" not in held.stderr
    assert f"DAGSTER_PORT={port}: that port on 127.0.0.1 is in use by another program" in held.stderr
    same = subprocess.run(["make", "-s", "dev"], cwd=REPO_ROOT, env={**env, "REPORTS_PORT": str(port)},
                          capture_output=True, text=True, timeout=120)
    assert same.returncode != 0 and "Traceback" not in same.stderr
    assert f"REPORTS_PORT={port} is also DAGSTER_PORT" in same.stderr
    # A data folder that is a file: each part used to fail with its own traceback.
    storage = tmp_path / "a file"
    storage.write_text("not a folder")
    filed = subprocess.run(["make", "-s", "dev"], cwd=REPO_ROOT, env={**env, "PIPELINE_DATA_DIR": str(storage)},
                           capture_output=True, text=True, timeout=120)
    assert filed.returncode != 0 and "Traceback" not in filed.stderr
    assert f"PIPELINE_DATA_DIR='{storage}' is not a folder" in filed.stderr
    assert ours(home) == [] and not listening(port) and not listening(reports_port)


def test_a_dagster_yaml_left_broken_is_named_in_one_line(tmp_path: Path) -> None:
    """A hand edit of DAGSTER_HOME's dagster.yaml that Dagster cannot read: `dagster dev` ends with a traceback of
    about a hundred lines; make dev's last line (above make's own) says which file and what to do."""
    home, port, reports_port, env = dev_environment(tmp_path)
    home.mkdir()
    # Newer than config/dagster.yaml, so make keeps it, as it keeps an operator's own edits.
    (home / "dagster.yaml").write_text((REPO_ROOT / "config" / "dagster.yaml").read_text() + "\nrun_queue: [\n")
    broken = subprocess.run(["make", "-s", "dev"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    lines = broken.stderr.strip().splitlines()
    [told] = [i for i, line in enumerate(lines) if line.startswith("make dev stopped:")]
    last = lines[told]
    # After it only make's own line ("make: ***", or "make[1]: ***" when make test's make runs it).
    assert broken.returncode != 0 and all(re.match(r"make(\[\d+\])?: \*\*\*", line) for line in lines[told + 1:])
    assert last.startswith(f"make dev stopped: dagster dev ended by itself (DAGSTER_HOME='{home}': Dagster cannot "
                           "read its dagster.yaml (")
    assert last.endswith("compare it with config/dagster.yaml, or delete it and make writes it again); the rest was "
                         "stopped too.")
    assert ours(home) == [] and not listening(port) and not listening(reports_port)
