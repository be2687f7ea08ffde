"""Repeated events: the coordinators' `repeat:` block, and the dates it stands for.

A series is written the way people say it (« every month, on the first Thursday, until the
end of June ») and checked against its own first date, so that what the invitation says and
what calendars compute are the same dates. Dates are expanded in local wall time: a 09:00
meeting stays at 09:00 on both sides of a clock change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule as _Rule
from dateutil.rrule import rrulestr
from icalendar import vRecur

from comms.dates import format_day, month_year
from comms.errors import closest
from comms.model import Event, Repeat

Report = Callable[[str, str, str], None]

KEYS = ("every", "on", "until", "count", "except", "moved")
MAX_OCCURRENCES = 1000  # a series longer than this is a typo in `until`

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_WORDS = {
    **{name: i for i, name in enumerate(WEEKDAYS_FR)},
    **{name: i for i, name in enumerate(WEEKDAYS_EN)},
}
_ORDINAL_WORDS = {
    "first": 1, "1st": 1, "premier": 1, "premiere": 1, "1er": 1, "1re": 1,
    "second": 2, "2nd": 2, "deuxieme": 2, "seconde": 2, "2e": 2, "2eme": 2,
    "third": 3, "3rd": 3, "troisieme": 3, "3e": 3, "3eme": 3,
    "fourth": 4, "4th": 4, "quatrieme": 4, "4e": 4, "4eme": 4,
    "last": -1, "dernier": -1, "derniere": -1,
}
ORDINALS_FR = {1: "premier", 2: "deuxième", 3: "troisième", 4: "quatrième", -1: "dernier"}
_ORDINALS_EN = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}

_UNITS = {
    "week": "WEEKLY", "weeks": "WEEKLY", "semaine": "WEEKLY", "semaines": "WEEKLY",
    "month": "MONTHLY", "months": "MONTHLY", "mois": "MONTHLY",
    "year": "YEARLY", "years": "YEARLY", "an": "YEARLY", "ans": "YEARLY",
    "annee": "YEARLY", "annees": "YEARLY",
}
_ADVERBS = {"weekly": "WEEKLY", "hebdomadaire": "WEEKLY", "monthly": "MONTHLY",
            "mensuel": "MONTHLY", "mensuelle": "MONTHLY", "yearly": "YEARLY",
            "annually": "YEARLY", "annuel": "YEARLY", "annuelle": "YEARLY"}
_EVERY = re.compile(r"^(?:every|each|chaque|tous les|toutes les)?\s*(\d+)?\s*([a-z]+)$")
_ON = re.compile(r"^(?:(?:the|le|la)\s+)?(\S+)\s+(\S+?)(?:\s+(?:of the month|du mois))?$")

EVERY_HINT = ("écrivez week, 2 weeks, month, 2 months ou year "
              "(en français\u00a0: semaine, 2 semaines, mois, 2 mois, an)")
ON_HINT = ("écrivez un rang et un jour, par exemple « first thursday » ou « premier jeudi » "
           "(rangs\u00a0: first, second, third, fourth, last — premier, deuxième, troisième, "
           "quatrième, dernier)")


@dataclass(frozen=True)
class Occurrence:
    """One date of an event (the event itself when it does not repeat)."""

    event: Event
    start: datetime | date
    end: datetime | date
    cancelled: bool  # the whole event is cancelled, or this date is in `except`

    @property
    def first_day(self) -> date:
        return _day_of(self.start)

    @property
    def last_day(self) -> date:
        return _day_of(self.end)


# --- French wording ---------------------------------------------------------------------------

def _date(d: date) -> str:
    """« 30 juin 2027 », « 1er avril 2027 »."""
    return format_day(d, weekday=False)


# --- reading the `repeat:` block ------------------------------------------------------------

def _plain(value: Any) -> str:
    """Lower case, single spaces, no accents: « Deuxième  Jeudi » -> "deuxieme jeudi"."""
    text = unicodedata.normalize("NFKD", str(value).strip().lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text.replace("’", "'"))


def _fields():
    """comms.content.fields, imported on use: comms.content imports this module."""
    from comms.content import fields

    return fields


def parse_every(raw: Any) -> tuple[str, int]:
    """`month` -> ("MONTHLY", 1); `2 semaines` -> ("WEEKLY", 2)."""
    Invalid = _fields().Invalid
    value = _plain(raw)
    if value in _ADVERBS:
        return _ADVERBS[value], 1
    m = _EVERY.match(value)
    if not m or m.group(2) not in _UNITS:
        raise Invalid(f"« {raw} » n’est pas une fréquence reconnue", EVERY_HINT)
    interval = int(m.group(1) or 1)
    if interval < 1:
        raise Invalid(f"« {raw} »\u00a0: l’intervalle doit être au moins 1", EVERY_HINT)
    return _UNITS[m.group(2)], interval


_FIFTH_WORDS = ("fifth", "5th", "cinquieme", "5e", "5eme")


def parse_on(raw: Any) -> tuple[int, int]:
    """`first thursday` / `premier jeudi` -> (1, 3); `last friday` -> (-1, 4).

    A fifth weekday exists in some months only: RFC 5545 skips the others, Outlook moves
    them, so it is refused with « dernier » as the fix."""
    Invalid = _fields().Invalid
    m = _ON.match(_plain(raw))
    if m and m.group(1) in _FIFTH_WORDS and m.group(2) in _WEEKDAY_WORDS:
        day = _WEEKDAY_WORDS[m.group(2)]
        raise Invalid(f"«\u00a0{raw}\u00a0» n’existe pas tous les mois\u00a0: les agendas ne "
                      "montreraient pas les mêmes dates (la norme saute les mois sans "
                      "cinquième jour, Outlook les déplace)",
                      f"écrivez «\u00a0dernier {WEEKDAYS_FR[day]}\u00a0» (ou «\u00a0last "
                      f"{WEEKDAYS_EN[day]}\u00a0») si la réunion a lieu le dernier de "
                      "chaque mois")
    if not m or m.group(1) not in _ORDINAL_WORDS:
        raise Invalid(f"« {raw} » n’est pas un jour du mois reconnu", ON_HINT)
    weekday = m.group(2)
    if weekday not in _WEEKDAY_WORDS:
        guess = closest(weekday, _WEEKDAY_WORDS)
        hint = f"vouliez-vous écrire « {guess} »\u00a0? " if guess else ""
        raise Invalid(f"« {m.group(2)} » n’est pas un jour de la semaine",
                      hint + "écrivez lundi … dimanche ou monday … sunday")
    return _ORDINAL_WORDS[m.group(1)], _WEEKDAY_WORDS[weekday]


def nth_weekday(year: int, month: int, nth: int, weekday: int) -> date:
    """The `nth` (1..4, or -1 for the last) `weekday` of a month."""
    first = date(year, month, 1)
    days = []
    d = first + timedelta(days=(weekday - first.weekday()) % 7)
    while d.month == month:
        days.append(d)
        d += timedelta(days=7)
    return days[nth - 1 if nth > 0 else nth]


def _parse(value: Any, parser: Callable[[Any], Any], field: str, report: Report,
           ) -> tuple[bool, Any]:
    try:
        return True, parser(value)
    except _fields().Invalid as exc:
        report(field, exc.message, exc.hint)
        return False, None


def parse_repeat(raw: dict, start: date | datetime, report: Report) -> Repeat | None:
    """The checked `Repeat` of an event starting at `start`, or None after reporting why not.

    `report(field, message, hint)` receives each problem; the caller adds the file and line.
    """
    if not isinstance(raw, dict):
        report("repeat", "on attend des sous-champs indentés sous « repeat »",
               "écrivez par exemple « every: month » et « until: 2027-06-30 » à la ligne, "
               "décalés de deux espaces")
        return None
    fields = _fields()
    # A YAML 1.1 loader reads the key `on` as the boolean true.
    values = {("on" if k is True else str(k)): v for k, v in raw.items()}
    ok = True
    for key in values:
        if key not in KEYS:
            guess = closest(key, KEYS)
            report(f"repeat.{key}", "champ inconnu",
                   f"vouliez-vous écrire « {guess} »\u00a0?" if guess
                   else "champs possibles\u00a0: " + ", ".join(KEYS))
            ok = False

    freq = interval = on = until = count = None
    exceptions: tuple[date, ...] = ()
    if _missing(values.get("every")):
        report("repeat.every", "champ obligatoire manquant",
               "ajoutez par exemple « every: month » (week, 2 weeks, month, 2 months, year)")
        ok = False
    else:
        good, parsed = _parse(values["every"], parse_every, "repeat.every", report)
        ok &= good
        if good:
            freq, interval = parsed
    if not _missing(values.get("on")):
        good, on = _parse(values["on"], parse_on, "repeat.on", report)
        ok &= good
        if good and freq is not None and freq != "MONTHLY":
            report("repeat.on", "« on » ne s’utilise qu’avec une répétition mensuelle",
                   f"une série {_freq_words(freq)} garde le jour de la première date "
                   f"({format_day(_day_of(start))})\u00a0: supprimez « on », "
                   "ou écrivez « every: month »")
            ok = False
    has_until, has_count = not _missing(values.get("until")), not _missing(values.get("count"))
    if has_until and has_count:
        report("repeat", "« until » et « count » ne peuvent pas être donnés ensemble",
               "gardez l’un des deux\u00a0: la dernière date possible (until) "
               "ou le nombre de dates (count)")
        ok = False
    elif not has_until and not has_count:
        report("repeat", "la fin de la répétition manque",
               "ajoutez « until: AAAA-MM-JJ » (dernière date possible, incluse) "
               "ou « count: 6 » (nombre de dates)")
        ok = False
    elif has_until:
        good, until = _parse(values["until"], fields.day, "repeat.until", report)
        ok &= good
        if good and until < _day_of(start):
            report("repeat.until",
                   f"la fin de la répétition ({_date(until)}) est avant la première "
                   f"date ({_date(_day_of(start))})",
                   "écrivez une date de fin postérieure à la première date")
            ok = False
    else:
        good, count = _parse(values["count"], fields.integer, "repeat.count", report)
        ok &= good
        if good and count < 1:
            report("repeat.count", f"« count: {count} »\u00a0: la série n’aurait aucune date",
                   "écrivez le nombre de dates de la série, au moins 1")
            ok = False
    if not _missing(values.get("except")):
        good, parsed = _parse(values["except"], fields.list_of(fields.day), "repeat.except", report)
        ok &= good
        exceptions = tuple(sorted(set(parsed))) if good else ()

    moved_raw = values.get("moved")
    if not _missing(moved_raw) and not isinstance(moved_raw, dict):
        report("repeat.moved",
               "on attend une ou plusieurs lignes «\u00a0date: nouvelle date\u00a0»",
               "écrivez par exemple, décalé sous « moved: », «\u00a02027-05-06: 2027-05-12"
               "\u00a0» (la séance du 6 mai a lieu le 12) ou «\u00a02027-05-06: 2027-05-12 "
               "14:00\u00a0» pour changer aussi l’heure")
        ok = False
    moves_read: list[tuple[date, date | datetime]] = []
    for key, value in (moved_raw.items() if isinstance(moved_raw, dict) else ()):
        good_day, original = _parse(key, fields.day, "repeat.moved", report)
        good_new, new = _parse(value, fields.date_or_datetime, "repeat.moved", report)
        ok &= good_day and good_new
        if good_day and good_new:
            moves_read.append((original, _moved_start(new, start)))
    if on is not None and freq == "MONTHLY":
        ok &= _check_start(start, on, report)
    if not ok:
        return None

    if not _same_day_every_period(freq, on, start, report):
        return None
    rule: dict[str, Any] = {"FREQ": freq}
    if interval != 1:
        rule["INTERVAL"] = interval
    if on is not None:
        rule["BYDAY"] = f"{on[0]}{WEEKDAY_CODES[on[1]]}"
    if count is not None:
        rule["COUNT"] = count
    else:
        rule["UNTIL"] = _until(until, start)

    dates = [_day_of(d) for d in _expand(rule, start, limit=MAX_OCCURRENCES + 1)]
    if len(dates) > MAX_OCCURRENCES:
        report("repeat.until" if until else "repeat.count",
               f"la série compte plus de {MAX_OCCURRENCES} dates",
               "vérifiez l’année de fin ou le nombre de dates")
        return None
    ok = True
    known = set(dates)
    for d in exceptions:
        if d not in known:
            report("repeat.except", f"le {_date(d)} n’est pas une date de la série",
                   _nearest_hint(d, dates))
            ok = False
    if ok and known <= set(exceptions):
        report("repeat.except", "toutes les dates de la série sont dans « except »\u00a0: "
               "l’évènement n’aurait jamais lieu",
               "retirez des dates de « except », ou supprimez l’évènement")
        ok = False
    for original, _new in moves_read:
        if original not in known:
            report("repeat.moved", f"le {_date(original)} n’est pas une date de la série",
                   _nearest_hint(original, dates))
            ok = False
        elif original in exceptions:
            report("repeat.moved", f"la séance du {_date(original)} est aussi dans «\u00a0except"
                   "\u00a0»", "gardez-la dans l’un des deux seulement\u00a0: «\u00a0except\u00a0» "
                   "si elle n’a pas lieu, «\u00a0moved\u00a0» si elle a lieu un autre jour")
            ok = False
    if not ok:
        return None
    moves = tuple(sorted(moves_read, key=lambda m: m[0]))
    text = _describe(freq, interval, on, _day_of(start), until, count, exceptions)
    for original, new in moves:
        text += (f"\u00a0; la séance du {_date(original)} a lieu le "
                 f"{format_day(_day_of(new))}")
    return Repeat(rrule=rule, exceptions=exceptions, text=text, moves=moves)


def _moved_start(new: date | datetime, start: date | datetime) -> date | datetime:
    """A moved session's start, like the series' start: a date for an all-day series, else
    an aware time in the series' zone (a date alone keeps the series' time)."""
    if not isinstance(start, datetime):
        return new.date() if isinstance(new, datetime) else new
    zone = start.tzinfo
    if not isinstance(new, datetime):
        return datetime.combine(new, start.timetz()).replace(tzinfo=zone)
    return new.replace(tzinfo=zone)


def _same_day_every_period(freq: str, on: tuple[int, int] | None, start: date | datetime,
                           report: Report) -> bool:
    """False (after reporting) for a series on a date some periods lack: a monthly series on
    the 29th to 31st, a yearly one on 29 February. RFC 5545 skips those periods, Outlook
    moves the date: the partners' calendars would disagree with each other and with the
    newsletter."""
    first = _day_of(start)
    if freq == "MONTHLY" and on is None and first.day >= 29:
        nth = (first.day - 1) // 7 + 1
        weekday = WEEKDAYS_FR[first.weekday()]
        hint = (f"si la réunion a lieu le dernier {weekday} du mois, ajoutez "
                f"«\u00a0on: dernier {weekday}\u00a0»" if nth == 5 or first.day + 7 >
                _month_days(first) else "")
        report("repeat.every",
               f"le {first.day} n’existe pas tous les mois\u00a0: les agendas ne montreraient "
               "pas les mêmes dates (la norme saute ces mois, Outlook avance la réunion "
               "au dernier jour)",
               (hint + "\u00a0; " if hint else "") + "ou choisissez un jour du 1er au 28, "
               "ou une série «\u00a0on: dernier …\u00a0» (par exemple «\u00a0on: dernier "
               "jeudi\u00a0»)")
        return False
    if freq == "YEARLY" and (first.month, first.day) == (2, 29):
        report("repeat.every",
               "le 29 février n’existe que les années bissextiles\u00a0: les agendas ne "
               "montreraient pas les mêmes dates",
               "choisissez une autre première date (le 28 février ou le 1er mars)")
        return False
    return True


def _month_days(d: date) -> int:
    following = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def _check_start(start: date | datetime, on: tuple[int, int], report: Report) -> bool:
    first = _day_of(start)
    expected = nth_weekday(first.year, first.month, *on)
    if expected == first:
        return True
    words = f"{ORDINALS_FR[on[0]]} {WEEKDAYS_FR[on[1]]}"
    report("repeat.on",
           f"la première date ({format_day(first)}) n’est pas le {words} du mois",
           f"le {words} de {month_year(first)} est le {format_day(expected)}\u00a0: "
           "commencez la série à cette date, ou corrigez « on »")
    return False


def _nearest_hint(d: date, dates: list[date]) -> str:
    before = [x for x in dates if x < d][-1:]
    after = [x for x in dates if x > d][:1]
    near = " et ".join(format_day(x) for x in before + after)
    return f"dates de la série les plus proches\u00a0: {near}" if near else ""


def _until(until: date, start: date | datetime) -> date | datetime:
    """RFC 5545: a UTC date-time after a timed start (end of the local day), else a date."""
    if not isinstance(start, datetime):
        return until
    zone = start.tzinfo
    end_of_day = datetime.combine(until, time(23, 59, 59))
    if isinstance(zone, ZoneInfo):
        return _fields().localize(end_of_day, zone).astimezone(UTC)
    return end_of_day.replace(tzinfo=zone).astimezone(UTC)


def _freq_words(freq: str) -> str:
    return {"WEEKLY": "hebdomadaire", "YEARLY": "annuelle"}.get(freq, "mensuelle")


def _describe(freq: str, interval: int, on: tuple[int, int] | None, first: date,
              until: date | None, count: int | None, exceptions: tuple[date, ...]) -> str:
    weekday = WEEKDAYS_FR[first.weekday()]
    if freq == "WEEKLY":
        text = {1: f"chaque {weekday}", 2: f"un {weekday} sur deux"}.get(
            interval, f"un {weekday} toutes les {interval} semaines")
    elif freq == "MONTHLY":
        what = (f"le {ORDINALS_FR[on[0]]} {WEEKDAYS_FR[on[1]]}" if on else
                f"le {'1er' if first.day == 1 else first.day}")
        text = (f"{what} de chaque mois" if interval == 1 else
                f"{what} du mois, tous les {interval} mois")
    else:
        when = _date(first).rsplit(" ", 1)[0]
        text = (f"chaque année, le {when}" if interval == 1 else
                f"tous les {interval} ans, le {when}")
    text += f", jusqu’au {_date(until)}" if until else f", {count} fois"
    if exceptions:
        listed = [_date(d) for d in exceptions]
        text += (f", sauf le {listed[0]}" if len(listed) == 1 else
                 f", sauf les {', '.join(listed[:-1])} et {listed[-1]}")
    return text


# --- expanding --------------------------------------------------------------------------------

def _day_of(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _naive(value: date | datetime) -> datetime:
    """Local wall time: dates become midnight, aware datetimes lose their zone."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, time())


