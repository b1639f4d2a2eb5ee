"""The commands behind the make targets: run, approve, parse, rebuild and backfill (each `python -m
pipelines.commands.<name> --help`)."""

import sys

from resources.errors import SettingError
from resources.settings import verbose


def _setting_in_one_line(kind: type[BaseException], error: BaseException, trace: object) -> None:
    """Every command (`python -m pipelines.commands.<name>`): a setting it cannot use is one line naming the variable
    and what it must be, not a traceback (which VERBOSE=1 still shows). The exit status stays 1."""
    if isinstance(error, SettingError) and not verbose():
        print(f"{error}: fix the setting (docs/operations.md, \"Settings\") and run the command again.",
              file=sys.stderr)
        return
    sys.__excepthook__(kind, error, trace)


sys.excepthook = _setting_in_one_line
