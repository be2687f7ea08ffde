"""iMIP messages (RFC 6047): one invitation, update or cancellation for one attendee.

The MIME tree is the one every client we target reads:

    multipart/mixed
      multipart/alternative
        text/plain                      (quoted-printable)
        text/html                       (quoted-printable, from MJML)
        text/calendar; method=REQUEST   (base64: Outlook and Gmail read this one)
      application/ics; name=invite.ics  (attachment: Apple Mail, Thunderbird, Zimbra)

Outlook looks for iMIP data only in the first child of multipart/mixed, and uses the
`method` parameter only if it equals the calendar's METHOD: both are written from the same
value here. Each calendar carries a single ATTENDEE, the recipient, so that nobody learns who
else was invited. The bodies are rendered once per version, with markers where the greeting
and the unsubscribe link of each recipient go.
"""

from __future__ import annotations

import base64
import html
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from icalendar.parser import Contentline
from markupsafe import Markup

from comms.calendar.ics import attendee_address, calendar, override, to_bytes, vevent, vevents
from comms.model import Address, Coordinator, Event, Instance, Project, Site
from comms.send.headers import (
    ONE_CLICK,
    check_line,
    date_header,
    fold,
    format_address,
    list_unsubscribe,
    unsubscribe_url,
)
from comms.send.message import Attachment, OutgoingMessage
from comms.send.personalize import (
    BODY_MARKERS,
    GREETING_MARK,
    UNSUBSCRIBE_ALL_MARK,
    UNSUBSCRIBE_MAILTO_MARK,
    UNSUBSCRIBE_MARK,
    QuotedPrintableBody,
    greeting,
    header_mailto,
)
from comms.send.tokens import ALL, make_token

REQUEST, CANCEL = "REQUEST", "CANCEL"
# What a recipient receives: a first invitation, an update of one already received, the
# cancellation of the whole event, or the withdrawal of this attendee's invitation (a CANCEL
# naming only her, without STATUS: RFC 5546 section 3.2.5).
INVITATION, UPDATE, CANCELLATION, WITHDRAWAL = "invitation", "update", "cancel", "withdrawn"
# One session of a series cancelled (a CANCEL with its RECURRENCE-ID, as Google sends) or
# moved (a REQUEST holding only that session's override): the series is not sent again.
SESSION_CANCEL, SESSION_MOVE = "session_cancel", "session_move"
SUBJECT_WORDS = {INVITATION: "Invitation", UPDATE: "Mise à jour", CANCELLATION: "Annulé",
                 WITHDRAWAL: "Invitation retirée", SESSION_CANCEL: "Séance annulée",
                 SESSION_MOVE: "Séance déplacée"}
ATTACHMENT_NAME = "invite.ics"
TEMPLATE = "invitation"
NBSP = "\u00a0"
CRLF = b"\r\n"


# --------------------------------------------------------------------------- the calendar


def organizer_of(site: Site, instance: Instance) -> Coordinator:
    """The instance's organizer as comms.yaml names it (checked by the content reader)."""
    return site.coordinator(instance.organizer) or Coordinator(site.sender.name, "",
                                                               instance.organizer)


def attendee_name(name: str, email: str) -> str:
    """CN of an ATTENDEE: the person's name, or the address when the directory has none."""
    return name.strip() or email


def invitation_ics(event: Event, site: Site, instance: Instance, *, method: str, sequence: int,
                   attendee: tuple[str, str], dtstamp: datetime | None = None,
                   withdrawal: bool = False, sessions: tuple[date, ...] = ()) -> bytes:
    """The one-event calendar sent to one attendee: METHOD, ORGANIZER, that ATTENDEE only,
    the reminder in requests and never in cancellations.

    A CANCEL of the whole event carries STATUS:CANCELLED; a `withdrawal` (one attendee taken
    off a meeting that still takes place) carries no STATUS, as RFC 5546 section 3.2.5 asks.
    With `sessions` (dates of the series), the calendar holds only those sessions'
    overrides (RECURRENCE-ID): a CANCEL cancels them, a REQUEST moves them, and the rest of
    the series stays as the attendee holds it. Otherwise the series comes with the
    overrides of its moved sessions.
    """
    name, email = attendee
    options = dict(sequence=sequence, dtstamp=(dtstamp or datetime.now(UTC)).astimezone(UTC),
                   attendees=[(attendee_name(name, email), email)],
                   organizer=organizer_of(site, instance),
                   alarm=instance.reminder if method == REQUEST else None, method=method,
                   withdrawal=withdrawal or bool(sessions))
    if sessions:
        master = vevent(event, site, **options)
        events = [override(master, event, site, day, cancelled=method == CANCEL)
                  for day in sessions]
    else:
        events = vevents(event, site, **options)
    return to_bytes(calendar(events, site, method=method))


