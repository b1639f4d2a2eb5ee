"""The service's logs kept small: `make serve` runs for months, and its parts (the daemon above all, two lines every
30 s while idle, about 300 MB a year) and PostgreSQL append to their logs for as long as it runs.

A log past LOG_CAP_BYTES moves to `<log>.1` (the one there to `<log>.2`; LOGS_KEPT old ones are kept) and is
emptied in place, as logrotate's `copytruncate` does: the part keeps writing to the file it has open, and because
it was opened for appending (Part.start, Postgres.start), each write lands at the new end, not at the old offset
with a hole of zeros before it. A line written between the copy and the emptying is lost: at most what a part writes
in those milliseconds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

LOG_CAP_BYTES = 20 * 1024 * 1024
LOGS_KEPT = 2


def keep_small(log: Path, cap: int | None = None, kept: int = LOGS_KEPT) -> bool:
    """Move `log`'s content to `<log>.1` once it is larger than `cap` (LOG_CAP_BYTES unless given; see the
    module); whether it did."""
    try:
        if log.stat().st_size <= (LOG_CAP_BYTES if cap is None else cap):
            return False
    except FileNotFoundError:
        return False
    for number in range(kept, 1, -1):
        older = log.with_name(f"{log.name}.{number - 1}")
        if older.exists():
            older.replace(log.with_name(f"{log.name}.{number}"))
    shutil.copyfile(log, log.with_name(f"{log.name}.1"))
    os.truncate(log, 0)
    return True
