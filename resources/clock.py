"""London's calendar, which the publishers date their releases and figures by: the machine running the pipeline may
keep another time zone, and the stored moments (fetch times, HTTP dates) are in UTC, an hour behind London all
summer, so a moment's day is always taken here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def in_london(moment: datetime) -> datetime:
    """A moment on London's clocks (00:30 on 2 June in London is 23:30 on 1 June in UTC). A moment without a zone is
    taken as UTC, as HTTP dates without one are."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(LONDON)


def london_date(moment: datetime) -> date:
    """The day a moment falls on in London."""
    return in_london(moment).date()


def london_today() -> date:
    """Today in London, whatever the machine's own time zone."""
    return datetime.now(LONDON).date()
