"""iCalendar objects for our events: one VEVENT per event, calendars that carry their zones.

The same `vevent` serves published feeds (METHOD:PUBLISH, no personal data) and invitations
(REQUEST/CANCEL, with organizer and attendees): the caller says which. Times are written in
the site's zone with TZID, and every calendar embeds the matching VTIMEZONE in the RRULE form
that every client reads the same way (see `comms.calendar.timezone`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar import Alarm, Calendar, vCalAddress, vRecur

from comms.calendar.timezone import vtimezone
from comms.french import french_spacing
from comms.model import Coordinator, Event, Site

STATUS = {"confirmed": "CONFIRMED", "cancelled": "CANCELLED"}
# Outlook ignores STATUS in subscribed calendars: a cancelled event says so in its title too.
CANCELLED_PREFIX = "Annulé\u00a0: "
_DATE_PROPERTIES = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE")


def event_uid(event: Event, domain: str) -> str:
    """The event's UID: the same in every feed, invitation and update, run after run."""
    return f"{event.id}@{domain}"


def default_description(event: Event) -> str:
    """The event's text as written, followed by its registration and video links."""
    parts = [event.body_md.strip()] if event.body_md.strip() else []
    links = []
    if event.registration_url:
        links.append(f"Inscription\u00a0: {event.registration_url}")
    if event.online_url:
        links.append(f"Visio\u00a0: {event.online_url}")
    if links:
        parts.append("\n".join(links))
    return "\n\n".join(parts)


_CODE_SPAN = re.compile(r"(`+).+?\1", re.S)


def french(text: str) -> str:
    """French typography for what a calendar shows (title, place, text), as in the emails;
    code spans written between backquotes are left as they are."""
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [french_spacing(text[last:m.start()]), m.group()]
        last = m.end()
    return "".join([*out, french_spacing(text[last:])])


def _in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    return value if value.tzinfo is zone else value.astimezone(zone)


def published_summary(event: Event) -> str:
    """The SUMMARY of a published (PUBLISH) event: « Annulé : <titre> » once cancelled."""
    return CANCELLED_PREFIX + event.title if event.cancelled else event.title


def vevent(event: Event, site: Site, *, sequence: int = 0, dtstamp: datetime | None = None,
           modified: datetime | None = None,
           attendees: Sequence[tuple[str, str]] = (), organizer: Coordinator | None = None,
           alarm: timedelta | None = None, method: str = "PUBLISH",
           description: str | None = None, withdrawal: bool = False) -> icalendar.Event:
    """The VEVENT of `event`; attendees are (name, email) pairs, organizer a coordinator.

    Feeds pass neither attendees nor organizer: they are personal data. `modified` (UTC) is
    written as LAST-MODIFIED; a published cancelled event's SUMMARY starts with « Annulé : ».
    A CANCEL is the
    cancellation of the event (STATUS:CANCELLED) unless it is a `withdrawal` of some
    attendees, which carries no STATUS (RFC 5546 section 3.2.5).
    """
    zone = site.timezone
    vev = icalendar.Event()
    vev.add("uid", event_uid(event, site.domain))
    vev.add("dtstamp", (dtstamp or datetime.now(UTC)).astimezone(UTC))
    if modified is not None:
        vev.add("last-modified", modified.astimezone(UTC))
    vev.add("sequence", sequence)
    vev.add("summary", french(published_summary(event) if method.upper() == "PUBLISH"
                              else event.title))
    if event.all_day:
        vev.add("dtstart", event.first_day)
        # RFC 5545: the end of an all-day event is the day after the last one.
        vev.add("dtend", event.last_day + timedelta(days=1))
        vev.add("transp", "TRANSPARENT")
    else:
        vev.add("dtstart", _in_zone(event.start, zone))
        vev.add("dtend", _in_zone(event.end, zone))
        vev.add("transp", "OPAQUE")
    if event.repeat is not None:
        vev.add("rrule", vRecur(event.repeat.rrule))
        if event.repeat.exceptions:
            vev.add("exdate", [_exdate(d, event, zone) for d in event.repeat.exceptions])
    if event.location:
        vev.add("location", french(event.location))
    link = event.online_url or event.registration_url
    if link:
        vev.add("url", link)
    text = default_description(event) if description is None else description
    if text:
        vev.add("description", french(text))
    if not withdrawal:
        cancelled = event.cancelled or method.upper() == "CANCEL"
        vev.add("status", "CANCELLED" if cancelled else STATUS.get(event.status, "CONFIRMED"))
    vev.add("class", "PUBLIC")
    if organizer is not None:
        vev.add("organizer", _address(organizer.name, organizer.email))
    for name, email in attendees:
        vev.add("attendee", attendee_address(name, email))
    if alarm is not None and method.upper() != "CANCEL":
        vev.add_component(_alarm(event, alarm))
    return vev


