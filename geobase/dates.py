"""Dates as people and files write them: the one date parser of geobase.

Every date geobase reads (``--acquired``, ``--as-of``, inspection dates, dates in control
sheets, sidecars and TIFF tags) goes through :func:`parse_date`, so that one spelling is
accepted, or refused with the same words, everywhere.

Accepted: ``2024-05-01``, ``2024/05/01``, ``2024.05.01``, ``2024:05:01`` (as TIFF writes
it), ``20240501``, ``2024年5月1日``, each optionally with a time (``2024-05-01T10:00:00Z``,
whose date part is kept); with ``partial=True`` also ``2024-05`` / ``2024年5月`` and
``2024``, which stand for the first day of the month or year.

A date after today is refused where ``allow_future=False``: acquisition dates and as-of
dates state what has happened, and a typo (2099 for 2019) would otherwise make data look
current for decades.
"""

from __future__ import annotations

import datetime as dt
import re

from geobase.errors import FutureDate, InvalidDate

_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?"
_FULL = re.compile(
    rf"^(\d{{4}})(?:([-/.:])(\d{{1,2}})\2(\d{{1,2}})|(\d{{2}})(\d{{2}})){_TIME}$", re.IGNORECASE
)
_PARTIAL = re.compile(r"^(\d{4})(?:[-/.](\d{1,2}))?$")
_CHINESE = re.compile(r"^(\d{4})\s*年\s*(?:(\d{1,2})\s*月\s*(?:(\d{1,2})\s*日?)?)?$")
EXPECTED = "expected YYYY-MM-DD"
MAX_TEXT = 64  # longer text is no date; keeps messages one short line


#: The limit of "not in the future" is today where the day is latest (UTC+14), so a date
#: that is already today in Beijing (UTC+8) is never refused by a server on UTC or on
#: the machine's local clock; a typo is a year or more ahead, not hours.
_LATEST_OFFSET = dt.timezone(dt.timedelta(hours=14))


def today() -> dt.date:
    """The latest date anywhere now (UTC+14): the limit of dates that may not lie ahead."""
    return dt.datetime.now(_LATEST_OFFSET).date()


def parse_date(
    value: str | dt.date,
    what: str = "date",
    *,
    partial: bool = False,
    allow_future: bool = True,
    reference: dt.date | None = None,
) -> dt.date:
    """A calendar date from text (or a date / datetime, returned as its date).

    Args:
        value: the text or date.
        what: what the date is, for messages (``"--acquired"``, ``"as-of date"``).
        partial: also accept ``YYYY-MM`` and ``YYYY`` (the first day of the period).
        allow_future: False refuses a date after ``reference``.
        reference: the day the future starts after (default: today).

    Raises:
        InvalidDate: not a date, or not a calendar day (2024-02-30).
        FutureDate: after today where ``allow_future`` is False.

    Example:
        >>> parse_date("2021年3月5日")
        datetime.date(2021, 3, 5)
    """
    if isinstance(value, dt.datetime):
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        day = _parse_text(value, what, partial)
    if not allow_future:
        check_not_future(day, what, reference=reference)
    return day


def check_not_future(day: dt.date, what: str, *, reference: dt.date | None = None) -> dt.date:
    """``day`` itself, or FutureDate if it lies after ``reference`` (default: today)."""
    limit = reference or today()
    if day > limit:
        raise FutureDate(
            f"{what} {day.isoformat()} is after today ({limit.isoformat()}); a typo? "
            "Dates in the future are refused unless asked for (--allow-future)"
        )
    return day


def _parse_text(value: object, what: str, partial: bool) -> dt.date:
    text = str(value).strip()
    shown = text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."
    if len(text) > MAX_TEXT:
        raise InvalidDate(f"{what} {shown!r} is not a date: {EXPECTED}")
    fields: tuple[str | None, ...] | None = None
    match = _FULL.match(text)
    if match is not None:
        fields = (match[1], match[3] or match[5], match[4] or match[6])
    else:
        match = _CHINESE.match(text) or (_PARTIAL.match(text) if partial else None)
        if match is not None:
            groups = (*match.groups(), None)[:3]
            if (groups[2] is None) and not partial:
                match = None
            else:
                fields = groups
    if fields is None:
        raise InvalidDate(f"{what} {shown!r} is not a date: {EXPECTED}")
    year, month, day = (int(f) if f else 1 for f in fields)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise InvalidDate(f"{what} {shown!r} is not a date: no such day; {EXPECTED}") from None
