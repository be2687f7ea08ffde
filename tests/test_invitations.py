"""Calendar invitations: the calendars (icalendar and ical.js), the iMIP MIME tree, the
planner's versions, and the whole request -> update -> new attendee -> removed attendee ->
cancel flow through `comms invite` against a real SMTP server, then a crash drill."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import os
import random
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from cli_runner import cli
from conftest import write
from factories import PARIS, make_event, make_instance, make_project, make_repeat, make_site
from icaljs import parse_with_icaljs
from smtp_servers import Recorder, smtp_env, start, take

from comms.calendar.revisions import Revisions
from comms.invitations import plan as invitations
from comms.invitations.imip import (
    CANCEL,
    REQUEST,
    describe_changes,
    invitation_ics,
    subject,
)
from comms.invitations.plan import (
    CANCELLATION,
    INVITATION,
    UPDATE,
    WITHDRAWAL,
    Delivery,
    InvitationFactory,
    Version,
    fingerprint,
)
from comms.send.campaign import Recipient
from comms.send.journal import UNSUBSCRIBE, Journal

SECRET = "test-secret-0123456789abcdef"
TODAY = "2027-01-10"
NBSP = "\u00a0"

PARTNERS_HEADER = "email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on\n"
ANNE = "anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter|copil;2026-01-10;\n"
PAUL = ("paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;newsletter|copil|gt-logement;"
        "2026-01-10;\n")
LEA = "lea.morel@ccas.example.org;Léa;Morel;CCAS;Directrice;newsletter|copil;2026-01-10;2026-05-02\n"
KARIM = "karim@cmp.example.org;Karim;Haddad;CMP;Cadre;copil;2026-01-10;\n"
NINA = "nina.petit@mda.example.org;Nina;Petit;MDA;Psychologue;copil;2026-01-10;\n"
EXTRA = "invite.externe@example.org"

COPIL = """\
---
instance: copil
title: "Comité de pilotage : bilan"
start: {start}
end: {end}
location: Salle du conseil, mairie de Lisière
attendees: [{extra}]
{more}---
Ordre du jour :

