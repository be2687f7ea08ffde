"""One outgoing message, as every transport receives it.

SMTP and the outbox send `as_bytes()`; an HTTP API (Brevo) takes the structured fields. A
message factory may supply a prebuilt encoder (`raw`) so that a campaign of thousands does
not build an `EmailMessage` per recipient (see `comms.send.personalize`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from comms.model import Address
from comms.send.headers import check_line, format_address


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    sender: Address
    to: Address
    subject: str
    text: str
    html: str = ""
    reply_to: str = ""
    message_id: str = ""
    # Extra headers, plain ASCII: List-Id, List-Unsubscribe, List-Unsubscribe-Post...
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    raw: Callable[[], bytes] | None = None

    def __post_init__(self) -> None:
        format_address(self.sender.name, self.sender.email)
        format_address(self.to.name, self.to.email)
        check_line(self.subject, "l’objet du message")
        check_line(self.reply_to, "l’adresse de réponse")
        check_line(self.message_id, "le Message-ID")
        for name, value in self.headers.items():
            check_line(name, "un nom d’en-tête")
            check_line(value, f"l’en-tête {name}")

    @property
    def envelope_from(self) -> str:
        return self.sender.email

    @property
    def recipient(self) -> str:
        return self.to.email

    def as_bytes(self) -> bytes:
        """The RFC 5322 message, CRLF line endings."""
        if self.raw is not None:
            return self.raw()
        return self.as_email().as_bytes(policy=SMTP)

    def as_email(self) -> EmailMessage:
        """The generic (slower) construction, for one-off messages."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = format_address(self.sender.name, self.sender.email)
        msg["To"] = format_address(self.to.name, self.to.email)
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=True)
        if self.message_id:
            msg["Message-ID"] = self.message_id
        for name, value in self.headers.items():
            msg[name] = value
        msg.set_content(self.text, cte="quoted-printable")
        if self.html:
            msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        for item in self.attachments:
            maintype, _, rest = item.content_type.partition("/")
            subtype, *params = (p.strip() for p in rest.split(";"))
            msg.add_attachment(item.data, maintype=maintype, subtype=subtype,
                               filename=item.filename,
                               params=dict(p.split("=", 1) for p in params if "=" in p))
        return msg