def _rule(rrule: dict, start: date | datetime) -> _Rule:
    """A dateutil rule over local wall times, UNTIL brought back to the same wall clock."""
    parts = dict(rrule)
    until = parts.get("UNTIL")
    if isinstance(until, datetime):
        if until.tzinfo is not None:
            zone = start.tzinfo if isinstance(start, datetime) else None
            until = until.astimezone(zone or UTC)
        parts["UNTIL"] = until.replace(tzinfo=None)
    elif isinstance(until, date):
        parts["UNTIL"] = datetime.combine(until, time(23, 59, 59))
    text = vRecur(parts).to_ical().decode()
    return rrulestr(text, dtstart=_naive(start))


def _expand(rrule: dict, start: date | datetime, limit: int) -> list[datetime]:
    out = []
    for when in _rule(rrule, start):
        out.append(when)
        if len(out) >= limit:
            break
    return out


def _localize(naive: datetime, like: date | datetime) -> date | datetime:
    if not isinstance(like, datetime):
        return naive.date()
    # In the repeated autumn hour the first occurrence is meant (RFC 5545): fold=0.
    return naive.replace(tzinfo=like.tzinfo, fold=0)


def occurrences(event: Event, since: date, until: date) -> list[Occurrence]:
    """The dates of `event` overlapping the days [since, until], in order.

    Excepted dates are kept, marked cancelled, so an agenda can show them struck out.
    """
    span = _naive(event.end) - _naive(event.start)
    if event.repeat is None:
        starts = [_naive(event.start)]
    else:
        low = datetime.combine(since, time()) - span - timedelta(days=1)
        high = datetime.combine(until, time.max)
        starts = _rule(event.repeat.rrule, event.start).between(low, high, inc=True)
    excepted = set(event.repeat.exceptions) if event.repeat else set()
    moved = dict(event.repeat.moves) if event.repeat else {}
    out = []
    for naive in starts:
        occ_start = _localize(naive, event.start)
        occ_end = _localize(naive + span, event.end)
        if _day_of(occ_start) in moved:
            occ_start = moved[_day_of(occ_start)]
            occ_end = occ_start + (event.end - event.start)
        if _day_of(occ_start) > until or _day_of(occ_end) < since:
            continue
        out.append(Occurrence(event, occ_start, occ_end,
                              event.cancelled or _day_of(occ_start) in excepted))
    return out
