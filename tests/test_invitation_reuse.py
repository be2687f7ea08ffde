"""Invitations of one version: the calendar is serialised once and only the ATTENDEE line
per attendee, giving the bytes a calendar built for that attendee alone would have."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from comms.content import load_project
from comms.invitations.imip import CANCEL, REQUEST, InvitationCalendar, invitation_ics

REPO = Path(__file__).resolve().parent.parent
ATTENDEES = [
    ("Anne Durand", "anne@example.org"),
    ("", "sans.nom@example.org"),
    ("Marie-Élise de la Fontaine-Lévêque, coordinatrice « santé mentale »",
     "marie-elise.delafontaine-leveque@structure-tres-longue.example.org"),
    ('Jean "Jo" Martin; Dupont', "jo@example.org"),
]


@pytest.mark.parametrize("method, withdrawal", [(REQUEST, False), (CANCEL, False),
                                                (CANCEL, True)])
def test_same_bytes_as_a_calendar_built_for_each_attendee(method, withdrawal):
    project = load_project(REPO)
    event = project.event("2027-03-copil")
    instance = project.instances[event.instance]
    shared = InvitationCalendar(event, project.site, instance, method=method, sequence=2,
                                withdrawal=withdrawal)
    for n, attendee in enumerate(ATTENDEES):
        stamp = datetime(2027, 1, 15, 9, 0, n // 2, 123456 * n, tzinfo=UTC)
        fast = shared(attendee, stamp)
        assert fast == invitation_ics(event, project.site, instance, method=method,
                                      sequence=2, attendee=attendee, dtstamp=stamp,
                                      withdrawal=withdrawal)
        cal = icalendar.Calendar.from_ical(fast)
        (vevent,) = cal.walk("VEVENT")
        assert str(vevent["ATTENDEE"]) == f"mailto:{attendee[1]}"
        assert fast.count(b"\r\nATTENDEE") == len(cal.walk("VEVENT"))
        assert vevent["DTSTAMP"].dt == stamp.replace(microsecond=0)


def test_a_series_with_some_sessions_has_the_attendee_in_each_override():
    project = load_project(REPO)
    event = next(e for e in project.events if e.repeat is not None)
    instance = project.instances[event.instance]
    sessions = tuple(sorted(event.repeat.exceptions))[:1] or (event.first_day,)
    shared = InvitationCalendar(event, project.site, instance, method=CANCEL, sequence=4,
                                sessions=sessions)
    stamp = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    for attendee in ATTENDEES:
        assert shared(attendee, stamp) == invitation_ics(
            event, project.site, instance, method=CANCEL, sequence=4, attendee=attendee,
            dtstamp=stamp, sessions=sessions)