_PLACEHOLDER = ("Zz Attendee", "zz-attendee@placeholder.invalid")
# Two DTSTAMPs no invitation holds otherwise: a calendar built with each that differs only
# where one is written into the other lets any later DTSTAMP be written in their place.
_STAMPS = (datetime(1900, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(1900, 2, 2, 2, 2, 2, tzinfo=UTC))


def _utc_text(stamp: datetime) -> bytes:
    """A UTC DATE-TIME value as RFC 5545 section 3.3.5 writes it (form #2)."""
    return stamp.strftime("%Y%m%dT%H%M%SZ").encode("ascii")


class InvitationCalendar:
    """`invitation_ics` for many attendees of one version: the calendar (VTIMEZONE, VEVENT,
    alarm) is built and serialised by icalendar once, and only each attendee's ATTENDEE
    line is serialised per message (icalendar folds each content line on its own, so the
    bytes are those `invitation_ics` writes); the DTSTAMP of each second is written into
    the calendar built with a placeholder one (a fixed-width value on a short line), or the
    calendar is built again when that substitution would not give the same bytes."""

    def __init__(self, event: Event, site: Site, instance: Instance, *, method: str,
                 sequence: int, withdrawal: bool = False, sessions: tuple[date, ...] = ()):
        self.event, self.site, self.instance = event, site, instance
        self.method, self.sequence, self.withdrawal = method, sequence, withdrawal
        self.sessions = sessions
        self._second: datetime | None = None
        self._pieces: list[bytes] = []
        self._stamped: list[bytes] | None = None  # built with _STAMPS[0], if substitutable
        self._tried = False

    def _build(self, dtstamp: datetime) -> list[bytes]:
        data = invitation_ics(self.event, self.site, self.instance, method=self.method,
                              sequence=self.sequence, attendee=_PLACEHOLDER, dtstamp=dtstamp,
                              withdrawal=self.withdrawal, sessions=self.sessions)
        # One ATTENDEE line in each VEVENT (a series and its moved sessions).
        pieces = data.split(_attendee_line(*_PLACEHOLDER))
        if len(pieces) < 2:
            raise AssertionError("the attendee line was not found in the invitation")
        return pieces

    def _split(self, dtstamp: datetime) -> None:
        if not self._tried:
            self._tried = True
            first, second = (self._build(stamp) for stamp in _STAMPS)
            old, new = (_utc_text(stamp) for stamp in _STAMPS)
            if any(old in piece for piece in first) and \
                    [piece.replace(old, new) for piece in first] == second:
                self._stamped = first
        if self._stamped is None:
            self._pieces = self._build(dtstamp)
            return
        old, new = _utc_text(_STAMPS[0]), _utc_text(dtstamp)
        self._pieces = [piece.replace(old, new) for piece in self._stamped]

    def __call__(self, attendee: tuple[str, str], dtstamp: datetime | None = None) -> bytes:
        stamp = (dtstamp or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        if stamp != self._second:
            self._split(stamp)
            self._second = stamp
        return _attendee_line(*attendee).join(self._pieces)


def _attendee_line(name: str, email: str) -> bytes:
    """The ATTENDEE content line (folded, CRLF-ended) that `vevent` writes for one attendee:
    icalendar's own content line (parameters sorted, RFC 6868 escapes, folding)."""
    address = attendee_address(attendee_name(name, email), email)
    return Contentline.from_parts("ATTENDEE", address.params, address).to_ical() + CRLF


# --------------------------------------------------------------------------- wording


def typo(text: str) -> str:
    from comms.render.markdown import french_spacing

    return french_spacing(text)


def subject_date(event: Event, site: Site) -> str:
    """« jeudi 18 mars 2027 », « du lundi 4 au dimanche 17 octobre 2027 », or « à partir du
    jeudi 4 février 2027 » for a series."""
    from comms import dates

    if event.repeat is not None:
        return f"à partir du {dates.format_day(event.first_day)}"
    if event.all_day and event.last_day > event.first_day:
        return dates.format_when(event, site.timezone)
    return dates.format_day(event.first_day)


def subject(event: Event, site: Site, kind: str) -> str:
    """« Invitation : <titre> — <date> », « Mise à jour : … », « Annulé : … », « Invitation
    retirée : … »."""
    return f"{SUBJECT_WORDS[kind]}{NBSP}: {typo(event.title)} — {subject_date(event, site)}"


# --------------------------------------------------------------------------- what changed


def _when_of(fields: dict[str, Any]) -> tuple[date | datetime, date | datetime, bool]:
    """(start, end, all_day) of a revision's significant fields."""
    parse = date.fromisoformat if fields.get("all_day") else datetime.fromisoformat
    return parse(fields["start"]), parse(fields["end"]), bool(fields.get("all_day"))


_VOWELS = "aeiouyàâäéèêëîïôöùûü"


def _instead_of(old: str) -> str:
    """« (au lieu de jeudi …) », elided before a vowel: « (au lieu d’Agence …) »."""
    article = "d’" if old[:1].lower() in _VOWELS else "de "
    return f" (au lieu {article}{old})"


def describe_changes(previous: dict[str, Any], event: Event, site: Site) -> list[str]:
    """What an update changes for someone who holds the revision whose significant fields
    are `previous` (`comms.calendar.revisions`): French lines such as « Nouvel horaire :
    jeudi 18 mars 2027 de 15 h à 17 h (au lieu de jeudi 18 mars 2027 de 14 h à 16 h 30) »,
    « Nouveau lieu : … (au lieu de …) », « Nouveau lien de visioconférence : … »."""
    from comms import dates
    from comms.calendar.revisions import significant_fields

    now = significant_fields(event)
    lines: list[str] = []
    if (now["start"], now["end"], now["all_day"]) != (
            previous.get("start"), previous.get("end"), previous.get("all_day")):
        before = dates.format_when(_when_of(previous), site.timezone)
        after = dates.format_when(event, site.timezone)
        word = "Nouvelle date" if event.all_day else "Nouvel horaire"
        if event.repeat is not None:
            word += " (première séance)"
        lines.append(f"{word}{NBSP}: {after}{_instead_of(before)}")
    if now["rrule"] != previous.get("rrule") and event.repeat is not None:
        lines.append(f"Nouvelle répétition{NBSP}: {event.repeat.text}")
    added = sorted(set(now["except"]) - set(previous.get("except") or []))
    if added:
        days = ", ".join(dates.format_day(date.fromisoformat(d)) for d in added)
        label = "Séance annulée" if len(added) == 1 else "Séances annulées"
        lines.append(f"{label}{NBSP}: {days}")
    moved = {d: s for d, s in now.get("moved", [])}
    before_moves = {d: s for d, s in previous.get("moved", []) or []}
    for day, start in sorted(moved.items()):
        if before_moves.get(day) != start:
            new = (date.fromisoformat(start) if event.all_day
                   else datetime.fromisoformat(start))
            shown = (dates.format_day(new) if event.all_day
                     else dates.format_when((new, new + (event.end - event.start), False),
                                            site.timezone))
            lines.append(f"Séance du {dates.format_day(date.fromisoformat(day))} "
                         f"déplacée{NBSP}: {shown}")
    if now["location"] != previous.get("location"):
        old = previous.get("location") or ""
        if not event.location:
            lines.append(f"Lieu retiré (c’était {old})")
        else:
            lines.append(f"Nouveau lieu{NBSP}: {event.location}"
                         + (_instead_of(old) if old else ""))
    if now["online_url"] != previous.get("online_url"):
        lines.append(f"Nouveau lien de visioconférence{NBSP}: {event.online_url}"
                     if event.online_url else "Le lien de visioconférence est retiré")
    if now["title"] != previous.get("title"):
        lines.append(f"Nouveau titre{NBSP}: {event.title}"
                     f"{_instead_of(previous.get('title', ''))}")
    return [typo(line) for line in lines]


# --------------------------------------------------------------------------- the bodies


@dataclass(frozen=True)
class EventView:
    """What the invitation and sequence templates show of an event."""

    title: str
    when: str  # « jeudi 18 mars 2027 de 14 h à 16 h 30 »
    repeat_text: str  # « le premier jeudi de chaque mois, jusqu’au 30 juin 2027 »
    location: str
    online_url: str
    registration_url: str
    evaluation_url: str
    cancelled: bool
    body_html: Markup
    body_text: str


@dataclass(frozen=True)
class ContactView:
    name: str
    role: str
    email: str
    phone: str


@dataclass(frozen=True)
class Rendered:
    """Subject and bodies of one version, with markers for each recipient's values."""

    subject: str
    html: str
    text: str


def event_view(project: Project, event: Event) -> EventView:
    from comms import dates
    from comms.render.markdown import render_body
    from comms.render.newsletter import markdown_styles
    from comms.render.templates import theme_for

    site = project.site
    theme = theme_for(site)
    when = dates.format_when(event, site.timezone)
    repeat_text = ""
    if event.repeat is not None:
        when = f"{when} (première date)"
        repeat_text = event.repeat.text
    body = render_body(event.body_md, site.web_base_url, heading_base=3,
                       styles=markdown_styles(theme))
    return EventView(
        title=typo(event.title),
        when=when,
        repeat_text=repeat_text,
        location=typo(event.location),
        online_url=event.online_url,
        registration_url=event.registration_url,
        evaluation_url=event.evaluation_url,
        cancelled=event.cancelled,
        body_html=Markup(body.html),
        body_text=body.text,
    )


def contact_view(coordinator: Coordinator) -> ContactView:
    role = coordinator.role
    if role[1:2].islower():
        role = role[0].lower() + role[1:]
    return ContactView(coordinator.name, role, coordinator.email,
                       coordinator.phone.replace(" ", NBSP))


def context(project: Project, event: Event, instance: Instance, **extra: Any) -> dict:
    """Everything the invitation and sequence templates see."""
    from comms.render.templates import theme_for

    site = project.site
    return {
        "site": site,
        "theme": theme_for(site),
        "event": event_view(project, event),
        "instance_name": typo(instance.name),
        "organizer": contact_view(organizer_of(site, instance)),
        "greeting": GREETING_MARK,
        "unsubscribe_url": UNSUBSCRIBE_MARK,
        "unsubscribe_all_url": UNSUBSCRIBE_ALL_MARK,
        "unsubscribe_mailto": UNSUBSCRIBE_MAILTO_MARK,
        **extra,
    }


def render_bodies(project: Project, template: str, subject_line: str,
                  **ctx: Any) -> Rendered:
    """TEMPLATE.mjml.j2 -> HTML (MRML) and TEMPLATE.txt.j2 -> text, markers left in."""
    from comms.render.newsletter import mjml_to_html, tidy_text
    from comms.render.templates import render

    root = project.site.root
    ctx = {"subject": subject_line, **ctx}
    html_body = mjml_to_html(render(root, f"{template}.mjml.j2", **ctx))
    text_body = tidy_text(render(root, f"{template}.txt.j2", **ctx))
    return Rendered(subject_line, html_body, text_body)


def render_invitation(project: Project, event: Event, instance: Instance,
                      kind: str, changes: tuple[str, ...] = ()) -> Rendered:
    """The invitation, update, cancellation or withdrawal of `event`, before
    personalisation; `changes`: what an update changes (`describe_changes`)."""
    return render_bodies(project, TEMPLATE, subject(event, project.site, kind),
                         **context(project, event, instance, kind=kind, changes=changes))


# --------------------------------------------------------------------------- MIME


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class Personal:
    """One recipient's values in a message."""

    to: Address
    greeting: str
    unsubscribe_url: str  # stops `scope` (the instance's invitations)
    list_unsubscribe: str
    unsubscribe_all_url: str  # stops everything


def personal_values(site: Site, secret: str, email: str, name: str, first_name: str = "",
                    last_name: str = "", *, scope: str) -> Personal:
    """Greeting and the two signed unsubscribe links of one recipient: one for `scope`
    ("instance:<id>": also the List-Unsubscribe one-click target), one for everything."""
    token = make_token(secret, email, scope)
    url = unsubscribe_url(site.unsubscribe_url, token)
    every = unsubscribe_url(site.unsubscribe_url, make_token(secret, email, ALL))
    return Personal(Address(name, email), greeting(first_name, last_name), url,
                    list_unsubscribe(url, site.unsubscribe_mailto, token), every)


class ImipTemplate:
    """The iMIP message of one version, ready to be personalised: headers shared by every
    attendee (From, Subject, the MIME skeleton) are encoded and checked once, and the
    quoted-printable bodies between the markers of `Rendered` once (`QuotedPrintableBody`),
    so that an attendee costs her To line, her links, her calendar's base64 and a join of
    bytes, not a whole MIME tree."""

    def __init__(self, *, sender: Address, rendered: Rendered, method: str, site: Site):
        self.sender, self.rendered, self.method = sender, rendered, method
        self.zone = site.timezone
        # RFC 8058: the one-click header only when the unsubscribe URL answers its POST.
        self.one_click = site.unsubscribe_one_click
        self._text = QuotedPrintableBody(rendered.text, BODY_MARKERS)
        self._html = QuotedPrintableBody(rendered.html, BODY_MARKERS)
        mixed = f"=_mixed_{secrets.token_hex(10)}".encode()
        alternative = f"=_alt_{secrets.token_hex(10)}".encode()
        self._from = b"From: " + format_address(sender.name, sender.email).encode("ascii") \
            + CRLF
        self._subject = fold("Subject", rendered.subject)  # checked there
        self._tail = b"".join([  # after the personal header lines
            b"List-Unsubscribe-Post: " + ONE_CLICK.encode("ascii") + CRLF
            if self.one_click else b"",
            b"Content-Class: urn:content-classes:calendarmessage", CRLF,
            b"MIME-Version: 1.0", CRLF,
            b'Content-Type: multipart/mixed; boundary="', mixed, b'"', CRLF,
            CRLF,
        ])
        part = b'Content-Type: text/%s; charset="utf-8"\r\n' \
               b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        self._open_text = b"".join([
            b"--", mixed, CRLF,
            b'Content-Type: multipart/alternative; boundary="', alternative, b'"', CRLF, CRLF,
            b"--", alternative, CRLF, part % b"plain"])
        self._open_html = b"".join([CRLF, b"--", alternative, CRLF, part % b"html"])
        self._open_calendar = b"".join([
            CRLF, b"--", alternative, CRLF,
            b"Content-Type: text/calendar; method=", method.encode("ascii"),
            b"; charset=UTF-8", CRLF, b"Content-Transfer-Encoding: base64", CRLF, CRLF])
        self._open_attachment = b"".join([
            CRLF, b"--", alternative, b"--", CRLF, CRLF,
            b"--", mixed, CRLF,
            b'Content-Type: application/ics; name="', ATTACHMENT_NAME.encode(), b'"', CRLF,
            b'Content-Disposition: attachment; filename="', ATTACHMENT_NAME.encode(), b'"',
            CRLF, b"Content-Transfer-Encoding: base64", CRLF, CRLF])
        self._close = CRLF + b"--" + mixed + b"--" + CRLF
        self._date_second = -1
        self._date = b""

    def _date_line(self) -> bytes:
        """The Date header's value, formatted once per second (site's time zone)."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = date_header(self.zone).encode("ascii")
        return self._date

    def personalize(self, personal: Personal, ics: bytes, message_id: str) -> OutgoingMessage:
        """The whole message for one attendee, `ics` being her calendar; `raw` holds the
        exact iMIP bytes. HeaderInjectionError for a personal value holding a line
        break."""
        to_line = b"To: " + format_address(personal.to.name, personal.to.email).encode(
            "ascii") + CRLF  # checks both values
        check_line(message_id, "le Message-ID")
        check_line(personal.list_unsubscribe, "l’en-tête List-Unsubscribe")
        text_values = {GREETING_MARK: personal.greeting,
                       UNSUBSCRIBE_MARK: personal.unsubscribe_url,
                       UNSUBSCRIBE_ALL_MARK: personal.unsubscribe_all_url,
                       UNSUBSCRIBE_MAILTO_MARK: header_mailto(personal.list_unsubscribe)}
        html_values = {mark: html.escape(value, quote=True)
                       for mark, value in text_values.items()}
        calendar_b64 = _b64(ics)
        data = b"".join([
            self._from, to_line, self._subject,
            b"Date: ", self._date_line(), CRLF,
            b"Message-ID: ", message_id.encode("ascii"), CRLF,
            b"List-Unsubscribe: ",
            personal.list_unsubscribe.replace(">, <", ">,\r\n <").encode("ascii"), CRLF,
            self._tail,
            self._open_text, self._text.render(text_values),
            self._open_html, self._html.render(html_values),
            self._open_calendar, calendar_b64,
            self._open_attachment, calendar_b64,
            self._close,
        ])
        headers = {"List-Unsubscribe": personal.list_unsubscribe,
                   "Content-Class": "urn:content-classes:calendarmessage"}
        if self.one_click:
            headers["List-Unsubscribe-Post"] = ONE_CLICK
        rendered = self.rendered
        # The bodies as strings only for a transport that reads them (an HTTP API, which
        # takes fields rather than bytes: there the calendar travels as an attachment).
        return OutgoingMessage(
            sender=self.sender, to=personal.to, subject=rendered.subject,
            text=lambda: _fill(rendered.text, text_values),
            html=lambda: _fill(rendered.html, html_values),
            message_id=message_id, headers=headers,
            attachments=(Attachment(ATTACHMENT_NAME, f"text/calendar; method={self.method}",
                                    ics),),
            raw=lambda: data, checked=True)


def _fill(body: str, values: dict[str, str]) -> str:
    for mark, value in values.items():
        body = body.replace(mark, value)
    return body
