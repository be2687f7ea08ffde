"""VTIMEZONE components in the compact RRULE form, derived from the IANA database.

icalendar's `add_missing_timezones()` writes a zone as long RDATE lists, which ical.js
(Thunderbird) reads one hour off in summer. Calendar clients expect the usual form instead:
one STANDARD and one DAYLIGHT observance, each repeating yearly by a rule such as "last
Sunday of October" (BYDAY=-1SU). The rule is read from zoneinfo, not written by hand, so any
zone works. A zone whose rule cannot be written that way in the years asked for (a rule that
changed, or a day like "the Friday before the last Sunday") gets one observance per
transition, still without RDATE.
"""

from __future__ import annotations

import calendar as _calendar
import functools
import itertools
import operator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Years looked at to tell "last Sunday" from "fourth Sunday" and to check the rule holds.
_RULE_WINDOW = 8
_EPOCH_YEAR = 1970


@dataclass(frozen=True)
class Transition:
    """One change of UTC offset: `at` in UTC, `wall` the local time just before it."""

    at: datetime
    wall: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool


# The offset is sampled this often, then each change is found to the second by bisection:
# a zone that changed twice within it would be missed (none does).
_SCAN_STEP = timedelta(hours=6)


@functools.lru_cache(maxsize=256)
def transitions(zone: ZoneInfo, year: int) -> tuple[Transition, ...]:
    """The offset changes of `zone` during `year` (local wall year), found by bisection."""
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) + timedelta(days=1)
    steps = -(-(end - start) // _SCAN_STEP)
    offsets = _sampled_offsets(zone, start, steps)
    found: list[Transition] = []
    for i in (i for i in range(steps) if offsets[i] != offsets[i + 1]):
        before, after = offsets[i], offsets[i + 1]
        t = start + i * _SCAN_STEP
        low, high = int(t.timestamp()), int((t + _SCAN_STEP).timestamp())
        while high - low > 1:  # whole seconds: every change is on one
            mid = (low + high) // 2
            if _offset(zone, datetime.fromtimestamp(mid, UTC)) == before:
                low = mid
            else:
                high = mid
        at = datetime.fromtimestamp(high, UTC)
        local = at.astimezone(zone)
        if (at + before).year == year:
            found.append(Transition(
                at=at,
                wall=(at + before).replace(tzinfo=None),
                offset_from=before,
                offset_to=after,
                name=local.tzname() or "",
                dst=bool(local.dst()),
            ))
    return tuple(found)


def _sampled_offsets(zone: ZoneInfo, start: datetime, steps: int) -> list[timedelta]:
    """The UTC offset of `zone` at `start` (UTC) and after each of `steps` scan steps.

    One pass of C calls (`tzinfo.fromutc` reads the fields of a datetime carrying the zone as
    UTC, as `astimezone` does): a Python call per sample made this most of a build's work
    on its VTIMEZONE."""
    instants = itertools.accumulate(itertools.repeat(_SCAN_STEP, steps),
                                    initial=start.replace(tzinfo=zone))
    return list(map(operator.methodcaller("utcoffset"), map(zone.fromutc, instants)))


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _byday_candidates(day: date) -> set[str]:
    """Every BYDAY form that names `day` within its month: "2SU", and "-1SU" if it is the last."""
    code = _WEEKDAYS[day.weekday()]
    forms = {f"{(day.day - 1) // 7 + 1}{code}"}
    if day.day + 7 > _calendar.monthrange(day.year, day.month)[1]:
        forms.add(f"-1{code}")
    return forms


def _shape(t: Transition) -> tuple:
    return (t.wall.month, t.wall.weekday(), t.wall.time(), t.offset_from, t.offset_to,
            t.name, t.dst)


def _yearly_rules(zone: ZoneInfo, years: range) -> list[tuple[Transition, str]] | None:
    """One (transition, BYDAY) per observance if the same yearly rule holds in every year."""
    per_year = [transitions(zone, y) for y in years]
    first = per_year[0]
    if len(first) != 2:
        return None
    rules = []
    for i, model in enumerate(first):
        forms = set(_byday_candidates(model.wall.date()))
        for year_list in per_year:
            if len(year_list) != 2 or _shape(year_list[i]) != _shape(model):
                return None
            forms &= _byday_candidates(year_list[i].wall.date())
        if not forms:
            return None
        # "-1SU" is the stable form when both fit every year looked at.
        rules.append((model, min(forms, key=lambda f: (not f.startswith("-"), f))))
    return rules


def _first_in_year(year: int, month: int, byday: str) -> date:
    """The day of `month` in `year` that a BYDAY like "-1SU" or "2SU" names."""
    nth, code = int(byday[:-2]), byday[-2:]
    weekday = _WEEKDAYS.index(code)
    days = [d for d in range(1, _calendar.monthrange(year, month)[1] + 1)
            if date(year, month, d).weekday() == weekday]
    return date(year, month, days[nth - 1 if nth > 0 else nth])


def _observance(t: Transition, dtstart: datetime) -> TimezoneStandard | TimezoneDaylight:
    comp = TimezoneDaylight() if t.dst else TimezoneStandard()
    comp.add("tzname", t.name)
    comp.add("tzoffsetfrom", t.offset_from)
    comp.add("tzoffsetto", t.offset_to)
    comp.add("dtstart", dtstart)
    return comp


@functools.lru_cache(maxsize=64)
def vtimezone(zone: ZoneInfo, years: range | None = None) -> Timezone:
    """The VTIMEZONE of `zone` valid for the events of `years` (default: this year on).

    Computed once per zone and years in a process (a build writes it in every calendar):
    the component returned is shared, callers add it to calendars and never change it."""
    if years is None or len(years) == 0:
        this_year = datetime.now(UTC).year
        years = range(this_year, this_year + 1)
    window = range(years.start, max(years.stop, years.start + _RULE_WINDOW))
    tz = Timezone()
    tz.add("tzid", zone.key)
    tz.add("x-lic-location", zone.key)

    rules = _yearly_rules(zone, window)
    if rules is not None:
        for t, byday in sorted(rules, key=lambda r: r[0].dst):
            first = _first_in_year(_EPOCH_YEAR, t.wall.month, byday)
            comp = _observance(t, datetime.combine(first, t.wall.time()))
            comp.add("rrule", vRecur({"FREQ": "YEARLY", "BYMONTH": t.wall.month,
                                      "BYDAY": byday}))
            tz.add_component(comp)
        return tz

    changes = [t for y in window for t in transitions(zone, y)]
    # The observance in force when the window opens, then one per change.
    opening = datetime(window.start, 1, 1, tzinfo=UTC)
    previous = transitions(zone, window.start - 1)
    local = opening.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    initial = Transition(
        at=opening, wall=datetime(_EPOCH_YEAR, 1, 1),
        offset_from=previous[-1].offset_from if previous else offset,
        offset_to=offset, name=local.tzname() or "", dst=bool(local.dst()),
    )
    if not changes:
        initial = Transition(initial.at, initial.wall, offset, offset, initial.name, False)
    for t in [initial, *changes]:
        tz.add_component(_observance(t, t.wall))
    return tz