def vevents(event: Event, site: Site, **options) -> list[icalendar.Event]:
    """The master VEVENT of `event` (`vevent`, same options) followed by one override per
    moved session: same UID and SEQUENCE, RECURRENCE-ID = the session's date in the series,
    its new DTSTART/DTEND (RFC 5545 3.8.4.4)."""
    master = vevent(event, site, **options)
    return [master, *(override(master, event, site, day) for day, _ in
                      (event.repeat.moves if event.repeat else ()))]


def override(master: icalendar.Event, event: Event, site: Site, day: date,
             cancelled: bool = False) -> icalendar.Event:
    """The instance of `master` on `day` (a date of the series): moved when `event` says
    so, or `cancelled` (STATUS:CANCELLED, for a CANCEL of that session)."""
    zone = site.timezone
    moved = dict(event.repeat.moves) if event.repeat else {}
    vev = icalendar.Event()
    for name, value in master.items():
        if name not in ("RRULE", "EXDATE", "DTSTART", "DTEND", "STATUS"):
            vev[name] = value
    vev.add("recurrence-id", _exdate(day, event, zone))
    start = moved.get(day) or _exdate(day, event, zone)
    if event.all_day:
        vev.add("dtstart", start)
        vev.add("dtend", start + (event.last_day - event.first_day) + timedelta(days=1))
    else:
        start = _in_zone(start, zone)
        vev.add("dtstart", start)
        vev.add("dtend", start + (event.end - event.start))
    vev.add("status", "CANCELLED" if cancelled else master.get("STATUS", "CONFIRMED"))
    for alarm in master.subcomponents if not cancelled else ():
        vev.add_component(alarm)
    return vev


def _exdate(day: date, event: Event, zone: ZoneInfo) -> date | datetime:
    """An excepted occurrence, written like DTSTART (same TZID and time, or a DATE)."""
    if event.all_day:
        return day
    start = _in_zone(event.start, zone)
    return datetime.combine(day, start.time()).replace(tzinfo=zone, fold=0)


