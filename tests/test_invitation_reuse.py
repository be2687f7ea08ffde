"""Invitations of one version: the calendar is serialised once and only the ATTENDEE line
per attendee, giving the bytes a calendar built for that attendee alone would have; the
MIME is encoded once and each attendee's message reads back as the one built for her."""

from __future__ import annotations

import email
import email.policy
import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from factories import make_event, make_instance, make_site
from icaljs import parse_with_icaljs

from comms.calendar.revisions import fingerprint
from comms.content import load_project
from comms.directory import Partner
from comms.invitations.imip import (
    CANCEL,
    CANCELLATION,
    INVITATION,
    REQUEST,
    UPDATE,
    WITHDRAWAL,
    InvitationCalendar,
    invitation_ics,
    personal_values,
)
from comms.invitations.plan import Attendee, Delivery, InvitationFactory, Version
from comms.send.campaign import Recipient
from comms.send.headers import HeaderInjectionError, format_address
from comms.send.personalize import (
    GREETING_MARK,
    UNSUBSCRIBE_ALL_MARK,
    UNSUBSCRIBE_MAILTO_MARK,
    UNSUBSCRIBE_MARK,
    header_mailto,
)
from comms.send.tokens import instance_scope

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef"
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



@pytest.mark.parametrize("title", ["Comité de pilotage",
                                   "Référence 19000101T000001Z du comité"])
def test_each_seconds_dtstamp_gives_the_bytes_of_a_calendar_built_then(title):
    """The DTSTAMP of each second is written into a calendar built once; a text that holds
    the placeholder stamp itself makes the calendar be built again each second."""
    site = make_site()
    instance = make_instance("copil", reminder=timedelta(hours=2))
    event = make_event(title=title)
    shared = InvitationCalendar(event, site, instance, method=REQUEST, sequence=1)
    for second in (0, 0, 1, 59, 3600):
        stamp = datetime(2027, 1, 15, 9, 0, tzinfo=UTC) + timedelta(seconds=second)
        built = invitation_ics(event, site, instance, method=REQUEST, sequence=1,
                               attendee=ATTENDEES[2], dtstamp=stamp)
        assert shared(ATTENDEES[2], stamp) == built
        assert icalendar.Calendar.from_ical(built).walk("VEVENT")[0]["DTSTAMP"].dt == stamp
    assert title in icalendar.Calendar.from_ical(built).walk("VEVENT")[0]["SUMMARY"]

# The MIME of a version is encoded once: each attendee's message must read back as the one
# built for her alone (her To, her greeting and links in both bodies, her calendar twice).
PEOPLE = [*ATTENDEES, ("Ève <O'Hara> & fils", "eve@example.org")]


@pytest.mark.parametrize("kind", [INVITATION, UPDATE, CANCELLATION, WITHDRAWAL])
def test_each_attendees_message_reads_as_built_for_her_alone(tmp_path, kind):
    project = load_project(REPO)
    event = project.event("2027-03-copil")
    method = CANCEL if kind in (CANCELLATION, WITHDRAWAL) else REQUEST
    version = Version(event.id, "2027-03-copil@sante.example.org", 2, method,
                      fingerprint(event))
    stamp = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    factory = InvitationFactory(project, event, version, SECRET, now=lambda: stamp)
    rendered = factory.rendered(kind)
    instance = project.instances[event.instance]
    messages = []
    for n, (name, address) in enumerate(PEOPLE):
        first, _, last = name.partition(" ")
        partner = Partner(address, first, last, "", "", frozenset(), None, None, n + 2)
        attendee = Attendee(address, name, partner)
        recipient = Recipient(address, name, Delivery(attendee, kind, version))
        mid = f"<invite-2027-03-copil-s2.{n:024d}@sante.example.org>"
        message = factory(recipient, mid)
        data = message.as_bytes()
        assert max(data) < 128 and data.count(b"\n") == data.count(b"\r\n")
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert msg["To"].addresses[0].addr_spec == address
        # The header as `format_address` writes it (tested there); Python's parser puts a
        # space between two encoded words of a long name, which RFC 2047 section 6.2 drops.
        assert b"\r\nTo: " + format_address(name, address).encode() + b"\r\n" in data
        assert msg["To"].addresses[0].display_name.replace(" ", "") == name.replace(" ", "")
        assert msg["Message-ID"] == mid and msg["Subject"] == rendered.subject
        personal = personal_values(project.site, SECRET, address, name, first, last,
                                   scope=instance_scope(instance.id))
        assert msg["List-Unsubscribe"] == personal.list_unsubscribe
        assert b"\r\nList-Unsubscribe: <" + personal.unsubscribe_url.encode() in data
        values = {GREETING_MARK: personal.greeting, UNSUBSCRIBE_MARK: personal.unsubscribe_url,
                  UNSUBSCRIBE_ALL_MARK: personal.unsubscribe_all_url,
                  UNSUBSCRIBE_MAILTO_MARK: header_mailto(personal.list_unsubscribe)}
        text, markup = rendered.text, rendered.html
        for mark, value in values.items():
            text = text.replace(mark, value)
            markup = markup.replace(mark, html.escape(value, quote=True))
        alternative, attachment = msg.iter_parts()
        plain, rich, calendar_part = alternative.iter_parts()
        assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == text.rstrip("\n")
        assert rich.get_content().replace("\r\n", "\n").rstrip("\n") == markup.rstrip("\n")
        assert message.text == text and message.html == markup  # what an HTTP API reads
        ics = invitation_ics(event, project.site, instance, method=method, sequence=2,
                             attendee=(name, address), dtstamp=stamp,
                             withdrawal=kind == WITHDRAWAL)
        assert calendar_part.get_payload(decode=True) == ics
        assert attachment.get_payload(decode=True) == ics
        assert message.attachments[0].data == ics
        messages.append(msg)
    path = tmp_path / "last.ics"
    path.write_bytes(messages[-1].get_payload()[1].get_payload(decode=True))
    seen = parse_with_icaljs(path)
    assert seen["method"] == method and seen["events"][0]["attendees"] == 1


def test_a_line_break_in_a_personal_value_is_refused():
    project = load_project(REPO)
    event = project.event("2027-03-copil")
    version = Version(event.id, "x@sante.example.org", 0, REQUEST, fingerprint(event))
    factory = InvitationFactory(project, event, version, SECRET)
    attendee = Attendee("anne@example.org", "Anne\r\nBcc: x@evil.example")
    recipient = Recipient(attendee.email, attendee.name,
                          Delivery(attendee, INVITATION, version))
    with pytest.raises(HeaderInjectionError):
        factory(recipient, "<a@sante.example.org>")
    good = Recipient("anne@example.org", "Anne",
                     Delivery(Attendee("anne@example.org", "Anne"), INVITATION, version))
    with pytest.raises(HeaderInjectionError):
        factory(good, "<a@sante.example.org>\r\nBcc: x@evil.example")
