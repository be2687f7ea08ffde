"""Mails shaped like those a coordinator's mailbox receives, built for the tests.

iTIP REPLYs follow RFC 5546 §4.2.2 and the iMIP carriage of RFC 6047 §4.2, in the places the
clients document putting them: Outlook's « Accepté : » mail (multipart/alternative with the
calendar as a base64 `text/calendar; method=REPLY` part), Gmail's (text, HTML and calendar in
multipart/alternative plus an `invite.ics` attachment), Zimbra's (inline calendar, `MAILTO:`
in capitals), Apple Mail's (an attached `iCal-….ics`, `text/calendar` with a name) and
Thunderbird's (inline calendar plus `application/ics` attachment). DSNs follow RFC 3464 as
Postfix, Exchange and Gmail lay them out, plus a qmail text bounce (no RFC 3464 at all).
"""

from __future__ import annotations

import base64
import quopri
import secrets
from dataclasses import dataclass

CRLF = "\r\n"
DOMAIN = "sante.example.org"


def _ics(lines: list[str]) -> str:
    return CRLF.join(lines) + CRLF


@dataclass
class Reply:
    uid: str
    attendee: str
    partstat: str = "ACCEPTED"
    sequence: int | None = 0
    name: str = ""
    organizer: str = "claire.martin@sante.example.org"
    comment: str = ""
    recurrence_id: str = ""  # e.g. "20270204T090000Z"
    dtstamp: str = "20270112T090000Z"
    method: str = "REPLY"
    delegated_to: str = ""
    delegate: str = ""  # the delegate's own ATTENDEE line, with DELEGATED-FROM
    mailto: str = "mailto:"
    dtstart: str = ""  # COUNTER: the proposed start

    def calendar(self, prodid: str) -> str:
        params = f";PARTSTAT={self.partstat}"
        if self.name:
            params = f';CN="{self.name}"' + params
        if self.delegated_to:
            params += f';DELEGATED-TO="{self.mailto}{self.delegated_to}"'
        lines = ["BEGIN:VCALENDAR", f"PRODID:{prodid}", "VERSION:2.0",
                 f"METHOD:{self.method}", "BEGIN:VEVENT",
                 f"ATTENDEE{params}:{self.mailto}{self.attendee}"]
        if self.delegate:
            lines.append(f'ATTENDEE;PARTSTAT=ACCEPTED;DELEGATED-FROM="{self.mailto}'
                         f'{self.attendee}":{self.mailto}{self.delegate}')
        lines += [f"ORGANIZER:{self.mailto}{self.organizer}", f"UID:{self.uid}"]
        if self.sequence is not None:
            lines.append(f"SEQUENCE:{self.sequence}")
        if self.recurrence_id:
            lines.append(f"RECURRENCE-ID:{self.recurrence_id}")
        if self.dtstart:
            lines += [f"DTSTART:{self.dtstart}", "DTEND:" + self.dtstart[:9] + "180000Z"]
        if self.comment:
            lines.append(f"COMMENT:{self.comment}")
        lines += [f"DTSTAMP:{self.dtstamp}", "REQUEST-STATUS:2.0;Success", "END:VEVENT",
                  "END:VCALENDAR"]
        return _ics(lines)


def _mid(tag: str) -> str:
    return f"<{tag}.{secrets.token_hex(6)}@client.example.net>"


def _b64(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)


def _qp(text: str) -> str:
    text = text.replace(CRLF, "\n")
    return quopri.encodestring(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)


def _head(sender: str, to: str, subject: str, message_id: str, extra: str = "") -> str:
    from email.header import Header

    encoded = Header(subject, "utf-8").encode()
    return (f"From: {sender}{CRLF}To: {to}{CRLF}Subject: {encoded}{CRLF}"
            f"Date: Tue, 12 Jan 2027 10:00:00 +0100{CRLF}Message-ID: {message_id}{CRLF}"
            f"{extra}MIME-Version: 1.0{CRLF}")


def outlook(reply: Reply, title: str = "Comité de pilotage") -> bytes:
    """Outlook / Exchange: « Accepté : … », calendar in multipart/alternative, base64."""
    word = {"ACCEPTED": "Accepté", "DECLINED": "Refusé", "TENTATIVE": "Provisoire"}.get(
        reply.partstat, "Réponse")
    cal = reply.calendar("Microsoft Exchange Server 2010")
    b = "_000_outlook_"
    text = reply.comment or ""
    return (_head(reply.attendee, reply.organizer, f"{word}\u00a0: {title}", _mid("outlook"),
                  "Thread-Topic: " + title.encode("ascii", "replace").decode() + CRLF
                  + "X-MS-Has-Attach:" + CRLF
                  + "Content-class: urn:content-classes:calendarmessage" + CRLF)
            + f'Content-Type: multipart/alternative; boundary="{b}"{CRLF}{CRLF}'
            + f"--{b}{CRLF}Content-Type: text/plain; charset=\"utf-8\"{CRLF}"
            + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(text)}{CRLF}"
            + f"--{b}{CRLF}Content-Type: text/calendar; charset=\"utf-8\"; method=REPLY{CRLF}"
            + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(cal)}{CRLF}"
            + f"--{b}--{CRLF}").encode("utf-8")


