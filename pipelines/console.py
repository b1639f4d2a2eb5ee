"""The console log of a run started from a terminal (`make run`; `make approve` with VERBOSE=1): Dagster's own, except
that a failure is told by its message and not its stack trace unless the run config asks for them (`stack_traces`,
VERBOSE=1). The project's errors are one line naming the source, the file and the problem; the stack traces of
Dagster and the project's code around them (about 30 lines a failure, and again with the run's failure) buried that
line. The run's page in the UI keeps every stack trace. The runs the schedules and the release sensor start print the
same way in the service's log (AUTOMATED_RUN_CONFIG); runs launched from the UI, which name no logger in their run
config, keep Dagster's default console log there (Dagster uses a job's logger only when the run config names it)."""

from __future__ import annotations

import logging
import re

import dagster as dg

STACK_TRACE = "Stack Trace:"
# What a failure's message ends with instead of its stack trace: where to see it, by where the run was started.
ASK = "(VERBOSE=1 shows the stack trace here; the run's page in the Dagster UI has it)"
IN_THE_UI = "(the run's page in the Dagster UI has the stack trace)"
# The run config of the runs the schedules and the release sensor start: nobody watches the service's log at night,
# and a failure there is read the next morning, by its one line; Dagster's per-event DEBUG chatter stays in the UI.
AUTOMATED_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO", "hint": IN_THE_UI}}}}


def without_stack_traces(message: str, hint: str) -> str:
    """A Dagster log message without its stack traces: each `Stack Trace:` heading and the indented frames under it
    go; the error's type and message, and the causes Dagster lists after it ("The above exception was caused by
    ..."), stay. A message that had a stack trace ends with how to see it (`hint`)."""
    lines = message.split("\n")
    kept: list[str] = []
    in_trace = False
    for line in lines:
        if line == STACK_TRACE:
            in_trace = True
        elif not (in_trace and line.startswith(" ")):
            in_trace = False
            kept.append(line)
    if len(kept) == len(lines):
        return message
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).rstrip() + "\n" + hint


class WithoutStackTraces(logging.Filter):
    """Takes the stack traces out of every message its handler prints (without_stack_traces), ending each with
    `hint`."""

    def __init__(self, hint: str) -> None:
        super().__init__()
        self.hint = hint

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if STACK_TRACE in message:
            record.msg, record.args = without_stack_traces(message, self.hint), ()
        return True


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
        "name": dg.Field(str, is_required=False, default_value="dagster", description="The logger's name."),
        "stack_traces": dg.Field(bool, is_required=False, default_value=False,
                                 description="Print a failure's stack trace (VERBOSE=1), not only its message."),
        "hint": dg.Field(str, is_required=False, default_value=ASK,
                         description="What a failure's message ends with instead of its stack trace: how to see it."),
    },
    description="Dagster's colored console log, a failure's stack trace only when asked for (the UI always has it).",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    # Dagster's own console logger reads the level and name it shares with this one.
    logger = dg.colored_console_logger.logger_fn(init_context)
    if not init_context.logger_config["stack_traces"]:
        for handler in logger.handlers:
            handler.addFilter(WithoutStackTraces(init_context.logger_config["hint"]))
    return logger
