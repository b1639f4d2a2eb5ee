"""Dates, times and counts as the report writes them for a person: `6 Dec 2026`, `6 Dec 2026, 05:28` (UK time),
`1 source has` / `2 sources have`. One style everywhere, so no corner of the report reads like a log file."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING

from resources.clock import LONDON

if TYPE_CHECKING:
    import pandas as pd


def day(value: date | datetime | pd.Timestamp | str, year: bool = True) -> str:
    """A day without a leading zero or a time: `6 Aug 2022` (`6 Aug` in a range whose end has the year). Accepts the
    ISO text the vintages are named by."""
    import pandas as pd  # here, not above: the report server's index uses this module and never needs pandas else

    moment = pd.Timestamp(value)
    return f"{moment.day} {moment:%b %Y}" if year else f"{moment.day} {moment:%b}"


def moment(value: datetime | str) -> str:
    """A time in London, as the analyst's clock shows it (BST in summer): `21 Jul 2020, 16:02`."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is not None:
        when = when.astimezone(LONDON)
    return f"{when.day} {when:%b %Y, %H:%M}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 row`, `3 rows`, `1,470 records`; `plural` for the nouns that do not take an s."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


# The published tables' key columns as a table heading reads; others become words ("age_band" -> "Age band").
HEADINGS = {"date": "Day", "column": "Column", "previous": "Before", "now": "Now", "change": "Change"}


def heading(column: str) -> str:
    return HEADINGS.get(column, column.replace("_", " ").capitalize())


def cell(value: object) -> str:
    """A table cell: a whole number with thousands separators, nothing for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