def gmail(reply: Reply, title: str = "Comité de pilotage") -> bytes:
    """Gmail: text, HTML and calendar alternatives, plus the same calendar as invite.ics."""
    cal = reply.calendar("-//Google Inc//Google Calendar 70.9054//EN")
    mixed, alt = "000000000000mixed", "000000000000alt"
    word = {"ACCEPTED": "acceptée", "DECLINED": "refusée", "TENTATIVE": "acceptée provisoirement"}
    subject = f"Invitation {word.get(reply.partstat, 'mise à jour')}\u00a0: {title}"
    return (_head(f"{reply.name or 'Partenaire'} <{reply.attendee}>", reply.organizer,
                  subject, _mid("gmail"))
            + f'Content-Type: multipart/mixed; boundary="{mixed}"{CRLF}{CRLF}'
            + f"--{mixed}{CRLF}Content-Type: multipart/alternative; boundary=\"{alt}\"{CRLF}{CRLF}"
            + f"--{alt}{CRLF}Content-Type: text/plain; charset=\"UTF-8\"{CRLF}{CRLF}"
            + f"{reply.attendee} a répondu.{CRLF}"
            + f"--{alt}{CRLF}Content-Type: text/html; charset=\"UTF-8\"{CRLF}{CRLF}"
            + f"<p>{reply.attendee} a répondu.</p>{CRLF}"
            + f"--{alt}{CRLF}Content-Type: text/calendar; charset=\"UTF-8\"; method=REPLY{CRLF}"
            + f"Content-Transfer-Encoding: 7bit{CRLF}{CRLF}{cal}"
            + f"--{alt}--{CRLF}"
            + f"--{mixed}{CRLF}Content-Type: application/ics; name=\"invite.ics\"{CRLF}"
            + f"Content-Disposition: attachment; filename=\"invite.ics\"{CRLF}"
            + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(cal)}"
            + f"--{mixed}--{CRLF}").encode("utf-8")


def zimbra(reply: Reply, title: str = "Comité de pilotage") -> bytes:
    """Zimbra: inline calendar in multipart/alternative, `MAILTO:` in capitals."""
    reply.mailto = "MAILTO:"
    cal = reply.calendar("Zimbra-Calendar-Provider")
    b = "=_zimbra"
    return (_head(reply.attendee, reply.organizer, f"Accepter\u00a0: {title}", _mid("zimbra"))
            + f'Content-Type: multipart/alternative; boundary="{b}"{CRLF}{CRLF}'
            + f"--{b}{CRLF}Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}Oui.{CRLF}"
            + f"--{b}{CRLF}Content-Type: text/calendar; charset=utf-8; method=REPLY; "
            + f"name=meeting.ics{CRLF}Content-Transfer-Encoding: 7bit{CRLF}{CRLF}{cal}"
            + f"--{b}--{CRLF}").encode("utf-8")


def apple(reply: Reply, title: str = "Comité de pilotage") -> bytes:
    """Apple Mail / iCloud: text, then the calendar attached as iCal-….ics."""
    cal = reply.calendar("-//Apple Inc.//iPhone OS 17.4//EN")
    b = "Apple-Mail=_1"
    return (_head(reply.attendee, reply.organizer, f"Invitation\u00a0: {title}",
                  _mid("apple"))
            + f'Content-Type: multipart/mixed; boundary="{b}"{CRLF}{CRLF}'
            + f"--{b}{CRLF}Content-Type: text/plain; charset=us-ascii{CRLF}{CRLF}{CRLF}"
            + f"--{b}{CRLF}Content-Type: text/calendar; method=REPLY; "
            + f"name=\"iCal-20270112-090000.ics\"{CRLF}"
            + f"Content-Disposition: attachment; filename=\"iCal-20270112-090000.ics\"{CRLF}"
            + f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{_qp(cal)}"
            + f"--{b}--{CRLF}").encode("utf-8")


