"""What a message in the coordinator's mailbox is, in this order:

1. an iTIP answer (REPLY or COUNTER) to one of our invitations (`comms.inbox.itip`);
2. a delivery status notification: RFC 3464 `multipart/report; report-type=delivery-status`,
   or the non-standard shapes real servers still send (a mailer-daemon's text), read with
   `flufl.bounce` (GNU Mailman's detectors) into permanent and temporary failures; our
   Message-ID in the returned headers names the campaign;
3. an automatic reply (RFC 3834 `Auto-Submitted`, `X-Autoreply`, Exchange's out-of-office
   headers, « Absence » / « Réponse automatique » subjects): never an answer nor a bounce;
4. an unsubscribe request sent by the mailto link of `List-Unsubscribe`: the token is in the
   subject (« desinscription TOKEN ») or, when a client drops the subject, in the body;
5. anything else, left for the coordinator.
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from comms.inbox.itip import ItipAnswer, MalformedCalendar, read_answers

REPLY, COUNTER, BOUNCE, AUTO_REPLY, UNSUBSCRIBE, OTHER, MALFORMED = (
    "reply", "counter", "bounce", "auto_reply", "unsubscribe", "other", "malformed")

_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery (status|failure|has failed)|returned mail|failure notice|"
    r"non remis|non distribu|échec de (la )?remise|mail delivery)", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(r[ée]ponse automatique|automatic reply|auto[- ]?reply|absence|absent|"
    r"out of (the )?office|abwesenheit|autoreply|message d.absence|cong[ée]s?)\b", re.I)
# « desinscription TOKEN »: the mailto link's subject, percent-decoded by the client.
_UNSUBSCRIBE = re.compile(r"d[ée]sinscription\s+([A-Za-z0-9_\-.=]{16,})", re.I)
_MESSAGE_ID = re.compile(rb"^message-id:\s*(<[^>\s]+>)", re.I | re.M)


@dataclass
class Classified:
    kind: str
    message_id: str  # the mail's own Message-ID ("" when absent)
    sender: str  # From address, lower-case
    subject: str
    answers: list[ItipAnswer] = field(default_factory=list)
    token_text: str = ""  # UNSUBSCRIBE: what carries the token
    hard: tuple[str, ...] = ()  # BOUNCE: addresses that failed permanently
    soft: tuple[str, ...] = ()  # BOUNCE: temporary failures
    original_ids: tuple[str, ...] = ()  # BOUNCE: Message-IDs of the returned message
    problem: str = ""  # MALFORMED (and a DSN without address): what is wrong, French


def parse(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data, policy=email.policy.compat32)


def _header(message: email.message.Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        return str(value)


def is_auto_reply(message: email.message.Message) -> bool:
    """RFC 3834 and the common non-standard markers of vacation messages."""
    auto = _header(message, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if message.get(name) is not None:
            return True
    if message.get("X-MS-Exchange-Inbox-Rules-Loop") is not None and \
            _header(message, "X-Auto-Response-Suppress"):
        return True
    if _header(message, "Precedence").strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.search(_header(message, "Subject")))


def looks_like_dsn(message: email.message.Message) -> bool:
    if message.get_content_type() == "multipart/report" and \
            (message.get_param("report-type") or "").lower() == "delivery-status":
        return True
    sender = parseaddr(_header(message, "From"))[1]
    return bool(_DAEMONS.match(sender)) or (
        message.get("X-Failed-Recipients") is not None) or (
        bool(_BOUNCE_SUBJECT.search(_header(message, "Subject"))) and
        (message.get("Return-Path", "").strip() in ("<>", "")))


def _returned_ids(data: bytes, own: str) -> tuple[str, ...]:
    found = []
    for match in _MESSAGE_ID.finditer(data):
        value = match.group(1).decode("ascii", "replace")
        if value != own and value not in found:
            found.append(value)
    return tuple(found)


def _addresses(found: frozenset[bytes]) -> set[str]:
    """Addresses a detector returned, without what is no address (a bare local part)."""
    out = set()
    for raw in found:
        text = raw.decode("utf-8", "replace").strip().strip("<>").lower()
        if "@" in text and " " not in text:
            out.add(text)
    return out


def _bounce(message: email.message.Message, data: bytes, base: Classified) -> Classified:
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(message)
    hard = sorted(_addresses(permanent))
    soft = sorted(_addresses(temporary) - set(hard))
    failed = message.get_all("X-Failed-Recipients") or []
    if not hard and not soft and failed:
        hard = sorted({a.lower() for _, a in getaddresses(failed) if "@" in a})
    base.kind = BOUNCE
    base.hard, base.soft = tuple(hard), tuple(soft)
    base.original_ids = _returned_ids(data, base.message_id)
    if not hard and not soft:
        base.problem = ("avis de non-remise sans adresse reconnaissable\u00a0: à lire et à "
                        "traiter à la main")
    return base


def _text_body(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                return payload.decode(charset, "replace")
            except LookupError:
                return payload.decode("utf-8", "replace")
    return ""


def classify(data: bytes) -> Classified:
    """What the mail is; never raises for a bad mail (MALFORMED says why)."""
    message = parse(data)
    base = Classified(OTHER, _header(message, "Message-ID").strip(),
                      parseaddr(_header(message, "From"))[1].lower(),
                      _header(message, "Subject"))
    try:
        method, answers = read_answers(message)
    except MalformedCalendar as exc:
        base.kind, base.problem = MALFORMED, f"réponse d’agenda illisible\u00a0: {exc}"
        return base
    if answers:
        base.kind = REPLY if method == "REPLY" else COUNTER
        base.answers = answers
        return base
    if looks_like_dsn(message):
        return _bounce(message, data, base)
    if is_auto_reply(message):
        base.kind = AUTO_REPLY
        return base
    for text in (base.subject, _text_body(message)):
        match = _UNSUBSCRIBE.search(text)
        if match:
            base.kind, base.token_text = UNSUBSCRIBE, match.group(1)
            return base
    return base
