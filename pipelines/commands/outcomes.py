"""What a finished in-process run says to the person at the terminal: each failed step's own message, without the
stack trace Dagster keeps for the UI's run log."""

from __future__ import annotations

import re

import dagster as dg

from assets.ingest.factory import STOPPED

# The exception's class before its message: "resources.errors.DatastoreError: could not reach ..." -> "could not
# reach ...", and so for a class named otherwise in a package's module ("resources.files.DamagedFile: ..."; not a file
# name such as "region_london.CSV: ...").
_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+(?:Error|Exception|Failure)|(?:[a-z_]\w*\.){2,}[A-Z][a-z]\w*): ")


def step_failures(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """(step, message) for every step that failed, the message as its code raised it (a dg.Failure's description,
    otherwise the exception's own message), first line only."""
    failures = []
    for event in result.all_events:
        if not event.is_step_failure or event.step_failure_data is None:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            message = data.user_failure_data.description
        else:
            error = data.error
            message = (error.cause.message if error and error.cause else error.message if error else "") or "unknown"
        first = message.strip().splitlines()[0] if message.strip() else "unknown"
        failures.append((event.step_key or "?", _EXCEPTION_PREFIX.sub("", first)))
    return failures


def interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether the run ended because it was stopped (Ctrl-C, SIGTERM), not because a step failed on its own: a step
    failed with Dagster's interrupt, or a download failed as stopped (assets/ingest/factory.py: stopped)."""
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is None:
            continue
        if data.error is not None and data.error.cls_name == "DagsterExecutionInterruptedError":
            return True
        if data.user_failure_data is not None and STOPPED in data.user_failure_data.metadata:
            return True
    return False
