"""`make serve`'s logs stay small however long it runs: a log past its cap moves aside while the part goes on writing
to it, with no line before the move lost and no hole of zeros after it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from pipelines.service.logs import keep_small
from pipelines.service.supervisor import Part

# A part that writes a numbered line every millisecond, each in one write as the daemon's log handler writes its own.
# Not print(): with PYTHONUNBUFFERED set (as here) it writes a line and its newline in two writes, and an
# emptying that falls between them leaves the newline alone at the start of the next file.
WRITER = "import itertools, os, time\nfor n in itertools.count():\n    os.write(1, f'line {n:08d}\\n'.encode())\n" \
         "    time.sleep(0.001)\n"


def numbers(path: Path) -> list[int]:
    return [int(line.split()[1]) for line in path.read_text().splitlines()]


def wait_for_size(log: Path, size: int) -> None:
    deadline = time.monotonic() + 30
    while log.stat().st_size < size:
        assert time.monotonic() < deadline, "the writer wrote too little"
        time.sleep(0.05)


def test_a_log_past_its_cap_moves_aside_while_its_part_writes_on(tmp_path: Path) -> None:
    log = tmp_path / "service-logs" / "daemon.log"
    part = Part("daemon", [sys.executable, "-c", WRITER], log, cwd=tmp_path)
    part.start(dict(os.environ))
    try:
        wait_for_size(log, 4000)
        assert not keep_small(log, cap=100_000)  # under its cap: left alone
        for _ in range(3):  # three moves with LOGS_KEPT = 2: the oldest goes
            wait_for_size(log, 4000)
            assert keep_small(log, cap=2000, kept=2)
        wait_for_size(log, 2000)
    finally:
        part.stop()
    kept, older, now = numbers(log.with_name("daemon.log.2")), numbers(log.with_name("daemon.log.1")), numbers(log)
    assert not log.with_name("daemon.log.3").exists()
    # Appending, the part wrote at the emptied file's start: no zeros where the old content was.
    assert b"\0" not in log.read_bytes() and log.stat().st_size < 4000 * 3
    # Each file holds consecutive lines, and each later file starts after the one before ends: nothing out of order,
    # at most the few lines of the moment between a copy and its emptying missing.
    for lines in (kept, older, now):
        assert lines == list(range(lines[0], lines[0] + len(lines)))
    assert kept[-1] < older[0] <= kept[-1] + 20 and older[-1] < now[0] <= older[-1] + 20
