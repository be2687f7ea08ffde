"""Dates and times written the French way: « jeudi 4 mars 2027 de 14 h à 16 h 30 ».

Day and month names come from babel (CLDR), never from hand-written tables. Hours follow
French usage: « 9 h », « 14 h 30 », with no-break spaces so they never split across lines.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Protocol

from babel.dates import format_date

from comms.french import FRENCH as LOCALE  # French as written in France: CLDR's « fr »

NBSP = "\u00a0"


class Span(Protocol):
    """What an agenda entry needs: an `Occurrence` or an `Event` both fit."""

    start: datetime | date
    end: datetime | date


def _day_number(d: date) -> str:
    return "1er" if d.day == 1 else str(d.day)


def format_day(d: date, *, weekday: bool = True, year: bool = True) -> str:
    """« jeudi 4 mars 2027 », « vendredi 1er octobre 2027 »."""
    parts = []
    if weekday:
        parts.append(format_date(d, "EEEE", locale=LOCALE))
    parts.append(_day_number(d))
    parts.append(format_date(d, "MMMM y" if year else "MMMM", locale=LOCALE))
    return " ".join(parts)


def format_time(t: time | datetime) -> str:
    """« 9 h », « 14 h 30 »; no-break spaces inside."""
    if t.minute:
        return f"{t.hour}{NBSP}h{NBSP}{t.minute:02d}"
    return f"{t.hour}{NBSP}h"


def _is_midnight_after(start: datetime, end: datetime) -> bool:
    return (end.time() == time(0) and end.date() == start.date() + timedelta(days=1)
            and end > start)


def _day_range(first: date, last: date) -> str:
    """« du lundi 4 au dimanche 17 octobre 2027 », months and years given once when shared."""
    if first.year != last.year:
        return f"du {format_day(first)} au {format_day(last)}"
    if first.month != last.month:
        return f"du {format_day(first, year=False)} au {format_day(last)}"
    return (f"du {format_date(first, 'EEEE', locale=LOCALE)} {_day_number(first)} "
            f"au {format_day(last)}")


def format_when(when: Span | tuple[datetime | date, datetime | date, bool],
                tz: tzinfo | None = None) -> str:
    """The date and time of an agenda entry, in French.

    `when` is an Occurrence (or Event), or a tuple (start, end, all_day). For all-day entries
    `end` is the last day included. Timed values are shown in `tz` (the site's zone) when
    given, so that the wording is right on both sides of a clock change.
    """
    if isinstance(when, tuple):
        start, end, all_day = when
    else:
        start, end = when.start, when.end
        all_day = not isinstance(start, datetime)
    if all_day or not isinstance(start, datetime):
        first = start.date() if isinstance(start, datetime) else start
        last = end.date() if isinstance(end, datetime) else end
        if last <= first:
            return format_day(first)
        return _day_range(first, last)
    assert isinstance(end, datetime)
    if tz is not None:
        start, end = start.astimezone(tz), end.astimezone(tz)
    day = format_day(start.date())
    if end <= start:
        return f"{day} à {format_time(start)}"
    if _is_midnight_after(start, end):
        return f"{day} de {format_time(start)} à minuit"
    if end.date() == start.date():
        return f"{day} de {format_time(start)} à {format_time(end)}"
    return (f"du {day} à {format_time(start)} "
            f"au {format_day(end.date())} à {format_time(end)}")


def badge(d: date) -> tuple[str, str, str]:
    """(weekday, day number, month) for the agenda's date block: ("jeu.", "18", "mars")."""
    return (format_date(d, "EEE", locale=LOCALE), str(d.day),
            format_date(d, "MMM", locale=LOCALE))


def month_year(d: date) -> str:
    """« février 2027 »."""
    return format_date(d, "MMMM y", locale=LOCALE)
