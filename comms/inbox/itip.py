"""iTIP answers found in a mail (RFC 5546 REPLY and COUNTER, carried as RFC 6047 iMIP).

Clients put the calendar in different places: Outlook as the `text/calendar; method=REPLY`
body of its « Accepté : » mail (often the only part), Gmail and Zimbra inside
multipart/alternative beside text and HTML, Apple Mail and Thunderbird as an attached
`.ics` (`application/ics`, `text/calendar` with a file name). Every calendar part is read;
the same answer repeated in several parts counts once.

Only the `icalendar` library reads iCalendar text. What the answer means is taken from the
VEVENT: UID, SEQUENCE (0 when absent, RFC 5545 §3.8.7.4), RECURRENCE-ID (one occurrence of a
series), DTSTAMP, and each ATTENDEE with PARTSTAT, DELEGATED-TO / DELEGATED-FROM (RFC 5545
§3.2.4-5) and COMMENT.
"""

from __future__ import annotations

import email.message
from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar

REPLY, COUNTER = "REPLY", "COUNTER"
ACCEPTED, DECLINED, TENTATIVE, DELEGATED, NEEDS_ACTION = (
    "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED", "NEEDS-ACTION")
ANSWERS = (ACCEPTED, DECLINED, TENTATIVE, DELEGATED)
MAX_SEQUENCE = 2**31 - 1  # RFC 5545 §3.3.8: INTEGER is a signed 32-bit value
CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")


class MalformedCalendar(ValueError):
    """A calendar part that cannot be read, or a REPLY missing what RFC 5546 requires;
    the text is French and shown to the coordinator."""


@dataclass(frozen=True)
class AttendeeAnswer:
    email: str  # lower-case, without mailto:
    name: str
    partstat: str  # ACCEPTED, DECLINED, TENTATIVE, DELEGATED, NEEDS-ACTION
    delegated_to: tuple[str, ...] = ()
    delegated_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItipAnswer:
    """One VEVENT of a REPLY or COUNTER."""

    method: str  # REPLY | COUNTER
    uid: str
    sequence: int
    recurrence_id: str  # "" for the whole event; else the occurrence start, ISO 8601 UTC
    dtstamp: str  # ISO 8601 UTC, "" when absent
    attendees: tuple[AttendeeAnswer, ...]
    comment: str
    proposed_start: str = ""  # COUNTER: the DTSTART proposed, ISO 8601

    @property
    def key(self) -> tuple:
        return (self.method, self.uid, self.sequence, self.recurrence_id, self.attendees)


def _address(value: object) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _params(prop: object, name: str) -> tuple[str, ...]:
    params = getattr(prop, "params", {})
    raw = params.get(name)
    if raw is None:
        return ()
    values = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(_address(v) for v in values if str(v).strip())


def _iso(value: object) -> str:
    if value is None:
        return ""
    dt = getattr(value, "dt", value)
    if isinstance(dt, datetime):
        if dt.tzinfo is not None:
            dt = dt.astimezone(UTC)
        return dt.isoformat()
    if isinstance(dt, date):
        return dt.isoformat()
    return str(dt)


def calendar_parts(message: email.message.Message) -> list[tuple[str, bytes]]:
    """(method parameter, bytes) of every calendar part, in MIME order."""
    out = []
    for part in message.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = (part.get_filename() or "").lower()
        if ctype in CALENDAR_TYPES or filename.endswith(".ics"):
            payload = part.get_payload(decode=True)
            if payload:
                out.append(((part.get_param("method") or "").upper(),
                            _utf8(payload, part.get_content_charset())))
    return out


def _utf8(payload: bytes, charset: str | None) -> bytes:
    """The part in UTF-8: iCalendar's default (RFC 5545 §3.1.4), but MIME may name another
    charset (« charset=windows-1252 ») that the names and comments are written in."""
    if not charset or charset.replace("-", "").replace("_", "").lower() in ("utf8", "usascii"):
        return payload
    try:
        return payload.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        return payload


def read_answers(message: email.message.Message) -> tuple[str, list[ItipAnswer]]:
    """(METHOD, answers) of the first calendar part whose METHOD is REPLY or COUNTER, with
    the answers of later parts that repeat or complete it; ("", []) when the mail holds no
    iTIP answer (a REQUEST forwarded, a PUBLISH...). MalformedCalendar when a calendar part
    announced as REPLY/COUNTER cannot be read."""
    method = ""
    answers: dict[tuple, ItipAnswer] = {}
    seen: set[bytes] = set()
    for param, data in calendar_parts(message):
        if data in seen:  # Gmail and Thunderbird attach the inline calendar again
            continue
        seen.add(data)
        try:
            cal = icalendar.Calendar.from_ical(data)
        except (ValueError, IndexError, KeyError) as exc:
            if param in (REPLY, COUNTER):
                raise MalformedCalendar(f"calendrier illisible ({_short(exc)})") from None
            continue
        cal_method = str(cal.get("METHOD", param)).strip().upper()
        if cal_method not in (REPLY, COUNTER):
            continue
        if method and cal_method != method:
            continue
        method = cal_method
        for vevent in cal.walk("VEVENT"):
            answer = _answer(vevent, cal_method)
            answers.setdefault(answer.key, answer)
        if not cal.walk("VEVENT"):
            raise MalformedCalendar(f"{cal_method} sans VEVENT")
    return method, list(answers.values())


def _answer(vevent: icalendar.Event, method: str) -> ItipAnswer:
    uid = str(vevent.get("UID", "")).strip()
    if not uid:
        raise MalformedCalendar(f"{method} sans UID")
    text = str(vevent.get("SEQUENCE", 0)).strip() or "0"
    # RFC 5545 §3.8.7.4 and §3.3.8: an integer, 0 or more, that fits in 32 bits (the
    # journal stores it as an SQLite integer).
    if not text.isascii() or not text.isdigit() or int(text) > MAX_SEQUENCE:
        raise MalformedCalendar(f"SEQUENCE illisible ({_short(ValueError(text))})")
    sequence = int(text)
    raw = vevent.get("ATTENDEE")
    props = raw if isinstance(raw, list) else [raw] if raw is not None else []
    attendees = []
    for prop in props:
        address = _address(prop)
        if "@" not in address:
            continue
        params = getattr(prop, "params", {})
        attendees.append(AttendeeAnswer(
            email=address, name=str(params.get("CN", "")).strip(),
            partstat=str(params.get("PARTSTAT", NEEDS_ACTION)).strip().upper(),
            delegated_to=_params(prop, "DELEGATED-TO"),
            delegated_from=_params(prop, "DELEGATED-FROM")))
    if method == REPLY and not attendees:
        raise MalformedCalendar("REPLY sans ATTENDEE (RFC 5546 §3.2.3 en exige un)")
    comment = vevent.get("COMMENT", "")
    comment = " ".join(str(c) for c in comment) if isinstance(comment, list) else str(comment)
    try:
        recurrence = _iso(vevent.get("RECURRENCE-ID"))
        dtstamp = _iso(vevent.get("DTSTAMP"))
        proposed = _iso(vevent.get("DTSTART")) if method == COUNTER else ""
    except (ValueError, TypeError) as exc:
        raise MalformedCalendar(f"date illisible ({_short(exc)})") from None
    return ItipAnswer(method, uid, sequence, recurrence, dtstamp, tuple(attendees),
                      comment.strip(), proposed)


def _short(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:160]