1. Bilan
2. Programme
"""


def copil(start: str = "2027-03-18 14:00", end: str = "2027-03-18 16:30", more: str = "",
          extra: str = EXTRA) -> str:
    return COPIL.format(start=start, end=end, more=more, extra=extra)


# --------------------------------------------------------------------------- helpers



def invite(root: Path, *args: str, env: dict[str, str] | None = None, today: str = TODAY):
    return cli("invite", *args, "--root", str(root), "--today", today, env=env)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def calendar_of(msg: email.message.EmailMessage) -> icalendar.Calendar:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def vevent(msg: email.message.EmailMessage) -> icalendar.Event:
    (event,) = calendar_of(msg).walk("VEVENT")
    return event


def summary_of(msg: email.message.EmailMessage) -> tuple[str, str, int, str]:
    """(recipient, METHOD, SEQUENCE, UID) of an invitation."""
    cal = calendar_of(msg)
    event = vevent(msg)
    return (msg["To"].addresses[0].addr_spec, str(cal["METHOD"]), int(event["SEQUENCE"]),
            str(event["UID"]))



def icaljs_reads(messages, folder: Path) -> list[dict]:
    """Both calendars of each message (the alternative and invite.ics) as ical.js reads
    them, each checked against its MIME method parameter."""
    seen = []
    for n, msg in enumerate(messages):
        parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"
                 or p.get_filename() == "invite.ics"]
        assert len(parts) == 2
        for k, part in enumerate(parts):
            path = folder / f"m{n}-{k}.ics"
            path.write_bytes(part.get_payload(decode=True))
            read = parse_with_icaljs(path)
            if part.get_content_type() == "text/calendar":
                assert read["method"] == part.get_param("method")
            (event,) = read["events"]
            assert (event["attendees"], event["organizer"]) == (1, True)
            seen.append({"method": read["method"], **event})
    return seen


@pytest.fixture
def territory(root: Path) -> Path:
    write(root, "content/partners.csv", PARTNERS_HEADER + ANNE + PAUL + LEA + KARIM)
    write(root, "calendars/events/2027-03-copil.md", copil())
    return root


@pytest.fixture
def smtp(smtp_server):
    return smtp_server, smtp_env(smtp_server)


# --------------------------------------------------------------------------- calendars

def one_site_project(tmp_path: Path, **event_over):
    site = make_site(root=tmp_path)
    instance = make_instance("copil", reminder=timedelta(hours=2))
    event = make_event(**event_over)
    return make_project(site=site, instances={"copil": instance}, events=[event]), event, instance


def test_request_calendar_read_by_icalendar_and_icaljs(tmp_path):
    project, event, instance = one_site_project(tmp_path)
    stamp = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)
    data = invitation_ics(event, project.site, instance, method=REQUEST, sequence=2,
                          attendee=("Anne Durand", "anne@example.org"), dtstamp=stamp)
    cal = icalendar.Calendar.from_ical(data)
    assert cal["METHOD"] == "REQUEST"
    (vev,) = cal.walk("VEVENT")
    assert vev["UID"] == "2027-03-copil@sante.example.org"
    assert vev["SEQUENCE"] == 2
    assert vev["DTSTAMP"].dt == stamp and vev["DTSTAMP"].to_ical().endswith(b"Z")
    organizer = vev["ORGANIZER"]
    assert str(organizer) == "mailto:claire.martin@sante.example.org"
    assert organizer.params["CN"] == "Claire Martin"
    attendee = vev["ATTENDEE"]
    assert not isinstance(attendee, list), "one attendee per calendar"
    assert str(attendee) == "mailto:anne@example.org"
    assert dict(attendee.params) == {"CN": "Anne Durand", "CUTYPE": "INDIVIDUAL",
                                     "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION",
                                     "RSVP": "TRUE"}
    (alarm,) = vev.walk("VALARM")
    assert alarm["TRIGGER"].dt == -timedelta(hours=2)
    assert [c.name for c in cal.subcomponents].count("VTIMEZONE") == 1
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in data  # the VTIMEZONE's RRULE form

    path = tmp_path / "invite.ics"
    path.write_bytes(data)
    seen = parse_with_icaljs(path)
    assert seen["method"] == "REQUEST"
    (ev,) = seen["events"]
    assert ev["uid"] == "2027-03-copil@sante.example.org" and ev["sequence"] == 2
    assert ev["start"] == "2027-03-18T13:00:00.000Z" and ev["tzid"] == "Europe/Paris"
    assert (ev["attendees"], ev["organizer"], ev["alarms"]) == (1, True, 1)


def test_cancel_calendar_has_no_alarm_and_is_cancelled(tmp_path):
    project, event, instance = one_site_project(tmp_path)
    data = invitation_ics(event, project.site, instance, method=CANCEL, sequence=3,
                          attendee=("", "x@example.org"))
    cal = icalendar.Calendar.from_ical(data)
    (vev,) = cal.walk("VEVENT")
    assert cal["METHOD"] == "CANCEL" and vev["STATUS"] == "CANCELLED"
    assert vev.walk("VALARM") == []
    assert vev["ATTENDEE"].params["CN"] == "x@example.org"  # no name: the address
    path = tmp_path / "cancel.ics"
    path.write_bytes(data)
    seen = parse_with_icaljs(path)
    assert seen["method"] == "CANCEL"
    assert (seen["events"][0]["status"], seen["events"][0]["alarms"]) == ("CANCELLED", 0)


def test_a_series_is_one_invitation_with_rrule_and_exdate(tmp_path):
    repeat = make_repeat({"FREQ": "MONTHLY", "BYDAY": "1TH", "COUNT": 4},
                         exceptions=(date(2027, 5, 6),), text="le premier jeudi")
    project, event, instance = one_site_project(
        tmp_path, start=datetime(2027, 4, 1, 9, 0, tzinfo=PARIS), repeat=repeat)
    data = invitation_ics(event, project.site, instance, method=REQUEST, sequence=0,
                          attendee=("A", "a@example.org"))
    path = tmp_path / "serie.ics"
    path.write_bytes(data)
    (ev,) = parse_with_icaljs(path)["events"]
    assert ev["recurring"]
    assert ev["occurrences"] == ["2027-04-01T07:00:00.000Z", "2027-06-03T07:00:00.000Z",
                                 "2027-07-01T07:00:00.000Z"]
    assert b"EXDATE;TZID=Europe/Paris:20270506T090000" in data


def test_fingerprint_follows_significant_fields_only():
    base = make_event()
    same = [make_event(body_md="Autre ordre du jour."),
            make_event(registration_url="https://sante.example.org/inscription")]
    changed = [make_event(start=datetime(2027, 3, 18, 15, 0, tzinfo=PARIS)),
               make_event(location="Ailleurs"), make_event(title="Autre titre"),
               make_event(status="cancelled"), make_event(online_url="https://visio.example.org/x"),
               make_event(repeat=make_repeat({"FREQ": "WEEKLY", "COUNT": 2})),
               make_event(repeat=make_repeat({"FREQ": "WEEKLY", "COUNT": 2},
                                             (date(2027, 3, 25),)))]
    assert {fingerprint(e) for e in same} == {fingerprint(base)}
    prints = [fingerprint(e) for e in changed]
    assert fingerprint(base) not in prints and len(set(prints)) == len(prints)


# --------------------------------------------------------------------------- MIME


def factory_message(tmp_path: Path, kind: str, method: str, sequence: int = 0):
    over = {"status": "cancelled"} if kind == CANCELLATION else {}
    project, event, _ = one_site_project(tmp_path, **over)
    version = Version(event.id, "2027-03-copil@sante.example.org", sequence, method,
                      fingerprint(event))
    attendee = invitations.Attendee("anne@example.org", "Anne Durand")
    factory = InvitationFactory(project, event, version, SECRET)
    recipient = Recipient(attendee.email, attendee.name, Delivery(attendee, kind, version))
    message = factory(recipient, "<invite-2027-03-copil-s0-request.abc@sante.example.org>")
    return project, event, message, parse(message.as_bytes())


@pytest.mark.parametrize("kind,method", [(INVITATION, "REQUEST"), (UPDATE, "REQUEST"),
                                         (CANCELLATION, "CANCEL"), (WITHDRAWAL, "CANCEL")])
def test_mime_tree_of_an_invitation(tmp_path, kind, method):
    project, event, message, msg = factory_message(tmp_path, kind, method)
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == \
        ["text/plain", "text/html", "text/calendar"]
    calendar_part = list(alternative.iter_parts())[2]
    assert calendar_part.get_param("method") == method
    assert calendar_part.get_param("charset") == "UTF-8"
    assert calendar_part["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() in ("application/ics", "text/calendar")
    assert attachment.get_content_disposition() == "attachment"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    for part in (calendar_part, attachment):
        cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
        assert cal["METHOD"] == method  # the method parameter always equals METHOD
    assert msg["Content-Class"] == "urn:content-classes:calendarmessage"
    assert msg["From"].addresses[0].addr_spec == "claire.martin@sante.example.org"
    assert msg["To"].addresses[0].addr_spec == "anne@example.org"
    assert msg["Message-ID"] == "<invite-2027-03-copil-s0-request.abc@sante.example.org>"
    word = {INVITATION: "Invitation", UPDATE: "Mise à jour", CANCELLATION: "Annulé",
            WITHDRAWAL: "Invitation retirée"}[kind]
    assert msg["Subject"] == f"{word}{NBSP}: Comité de pilotage — jeudi 18 mars 2027"
    assert msg["Subject"] == subject(event, project.site, kind)
    text = alternative.get_body(("plain",)).get_content()
    html = alternative.get_body(("html",)).get_content()
    assert "Bonjour," in text  # no directory entry: the plain greeting
    assert "?t=" in text and "?t=" in html
    assert "jeudi 18 mars 2027 de 14\u00a0h à 16\u00a0h" in text
    # A cancellation shows the coordinator's own text (the reason, the new date); a
    # withdrawn invitation does not show the programme of a meeting she no longer attends.
    assert ("Bilan de l’année" in text) == ("Bilan de l’année" in html) == (kind != WITHDRAWAL)
    assert ("n’êtes plus sur la liste" in text) == (kind == WITHDRAWAL)
    # RFC 5546 section 3.2.5: STATUS:CANCELLED cancels the whole event, and is absent when
    # only this attendee is taken off.
    status = {vevent(msg).get("STATUS"), *(e["status"] for e in icaljs_reads([msg], tmp_path))}
    assert status == ({None} if kind == WITHDRAWAL else
                      {"CANCELLED"} if kind == CANCELLATION else {"CONFIRMED"})
    data = message.as_bytes()
    assert max(data) < 128 and data.count(b"\n") == data.count(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    # An HTTP API gets the calendar as an attachment of the structured message.
    (item,) = message.attachments
    assert item.filename == "invite.ics" and f"method={method}" in item.content_type


# --------------------------------------------------------------------------- the flow


def test_a_cancellation_gives_the_organisers_message_right_after_its_label(tmp_path):
    """The event's text (the reason, the new date) follows « Le message de l’organisation : »,
    in the text and the HTML parts, before the date and place it concerns."""
    reason = "Réunion reportée au jeudi 1er avril."
    project, event, _ = one_site_project(tmp_path, status="cancelled",
                                         body_md=reason + "\n")
    version = Version(event.id, "2027-03-copil@sante.example.org", 1, "CANCEL",
                      fingerprint(event))
    attendee = invitations.Attendee("anne@example.org", "Anne Durand")
    factory = InvitationFactory(project, event, version, SECRET)
    recipient = Recipient(attendee.email, attendee.name,
                          Delivery(attendee, CANCELLATION, version))
    msg = parse(factory(recipient, "<c.abc@sante.example.org>").as_bytes())
    text = msg.get_body(("plain",)).get_content()
    label = text.index("Le message de l’organisation")
    assert text.index(reason) < text.index("Quand")
    assert text[label:text.index(reason)].count("\n") <= 2
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", msg.get_body(("html",)).get_content()))
    page = html.unescape(page)
    assert page.index("Le message de l’organisation") < page.index(reason) < page.index("Quand")
    assert text.count(reason) == 1 and page.count(reason) == 1


def test_an_update_elides_au_lieu_de_before_a_vowel(tmp_path):
    """« (au lieu d’Agence …) », « (au lieu d’Atelier …) », but « (au lieu de jeudi …) »."""
    from comms.calendar.revisions import significant_fields

    site = make_site(root=tmp_path)
    before = make_event(location="Agence Lisière Habitat", title="Atelier santé")
    after = make_event(start=datetime(2027, 3, 19, 14, 0, tzinfo=PARIS),
                       location="Mairie, salle 3", title="Comité de pilotage")
    lines = describe_changes(significant_fields(before), after, site)
    assert any(line.endswith("(au lieu d’Agence Lisière Habitat)") for line in lines), lines
    assert any(line.endswith("(au lieu d’Atelier santé)") for line in lines), lines
    assert any("(au lieu de jeudi 18 mars 2027" in line for line in lines), lines
    assert not any("au lieu de A" in line for line in lines)


def test_request_update_join_leave_cancel_against_a_real_smtp_server(territory, smtp,
                                                                     tmp_path):
    server, env = smtp
    result = invite(territory, "--confirm", env=env)
    assert result.exit_code == 0, result.output
    first = take(server)
    got = sorted(summary_of(m)[:3] for m in first)
    assert got == [
        ("anne.durand@mairie.example.org", "REQUEST", 0),
        ("invite.externe@example.org", "REQUEST", 0),
        ("karim@cmp.example.org", "REQUEST", 0),
        ("paul.roche@ars.example.org", "REQUEST", 0),  # copil
        ("paul.roche@ars.example.org", "REQUEST", 0),  # gt-logement
    ]
    for msg in first:  # each calendar names its recipient, and only them
        event = vevent(msg)
        assert str(event["ATTENDEE"]).lower() == "mailto:" + msg["To"].addresses[0].addr_spec
        assert event["ATTENDEE"].params["RSVP"] == "TRUE"
        assert msg["Subject"].startswith(f"Invitation{NBSP}: ")
    assert {(e["method"], e["sequence"], e["alarms"]) for e in icaljs_reads(first[:2], tmp_path)} \
        == {("REQUEST", 0, 1)}
    uid = "2027-03-copil@sante.example.org"
    stamps = {summary_of(m)[0]: vevent(m)["DTSTAMP"].dt for m in first
              if summary_of(m)[3] == uid}

    again = invite(territory, "--confirm", env=env)
    assert again.exit_code == 0 and "Rien à envoyer" in again.output
    assert take(server) == []

    # A significant change: an update, same UID, SEQUENCE + 1, fresh DTSTAMP.
    write(territory, "calendars/events/2027-03-copil.md",
          copil("2027-03-18 15:00", "2027-03-18 17:00"))
    time.sleep(1.1)  # DTSTAMP has a one-second resolution
    assert invite(territory, "--confirm", env=env).exit_code == 0
    updates = take(server)
    assert sorted(summary_of(m) for m in updates) == [
        (who, "REQUEST", 1, uid) for who in sorted(stamps)]
    for msg in updates:
        event = vevent(msg)
        assert event["DTSTAMP"].dt > stamps[msg["To"].addresses[0].addr_spec]
        assert event["DTSTAMP"].dt.tzinfo is not None and event["DTSTAMP"].dt.utcoffset() == \
            timedelta(0)
        assert event["DTSTART"].dt == datetime(2027, 3, 18, 15, 0, tzinfo=PARIS)
        assert msg["Subject"].startswith(f"Mise à jour{NBSP}: ")
    assert {(e["method"], e["sequence"], e["start"]) for e in icaljs_reads(updates[:2], tmp_path)} \
        == {("REQUEST", 1, "2027-03-18T14:00:00.000Z")}
    # A non-significant change (the agenda text) sends nothing.
    write(territory, "calendars/events/2027-03-copil.md",
          copil("2027-03-18 15:00", "2027-03-18 17:00").replace("2. Programme", "2. Budget"))
    assert invite(territory, "--confirm", env=env).exit_code == 0
    assert take(server) == []

    # A new member of the audience gets the current version, nobody else gets anything.
    write(territory, "content/partners.csv", PARTNERS_HEADER + ANNE + PAUL + LEA + KARIM + NINA)
    assert invite(territory, "--confirm", env=env).exit_code == 0
    joined = take(server)
    assert [summary_of(m) for m in joined] == [("nina.petit@mda.example.org", "REQUEST", 1, uid)]
    assert [(e["method"], e["sequence"]) for e in icaljs_reads(joined, tmp_path)] == \
        [("REQUEST", 1), ("REQUEST", 1)]
    assert joined[0]["Subject"].startswith(f"Invitation{NBSP}: ")

    # Someone who leaves the audience gets a CANCEL naming only them.
    write(territory, "content/partners.csv", PARTNERS_HEADER + ANNE + PAUL + LEA + NINA)
    assert invite(territory, "--confirm", env=env).exit_code == 0
    (left,) = take(server)
    # The meeting did not change: the withdrawal keeps its SEQUENCE (a later DTSTAMP).
    assert summary_of(left) == ("karim@cmp.example.org", "CANCEL", 1, uid)
    assert str(vevent(left)["ATTENDEE"]) == "mailto:karim@cmp.example.org"
    assert vevent(left).walk("VALARM") == []
    assert left["Subject"].startswith(f"Invitation retirée{NBSP}: ")
    assert "STATUS" not in vevent(left)  # RFC 5546 3.2.5: the meeting is not cancelled
    assert {(e["method"], e["sequence"], e["status"], e["alarms"])
            for e in icaljs_reads([left], tmp_path)} == {("CANCEL", 1, None, 0)}

    # The event is cancelled: a CANCEL to everyone who holds an invitation, nobody else.
    write(territory, "calendars/events/2027-03-copil.md",
          copil("2027-03-18 15:00", "2027-03-18 17:00", "status: cancelled\n"))
    dry = invite(territory, env=env)
    assert "annulation (séquence 2)\u00a0: 4 destinataires" in dry.output
    assert take(server) == []
    assert invite(territory, "--confirm", env=env).exit_code == 0
    cancels = take(server)
    assert sorted(summary_of(m) for m in cancels) == [
        (who, "CANCEL", 2, uid) for who in sorted(
            ["anne.durand@mairie.example.org", "invite.externe@example.org",
             "nina.petit@mda.example.org", "paul.roche@ars.example.org"])]
    for msg in cancels:
        event = vevent(msg)
        assert event["STATUS"] == "CANCELLED" and event.walk("VALARM") == []
        assert calendar_of(msg)["METHOD"] == "CANCEL"
    assert {(e["method"], e["sequence"], e["status"], e["alarms"])
            for e in icaljs_reads(cancels[:2], tmp_path)} == {("CANCEL", 2, "CANCELLED", 0)}
    assert invite(territory, "--confirm", env=env).exit_code == 0
    assert take(server) == []

    with Journal.open(territory) as journal:
        state = {(r["email"], r["sequence"], r["status"]) for r in journal.db.execute(
            "SELECT * FROM invitation_state WHERE event_id = '2027-03-copil'")}
    assert state == {("anne.durand@mairie.example.org", 2, "cancelled"),
                     ("paul.roche@ars.example.org", 2, "cancelled"),
                     ("invite.externe@example.org", 2, "cancelled"),
                     ("nina.petit@mda.example.org", 2, "cancelled"),
                     ("karim@cmp.example.org", 1, "cancelled")}
    assert cli("report", "2027", "--root", str(territory), env=env).exit_code == 0
    csv_text = (territory / "build" / "rapport-2027.csv").read_text(encoding="utf-8-sig")
    assert "Invitations envoyées — Comité de pilotage;14;" in csv_text  # 5+4+1+1+4 - 1 (gt)


ORGANIZER = ("claire.martin@sante.example.org;Claire;Martin;Coordination;Coordinatrice;"
             "copil;2026-01-10;\n")


def test_the_organizer_is_never_an_attendee_of_her_own_meeting(territory, smtp):
    """organizer-self-invite: she is on the list, she gets no request, update, withdrawal
    or cancellation, and the dry run says why."""
    server, env = smtp
    write(territory, "content/partners.csv", PARTNERS_HEADER + ANNE + ORGANIZER)
    dry = invite(territory, "2027-03-copil", env=env)
    assert dry.exit_code == 0, dry.output
    assert "claire.martin@sante.example.org" in dry.output
    assert "organise la réunion" in dry.output
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    sent = take(server)
    assert sorted(summary_of(m)[0] for m in sent) == ["anne.durand@mairie.example.org",
                                                     "invite.externe@example.org"]
    for msg in sent:  # nobody gets a calendar where the organizer is also an attendee
        event = vevent(msg)
        assert str(event["ORGANIZER"]).lower() == "mailto:claire.martin@sante.example.org"
        assert "claire.martin" not in str(event["ATTENDEE"]).lower()
    # Also an extra address, with another case, and through an update and a cancellation.
    write(territory, "calendars/events/2027-03-copil.md",
          copil("2027-03-18 15:00", "2027-03-18 17:00",
                extra="Claire.Martin@sante.example.org"))
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    assert sorted(summary_of(m)[:2] for m in take(server)) == [
        ("anne.durand@mairie.example.org", "REQUEST"),
        ("invite.externe@example.org", "CANCEL")]
    write(territory, "calendars/events/2027-03-copil.md",
          copil(more="status: cancelled\n", extra="Claire.Martin@sante.example.org"))
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    assert [summary_of(m)[:2] for m in take(server)] == [
        ("anne.durand@mairie.example.org", "CANCEL")]


def test_a_cancelled_event_never_invited_sends_nothing(territory, smtp):
    server, env = smtp
    write(territory, "calendars/events/2027-03-copil.md", copil(more="status: cancelled\n"))
    result = invite(territory, "2027-03-copil", "--confirm", env=env)
    assert result.exit_code == 0, result.output
    assert "l’invitation n’avait été envoyée à personne" in result.output
    assert take(server) == []


def test_an_added_exception_date_cancels_that_session_only(territory, smtp):
    server, env = smtp
    serie = ("repeat:\n  every: month\n  on: third thursday\n  count: 3\n")
    write(territory, "calendars/events/2027-03-copil.md", copil(more=serie))
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    first = take(server)
    assert {summary_of(m)[1:3] for m in first} == {("REQUEST", 0)}
    assert "RRULE" in vevent(first[0]) and "EXDATE" not in vevent(first[0])
    write(territory, "calendars/events/2027-03-copil.md",
          copil(more=serie + "  except: [2027-04-15]\n"))
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    updates = take(server)
    # What Google sends: a CANCEL of that session (RECURRENCE-ID), not the series again.
    assert len(updates) == len(first) and {summary_of(m)[1:3] for m in updates} == \
        {("CANCEL", 1)}
    event = vevent(updates[0])
    assert "RRULE" not in event and event["STATUS"] == "CANCELLED"
    assert event["RECURRENCE-ID"].dt == datetime(2027, 4, 15, 14, 0, tzinfo=PARIS)


def test_suppressed_addresses_get_nothing_not_even_a_cancellation(territory, smtp):
    server, env = smtp
    with Journal.open(territory) as journal:
        journal.suppress("karim@cmp.example.org", UNSUBSCRIBE, "lien")
    result = invite(territory, "2027-03-copil", "--confirm", env=env)
    assert result.exit_code == 0, result.output
    first = {summary_of(m)[0] for m in take(server)}
    assert first == {"anne.durand@mairie.example.org", "paul.roche@ars.example.org",
                     EXTRA}  # not Karim (journal) nor Léa (directory)
    # Anne unsubscribes by link, Paul leaves the list and unsubscribes in the directory,
    # then the event is cancelled: neither hears anything more.
    with Journal.open(territory) as journal:
        journal.suppress("anne.durand@mairie.example.org", UNSUBSCRIBE, "lien")
    write(territory, "content/partners.csv", PARTNERS_HEADER + ANNE + LEA + KARIM + PAUL.replace(
        "newsletter|copil|gt-logement;2026-01-10;", "newsletter;2026-01-10;2027-01-05"))
    write(territory, "calendars/events/2027-03-copil.md", copil(more="status: cancelled\n"))
    dry = invite(territory, "2027-03-copil", env=env)
    assert "Anne Durand <anne.durand@mairie.example.org> — désinscrit" in dry.output
    assert "Paul Roche <paul.roche@ars.example.org> — désinscrit dans l’annuaire" in dry.output
    assert invite(territory, "2027-03-copil", "--confirm", env=env).exit_code == 0
    assert {summary_of(m)[0] for m in take(server)} == {EXTRA}


def test_dry_run_prints_who_would_receive_what_and_sends_nothing(territory, smtp):
    server, env = smtp
    write(territory, "calendars/events/2026-12-copil.md",
          copil("2026-12-10 14:00", "2026-12-10 16:00"))
    result = invite(territory, env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Comité de pilotage{NBSP}: bilan — jeudi 18 mars 2027 (2027-03-copil)" in out
    assert f"invitation (séquence 0){NBSP}: 4 destinataires" in out
    assert "    Anne Durand <anne.durand@mairie.example.org>" in out
    assert f"    {EXTRA}" in out
    assert "Léa Morel <lea.morel@ccas.example.org> — désinscrit dans l’annuaire" in out
    assert f"(2026-12-copil){NBSP}: passé, rien n’est envoyé." in out
    assert "Simulation" in out and "rien n’a été envoyé (5 messages" in out
    assert take(server) == []
    assert not (territory / "var" / "comms.sqlite").exists()


def test_bad_audiences_are_reported_with_file_and_line_and_nothing_is_sent(territory, smtp):
    server, env = smtp
    write(territory, "calendars/instances.yaml",
          (territory / "calendars/instances.yaml").read_text(encoding="utf-8")
          .replace("audience: [copil]", "audience: [copil, copli]"))
    write(territory, "calendars/events/2027-04-gt.md",
          "---\ninstance: gt-logement\nstart: 2027-04-08 09:30\nend: 2027-04-08 11:30\n"
          "location: Mairie\naudience: [personne]\nattendees:\n  - ok@example.org\n"
          "  - jean..dupont@example.org\n---\nTexte.\n")
    result = invite(territory, "--confirm", env=env)
    assert result.exit_code == 1
    out = result.output
    assert "calendars/instances.yaml:4: copil.audience\u00a0: la liste «\u00a0copli\u00a0» n’a aucun " \
        "membre" in out
    assert "vouliez-vous écrire «\u00a0copil\u00a0»" in out
    assert "calendars/events/2027-04-gt.md:6: audience\u00a0: la liste «\u00a0personne\u00a0»" in out
    assert "calendars/events/2027-04-gt.md:9: attendees\u00a0: «\u00a0jean..dupont@example.org\u00a0» " \
        "n’est pas une adresse électronique valide" in out
    assert "Rien n’a été envoyé" in out
    assert take(server) == []
    # A list declared in comms.yaml may stay empty.
    write(territory, "comms.yaml", (territory / "comms.yaml").read_text(encoding="utf-8")
          + "lists: [copli, personne]\n")
    write(territory, "calendars/events/2027-04-gt.md",
          "---\ninstance: gt-logement\nstart: 2027-04-08 09:30\nend: 2027-04-08 11:30\n"
          "location: Mairie\naudience: [personne]\n---\nTexte.\n")
    assert invite(territory, env=env).exit_code == 0


def test_an_instance_with_an_invitation_step_waits_for_its_day(territory, smtp):
    server, env = smtp
    write(territory, "calendars/instances.yaml",
          (territory / "calendars/instances.yaml").read_text(encoding="utf-8")
          + "  sequence:\n    invitation: -30\n")  # appended to gt-logement
    early = invite(territory, "2027-04-gt", "--confirm", env=env, today="2027-03-08")
    assert "invitation prévue le mardi 9 mars 2027" in early.output
    assert take(server) == []
    on_time = invite(territory, "2027-04-gt", "--confirm", env=env, today="2027-03-09")
    assert on_time.exit_code == 0
    assert [summary_of(m)[:3] for m in take(server)] == [
        ("paul.roche@ars.example.org", "REQUEST", 0)]
    late = invite(territory, "2027-04-gt", "--confirm", env=env, today="2027-04-09")
    assert "passé" in late.output and take(server) == []


def test_planner_never_reuses_a_version_someone_already_holds(tmp_path):
    """Removed, re-added, removed again: each message is a newer version of the same
    revision (the event did not change), in its own campaign."""
    from comms.directory import Directory, Partner

    def person(email: str, lists: str) -> Partner:
        return Partner(email, "", "", "", "", frozenset(lists.split("|")) - {""}, None, None)

    project, event, _ = one_site_project(tmp_path)
    today = date(2027, 1, 10)
    sequence = []
    revisions = Revisions(tmp_path / "revisions.json", {})
    with Journal(tmp_path / "j.sqlite") as journal:
        for lists in ("copil", "", "copil", ""):
            directory = Directory(tmp_path / "p.csv", (person("a@example.org", lists),
                                                       person("b@example.org", "copil")))
            (plan,) = invitations.plan_invitations(project, directory, journal, today,
                                                   revisions=revisions)
            invitations.record_versions(journal, plan.new_versions)
            for delivery in plan.deliveries:
                campaign = delivery.version.campaign
                journal.record_campaign(campaign, kind="invitation", ref=event.id,
                                        scope="copil", year=2027, subject="s")
                journal.add_messages(campaign, [(delivery.attendee.key, f"<{campaign}@x>")])
                journal.mark_sent(campaign, delivery.attendee.key, "")
                sequence.append((delivery.attendee.key, delivery.kind,
                                 delivery.version.sequence, campaign))
    base = "invite-2027-03-copil-s0"
    assert sequence == [("a@example.org", INVITATION, 0, f"{base}-request"),
                        ("b@example.org", INVITATION, 0, f"{base}-request"),
                        ("a@example.org", WITHDRAWAL, 0, f"{base}-cancel"),
                        ("a@example.org", INVITATION, 0, f"{base}-request-2"),
                        ("a@example.org", WITHDRAWAL, 0, f"{base}-cancel-2")]


# --------------------------------------------------------------------------- crash drill

KILLS = 6
SEED = 20270318
PEOPLE = 30


class SlowToAnswer(Recorder):
    """Keeps each message, then takes a moment to say 250: a kill in that moment leaves a
    message delivered but not recorded as sent (in flight)."""

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        self.keep(envelope, session)
        await asyncio.sleep(0.01)
        return "250 2.0.0 OK"


def crash_territory(root: Path) -> set[str]:
    rows = [PARTNERS_HEADER.strip()]
    for i in range(PEOPLE):
        rows.append(f"p{i:02d}@structure{i % 5}.example.org;Prénom{i};Nom{i};S;;copil|"
                    "gt-logement;2026-01-10;")
    write(root, "content/partners.csv", "\n".join(rows) + "\n")
    write(root, "calendars/events/2027-03-copil.md", copil(extra=EXTRA))
    write(root, "calendars/events/2027-05-copil.md",
          copil("2027-05-20 14:00", "2027-05-20 16:00"))
    return {f"p{i:02d}@structure{i % 5}.example.org" for i in range(PEOPLE)} | {EXTRA}


def test_kill_nine_mid_run_then_resume(root: Path):
    expected = crash_territory(root)
    rng = random.Random(SEED)
    command = [sys.executable, "-m", "comms", "invite", "--confirm", "--root", str(root),
               "--today", TODAY]
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    with start(SlowToAnswer()) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        handler = server.handler
        hit = 0
        for round_number in range(KILLS):
            if round_number == KILLS // 2:  # a significant change between two kills
                write(root, "calendars/events/2027-05-copil.md",
                      copil("2027-05-20 15:00", "2027-05-20 17:00"))
            before = len(handler.messages)
            handler.tag = round_number
            process = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            wanted = before + rng.randint(5, 30)
            while len(handler.messages) < wanted and process.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.0005)
            if rng.random() < 0.5:  # else at once: the last message is then in flight
                time.sleep(rng.random() * 0.02)
            process.send_signal(signal.SIGKILL)
            process.wait()
            hit += len(handler.messages) > before
        handler.tag = "resume"
        final = subprocess.run(command, env=child_env, capture_output=True, text=True,
                               timeout=60)
        assert final.returncode == 0, final.stdout + final.stderr
        again = subprocess.run(command, env=child_env, capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0 and "Rien à envoyer" in again.stdout
    assert hit >= KILLS // 2, "the drill must hit sends in progress"

    in_flight = {}  # the last message each killed process got accepted
    for m in handler.messages:
        if isinstance(m.tag, int):
            in_flight[m.tag] = m
    copies: dict[tuple[str, str, int], list] = {}
    latest: dict[tuple[str, str], tuple[int, datetime]] = {}
    for m in handler.messages:
        who, method, seq, uid = summary_of(m.message)
        assert method == "REQUEST"
        copies.setdefault((who, uid, seq), []).append(m)
        start_at = vevent(m.message)["DTSTART"].dt
        if seq >= latest.get((who, uid), (-1, None))[0]:
            latest[(who, uid)] = (seq, start_at)
    for (who, uid, seq), received in copies.items():
        if len(received) > 1:  # only a message in flight at a kill comes twice, unchanged
            assert len({r.message_id for r in received}) == 1, (who, uid, seq)
            assert any(in_flight.get(r.tag) is r for r in received[:-1]), (who, uid, seq)
    may = "2027-05-copil@sante.example.org"
    march = "2027-03-copil@sante.example.org"
    assert {who for who, uid in latest if uid == march} == expected
    assert {who for who, uid in latest if uid == may} == expected
    assert {v for (_who, uid), v in latest.items() if uid == march} == {
        (0, datetime(2027, 3, 18, 14, 0, tzinfo=PARIS))}
    # Everyone ends with the changed version, under one SEQUENCE: 1 when the first version
    # had started to go out before the change.
    final = {v for (_who, uid), v in latest.items() if uid == may}
    assert len(final) == 1
    (sequence, start_at), = final
    assert start_at == datetime(2027, 5, 20, 15, 0, tzinfo=PARIS)
    sent_before_change = any(summary_of(m.message)[3] == may for m in handler.messages
                             if isinstance(m.tag, int) and m.tag < KILLS // 2)
    assert sequence in (0, 1) and (sequence == 1 or not sent_before_change)
