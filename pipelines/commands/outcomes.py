"""What a finished in-process run says to the person at the terminal: each failed step's own message, without the
stack trace Dagster keeps for the UI's run log."""

from __future__ import annotations

import os
import re
import signal

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


class StopRequests:
    """Whether Ctrl-C or SIGTERM (`kill`, or make passing its own on) arrived, even during a run. Dagster turns a stop
    during a run into that run's failure and returns (the multiprocess executor with no step failure at all), and one
    that lands while Python runs a finalizer is dropped altogether ("Exception ignored in ..."): `make replay` went on
    to its last night (seen, by hand). The signal's number is also written to a pipe whoever's handler takes it
    (signal.set_wakeup_fd), and read after each run. Within it SIGTERM raises KeyboardInterrupt, as Ctrl-C does."""

    def __enter__(self) -> StopRequests:
        self.reading, self.writing = os.pipe()
        os.set_blocking(self.reading, False)
        os.set_blocking(self.writing, False)
        self.before = signal.set_wakeup_fd(self.writing, warn_on_full_buffer=False), signal.getsignal(signal.SIGTERM)
        self.listen()
        return self

    def __exit__(self, *exc: object) -> None:
        wakeup_fd, sigterm = self.before
        signal.set_wakeup_fd(wakeup_fd)
        if sigterm is not None:  # None: a handler set outside Python, which cannot be put back from here
            signal.signal(signal.SIGTERM, sigterm)
        os.close(self.reading)
        os.close(self.writing)

    @staticmethod
    def listen() -> None:
        # SIGTERM as Ctrl-C (KeyboardInterrupt), so a command ends saying so and cleans up. Set again after each run:
        # Dagster leaves SIGTERM with SIGINT's handler, which is "ignore" in a job started in the background.
        signal.signal(signal.SIGTERM, signal.default_int_handler)

    def arrived(self) -> bool:
        """Whether a stop arrived since the last look."""
        self.listen()
        try:
            numbers = os.read(self.reading, 4096)
        except BlockingIOError:
            return False
        return signal.SIGINT in numbers or signal.SIGTERM in numbers

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop arrived since the last look."""
        if self.arrived():
            raise KeyboardInterrupt