def attendee_address(name: str, email: str) -> vCalAddress:
    """The ATTENDEE value of an invitation: an individual whose answer is awaited."""
    return _address(name, email, {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT",
                                  "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})


def _address(name: str, email: str, params: dict[str, str] | None = None) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = name
    for key, value in (params or {}).items():
        address.params[key] = value
    return address


def _alarm(event: Event, before: timedelta) -> Alarm:
    valarm = Alarm()
    valarm.add("action", "DISPLAY")
    valarm.add("trigger", -abs(before))  # relative to the start (RELATED=START)
    valarm.add("description", f"Rappel\u00a0: {french(event.title)}")
    return valarm


def _datetimes(component: icalendar.Component) -> Iterable[date]:
    """Every date or date-time written in a component and its subcomponents."""
    for comp in component.walk():
        for name in _DATE_PROPERTIES:
            values = comp.get(name)
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                if hasattr(value, "dts"):
                    yield from (v.dt for v in value.dts)
                elif hasattr(value, "dt"):
                    yield value.dt
        rules = comp.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules else []:
            until = rule.get("UNTIL", [])
            yield from until if isinstance(until, list) else [until]


def _event_years(events: Sequence[icalendar.Event]) -> set[int]:
    return {d.year for ev in events for d in _datetimes(ev)}


def _span(years: Iterable[int]) -> range:
    """From the first year to the last (this year when there is none)."""
    found = sorted(years) or [datetime.now(UTC).year]
    return range(found[0], found[-1] + 1)


def _tzids(events: Sequence[icalendar.Event]) -> set[str]:
    return {value.params["TZID"] for ev in events
            for _name, value in ev.property_items(sorted=False)
            if hasattr(value, "params") and value.params.get("TZID") is not None}


def _zones(tzids: Iterable[str], years: range, site: Site, named: bool
           ) -> list[tuple[ZoneInfo, range]]:
    """The zones whose VTIMEZONE a calendar carries, in TZID order, each for `years` (the
    span of its events); a named calendar (a published feed) always carries the site's zone,
    after the others when its events do not use it."""
    wanted = dict.fromkeys(sorted(tzids), years)
    if named:
        wanted.setdefault(site.timezone.key, years)
    zones = []
    for tzid, span in wanted.items():
        try:
            zone = site.timezone if tzid == site.timezone.key else ZoneInfo(tzid)
        except (ZoneInfoNotFoundError, ValueError):
            continue  # not an IANA zone: nothing we could describe
        zones.append((zone, span))
    return zones


def calendar_head(site: Site, *, method: str = "PUBLISH", name: str | None = None
                  ) -> Calendar:
    """A VCALENDAR with its own properties only (PRODID, VERSION, CALSCALE, METHOD; with a
    `name`, a published feed's NAME, X-WR-CALNAME and X-WR-TIMEZONE)."""
    cal = Calendar()
    cal.add("prodid", f"-//comms//{site.territory}//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.upper())
    if name:
        cal.add("name", name)
        cal.add("x-wr-calname", name)
        cal.add("x-wr-timezone", site.timezone.key)
    return cal


def calendar(events: list[icalendar.Event], site: Site, *, method: str = "PUBLISH",
             name: str | None = None) -> Calendar:
    """A VCALENDAR holding `events` and the VTIMEZONE of each zone they use.

    With a `name` (a published feed) the calendar also names itself and the site's zone,
    whose VTIMEZONE it then always carries.
    """
    cal = calendar_head(site, method=method, name=name)
    for zone, years in _zones(_tzids(events), _span(_event_years(events)), site, bool(name)):
        cal.add_component(vtimezone(zone, years))
    for ev in events:
        cal.add_component(ev)
    return cal


@dataclass(frozen=True)
class SerialisedEvent:
    """The VEVENTs of one event (`vevents`: the master and its moved sessions) serialised
    once, with what a calendar holding them needs: the TZIDs and the years they use."""

    text: bytes
    tzids: frozenset[str]
    years: frozenset[int]


def serialise(events: Sequence[icalendar.Event]) -> SerialisedEvent:
    """`events` serialised by icalendar (each its own `to_ical`), for `assemble`."""
    return SerialisedEvent(b"".join(ev.to_ical() for ev in events), frozenset(_tzids(events)),
                           frozenset(_event_years(events)))


_END = b"END:VCALENDAR\r\n"


def assemble(head: Calendar, events: Sequence[SerialisedEvent], site: Site) -> bytes:
    """The .ics bytes of `head` (see `calendar_head`, plus any property of the caller's)
    holding `events` and the VTIMEZONEs they need: byte for byte what `calendar` and
    `to_bytes` give for the same events, but each event and each VTIMEZONE is serialised
    once however many calendars hold it (a build writes dozens)."""
    text = to_bytes(head)
    if head.subcomponents or not text.endswith(_END):
        raise ValueError("not the head of a VCALENDAR")
    years = _span(year for ev in events for year in ev.years)
    tzids = {tzid for ev in events for tzid in ev.tzids}
    named = "X-WR-TIMEZONE" in head
    zones = [vtimezone_text(zone, span) for zone, span in _zones(tzids, years, site, named)]
    return text[:-len(_END)] + b"".join(zones) + b"".join(ev.text for ev in events) + _END


@functools.lru_cache(maxsize=64)
def vtimezone_text(zone: ZoneInfo, years: range) -> bytes:
    """The serialised VTIMEZONE of `zone` for `years` (see `vtimezone`), once per process."""
    return vtimezone(zone, years).to_ical()


def to_bytes(cal: Calendar) -> bytes:
    """The .ics bytes: CRLF line ends, long lines folded (done by icalendar)."""
    return cal.to_ical()


def event_ics(event: Event, site: Site, *, sequence: int = 0, modified: datetime | None = None
              ) -> bytes:
    """A one-event PUBLISH calendar, for the newsletter's « Ajouter à mon agenda » links.

    It shares the invitation's UID and SEQUENCE (`comms.calendar.revisions`): importing it
    updates the copy an invited partner holds instead of adding a second entry, and never
    brings back an older version. DTSTAMP and LAST-MODIFIED are the revision's `modified`,
    so that unchanged content gives the same bytes.
    """
    return assemble(calendar_head(site), [serialise(vevents(
        event, site, sequence=sequence, dtstamp=modified, modified=modified))], site)

