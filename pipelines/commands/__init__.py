"""The commands behind the make targets: run, approve, parse, rebuild and backfill (each `python -m
pipelines.commands.<name> --help`)."""

import sys

_main_started = False


def _one_line(kind: type[BaseException], error: BaseException, trace: object) -> None:
    """Set before anything else is imported: a Ctrl-C while a command is still loading (its first second or two) was a
    traceback of 30-80 lines through whichever module was being imported; it is one line now, naming the command.
    Everything else goes to _in_one_line (below) once it is defined."""
    if issubclass(kind, KeyboardInterrupt) and not ("verbose" in globals() and verbose()):
        command = _command_name()
        if _main_started:
            print(f"{command} stopped (Ctrl-C or SIGTERM).", file=sys.stderr)
        else:
            print(f"{command} stopped (Ctrl-C) while starting, before it did anything.", file=sys.stderr)
        return
    globals().get("_in_one_line", sys.__excepthook__)(kind, error, trace)


def _command_name() -> str:
    """`make <name>` for `python -m pipelines.commands.<name>`, as the make targets run them."""
    argv = getattr(sys, "orig_argv", [])
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    return f"make {module.rsplit('.', 1)[-1]}" if module.startswith(f"{__name__}.") else "the command"


sys.excepthook = _one_line

import gc  # noqa: E402 (after the hook above, which must be in place first)
import os  # noqa: E402
import sqlite3  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import NoReturn  # noqa: E402

import dagster as dg  # noqa: E402
import yaml  # noqa: E402

from resources.errors import SettingError  # noqa: E402
from resources.files import DamagedFile, refusal, storage_refused  # noqa: E402
from resources.settings import dagster_home, data_dir, verbose  # noqa: E402


def _in_one_line(kind: type[BaseException], error: BaseException, trace: object) -> None:
    """Every command (`python -m pipelines.commands.<name>`): a setting it cannot use is one line naming the variable
    and what it must be, a stored file that cannot be read back one line naming it and what to do, a file the storage
    refuses one line naming it and the folder's setting, and Dagster's database on a full disk one line saying where,
    not a traceback (which VERBOSE=1 still shows). The exit status stays 1."""
    if verbose():
        sys.__excepthook__(kind, error, trace)
    elif isinstance(error, SettingError):
        print(f"{error}: fix the setting (docs/operations.md, \"Settings\") and run the command again.",
              file=sys.stderr)
    elif isinstance(error, DamagedFile):
        print(error, file=sys.stderr)
    elif storage_refused(error):
        try:
            print(refusal(error, data_dir()), file=sys.stderr)
        except SettingError as setting:  # the data folder itself gone wrong meanwhile: say that instead
            print(setting, file=sys.stderr)
    elif _sqlite_full(error):
        print(f"Dagster's database in DAGSTER_HOME ({os.environ.get('DAGSTER_HOME')}) could not be written: the "
              "database or disk is full. Free space on that disk (make prune removes old runs) and run the command "
              "again.", file=sys.stderr)
    else:
        sys.__excepthook__(kind, error, trace)


def _sqlite_full(error: BaseException | None) -> bool:
    """Whether `error` is, or was raised from, SQLite's refusal to grow a database (SQLITE_FULL)."""
    while error is not None:
        if isinstance(error, sqlite3.OperationalError) and "database or disk is full" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def exit_with(main: Callable[[], int]) -> NoReturn:
    """Run a command's `main` as the program, then exit with its status.

    Everything imported before `main` lives as long as the process, and so does what a run leaves behind when the
    command ends: frozen (gc.freeze), the garbage collector does not look through it again. On a nightly's heap its
    full collections took 0.3 s during `make run` and most of the second Python spends tearing down at exit."""
    global _main_started
    gc.freeze()
    _main_started = True
    try:
        status = main()
    finally:
        gc.freeze()
    sys.exit(status)


# How Dagster fails on a dagster.yaml it cannot read: not YAML, or a key or value its schema does not know.
UNREADABLE_INSTANCE_CONFIG = (yaml.YAMLError, dg.DagsterInvalidConfigError)


def instance_config_problem(error: BaseException) -> str:
    """What is wrong with a dagster.yaml, in one line, from Dagster's error reading it (UNREADABLE_INSTANCE_CONFIG)."""
    # Dagster's own message lists every key it knows after "Expected:": the first sentence says what is wrong.
    problem = (error.errors[0].message if isinstance(error, dg.DagsterInvalidConfigError) and error.errors
               else " ".join(str(error).split()))
    return problem.split(" Expected:")[0]


def open_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME's Dagster instance (the UI's); a DAGSTER_HOME that is unset or not a folder, or whose dagster.yaml
    Dagster cannot read, is refused in one line naming it, before Dagster's traceback."""
    home = dagster_home()
    try:
        return dg.DagsterInstance.get()
    except UNREADABLE_INSTANCE_CONFIG as error:
        raise SettingError(f"DAGSTER_HOME={str(home)!r}: Dagster cannot read its dagster.yaml "
                           f"({instance_config_problem(error)}); compare it with config/dagster.yaml, or delete it and "
                           "make writes it again") from error