def thunderbird(reply: Reply, title: str = "Comité de pilotage") -> bytes:
    """Thunderbird: text and inline calendar, plus invite.ics as application/ics."""
    cal = reply.calendar("-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN")
    mixed, alt = "------------mixed", "------------alt"
    return (_head(reply.attendee, reply.organizer, f"Accepté\u00a0: {title}",
                  _mid("thunderbird"))
            + f'Content-Type: multipart/mixed; boundary="{mixed}"{CRLF}{CRLF}'
            + f"--{mixed}{CRLF}Content-Type: multipart/alternative; boundary=\"{alt}\"{CRLF}{CRLF}"
            + f"--{alt}{CRLF}Content-Type: text/plain; charset=UTF-8{CRLF}{CRLF}"
            + f"{reply.attendee} a accepté votre invitation.{CRLF}"
            + f"--{alt}{CRLF}Content-Type: text/calendar; charset=UTF-8; method=REPLY{CRLF}"
            + f"Content-Transfer-Encoding: 8bit{CRLF}{CRLF}{cal}"
            + f"--{alt}--{CRLF}"
            + f"--{mixed}{CRLF}Content-Type: application/ics; name=\"invite.ics\"{CRLF}"
            + f"Content-Disposition: attachment; filename=\"invite.ics\"{CRLF}"
            + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(cal)}"
            + f"--{mixed}--{CRLF}").encode("utf-8")


CLIENTS = {"outlook": outlook, "gmail": gmail, "zimbra": zimbra, "apple": apple,
           "thunderbird": thunderbird}


# --------------------------------------------------------------------------- DSNs


def _returned_headers(recipient: str, original_id: str) -> str:
    return (f"From: Claire Martin <claire.martin@{DOMAIN}>{CRLF}To: {recipient}{CRLF}"
            f"Subject: Invitation{CRLF}Message-ID: {original_id}{CRLF}"
            f"List-Unsubscribe: <https://{DOMAIN}/desinscription?t=abc>{CRLF}")


def postfix_dsn(recipient: str, original_id: str, status: str = "5.1.1",
                action: str = "failed") -> bytes:
    """Postfix: multipart/report with message/delivery-status and text/rfc822-headers."""
    b = "4ABC.1700000000/mail.sante.example.org"
    diag = "550 5.1.1 <{0}>: Recipient address rejected: User unknown" if status[0] == "5" \
        else "452 4.2.2 <{0}>: Mailbox full"
    return (f"Return-Path: <>{CRLF}"
            + _head("MAILER-DAEMON@mail.sante.example.org (Mail Delivery System)",
                    f"claire.martin@{DOMAIN}", "Undelivered Mail Returned to Sender",
                    _mid("postfix"), "Auto-Submitted: auto-replied" + CRLF)
            + f'Content-Type: multipart/report; report-type=delivery-status;{CRLF}'
            + f'\tboundary="{b}"{CRLF}{CRLF}'
            + f"--{b}{CRLF}Content-Description: Notification{CRLF}"
            + f"Content-Type: text/plain; charset=us-ascii{CRLF}{CRLF}"
            + f"This is the mail system at host mail.{DOMAIN}.{CRLF}{CRLF}"
            + f"I'm sorry to have to inform you that your message could not{CRLF}"
            + f"be delivered to one or more recipients.{CRLF}{CRLF}"
            + f"<{recipient}>: host mx.example.net said: {diag.format(recipient)}{CRLF}"
            + f"--{b}{CRLF}Content-Description: Delivery report{CRLF}"
            + f"Content-Type: message/delivery-status{CRLF}{CRLF}"
            + f"Reporting-MTA: dns; mail.{DOMAIN}{CRLF}"
            + f"X-Postfix-Queue-ID: 4ABC{CRLF}Arrival-Date: Tue, 12 Jan 2027 09:59:00 +0100"
            + f"{CRLF}{CRLF}"
            + f"Final-Recipient: rfc822; {recipient}{CRLF}"
            + f"Original-Recipient: rfc822;{recipient}{CRLF}"
            + f"Action: {action}{CRLF}Status: {status}{CRLF}"
            + f"Remote-MTA: dns; mx.example.net{CRLF}"
            + f"Diagnostic-Code: smtp; {diag.format(recipient)}{CRLF}{CRLF}"
            + f"--{b}{CRLF}Content-Description: Undelivered Message Headers{CRLF}"
            + f"Content-Type: text/rfc822-headers{CRLF}{CRLF}"
            + _returned_headers(recipient, original_id)
            + f"--{b}--{CRLF}").encode("utf-8")


def exchange_ndr(recipient: str, original_id: str) -> bytes:
    """Exchange Online: « Non remis », message/delivery-status, original as message/rfc822."""
    b = "_exchange_ndr_"
    return (_head("postmaster@outlook.example.net", f"claire.martin@{DOMAIN}",
                  "Non remis\u00a0: Invitation", _mid("exchange"))
            + 'Content-Type: multipart/report; report-type=delivery-status; '
            + f'boundary="{b}"{CRLF}{CRLF}'
            + f"--{b}{CRLF}Content-Type: text/plain; charset=\"utf-8\"{CRLF}{CRLF}"
            + f"Votre message n'a pas pu être remis à {recipient}.{CRLF}"
            + f"--{b}{CRLF}Content-Type: message/delivery-status{CRLF}{CRLF}"
            + f"Reporting-MTA: dns;AM0PR01MB0001.eurprd01.prod.outlook.example.net{CRLF}"
            + f"Received-From-MTA: dns;mail.{DOMAIN}{CRLF}{CRLF}"
            + f"Final-recipient: RFC822; {recipient}{CRLF}Action: failed{CRLF}"
            + f"Status: 5.1.10{CRLF}"
            + "Diagnostic-code: smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
            + f"Recipient not found by SMTP address lookup{CRLF}{CRLF}"
            + f"--{b}{CRLF}Content-Type: message/rfc822{CRLF}{CRLF}"
            + _returned_headers(recipient, original_id) + f"{CRLF}Bonjour.{CRLF}"
            + f"--{b}--{CRLF}").encode("utf-8")


def gmail_delayed(recipient: str, original_id: str) -> bytes:
    """Gmail's « Delivery Status Notification (Delay) »: a temporary failure."""
    return postfix_dsn(recipient, original_id, status="4.2.2", action="delayed").replace(
        b"MAILER-DAEMON@mail.sante.example.org (Mail Delivery System)",
        b"Mail Delivery Subsystem <mailer-daemon@googlemail.com>").replace(
        b"Undelivered Mail Returned to Sender", b"Delivery Status Notification (Delay)")


def qmail_bounce(recipient: str) -> bytes:
    """A qmail bounce: plain text, no RFC 3464 report."""
    return (_head("MAILER-DAEMON@old.example.net", f"claire.martin@{DOMAIN}",
                  "failure notice", _mid("qmail"))
            + f"Content-Type: text/plain{CRLF}{CRLF}"
            + f"Hi. This is the qmail-send program at old.example.net.{CRLF}"
            + "I'm afraid I wasn't able to deliver your message to the following addresses."
            + f"{CRLF}This is a permanent error; I've given up. Sorry it didn't work out.{CRLF}"
            + f"{CRLF}<{recipient}>:{CRLF}Sorry, no mailbox here by that name. (#5.1.1){CRLF}"
            + f"{CRLF}--- Below this line is a copy of the message.{CRLF}{CRLF}"
            + _returned_headers(recipient, "<x@y>")).encode("utf-8")


# --------------------------------------------------------------------------- others


def out_of_office(sender: str) -> bytes:
    """Exchange's out-of-office answer (RFC 3834 Auto-Submitted plus Exchange headers)."""
    return (_head(sender, f"claire.martin@{DOMAIN}",
                  "Réponse automatique\u00a0: Invitation\u00a0: Comité de pilotage",
                  _mid("oof"), f"Auto-Submitted: auto-replied{CRLF}"
                  f"X-MS-Exchange-Inbox-Rules-Loop: {sender}{CRLF}"
                  f"X-Auto-Response-Suppress: All{CRLF}")
            + f"Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}"
            + f"Je suis absente jusqu'au 25 janvier. Final-Recipient: {sender}{CRLF}"
            ).encode("utf-8")


def absence(sender: str) -> bytes:
    """A webmail's vacation message with only an « Absence » subject and X-Autoreply."""
    return (_head(sender, f"claire.martin@{DOMAIN}", "Absence du 12 au 20 janvier",
                  _mid("vacation"), f"X-Autoreply: yes{CRLF}")
            + f"Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}En congés.{CRLF}"
            ).encode("utf-8")


def unsubscribe_mail(sender: str, token: str, in_body: bool = False) -> bytes:
    """What a client sends for `mailto:desinscription@…?subject=desinscription%20TOKEN`."""
    subject = "Unsubscribe" if in_body else f"desinscription {token}"
    body = f"desinscription {token}" if in_body else ""
    return (_head(sender, f"desinscription@{DOMAIN}", subject, _mid("unsub"))
            + f"Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}{body}{CRLF}"
            ).encode("utf-8")


def unrelated(sender: str) -> bytes:
    return (_head(sender, f"claire.martin@{DOMAIN}", "Question sur l’ordre du jour",
                  _mid("question"))
            + f"Content-Type: text/plain; charset=utf-8{CRLF}{CRLF}"
            + f"Bonjour, pourrait-on ajouter un point sur le logement ?{CRLF}").encode("utf-8")
