"""One outgoing message, as every transport receives it.

SMTP sends `smtp_data()` and the outbox `as_bytes()`; an HTTP API (Brevo) takes the
structured fields. A message factory may supply prebuilt encoders (`raw`, `stuffed`) so that
a campaign of thousands does not build an `EmailMessage` per recipient, nor dot-stuff the
whole message per recipient (see `comms.send.personalize`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from comms.model import Address
from comms.send.headers import check_line, format_address


class _Prefolded(str):
    """A header value we folded ourselves (a very long display name as RFC 2047 encoded
    words): the email policy keeps an object with `name` and `fold` as it is."""

    name: str
    folded: str

    def __new__(cls, name: str, folded: str) -> _Prefolded:
        value = super().__new__(cls, folded.replace("\r\n", ""))
        value.name, value.folded = name, folded
        return value

    def fold(self, *, policy: object) -> str:
        return f"{self.name}: {self.folded}\r\n"


def _address_header(name: str, address: Address) -> str:
    value = format_address(address.name, address.email)
    return _Prefolded(name, value) if "\r\n" in value else value


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


Body = str | Callable[[], str]


class OutgoingMessage:
    """One message to one recipient. Header values are checked at construction (no line
    breaks: `HeaderInjectionError`) unless the factory says it checked them already
    (`checked=True`: a campaign's constant headers are checked once, not per recipient).

    `text` and `html` may be given as functions, called only when a transport reads them
    (an HTTP API does; SMTP and the outbox read only the bytes). `raw` builds the RFC 5322
    bytes and `stuffed` the same bytes already dot-stuffed for SMTP DATA, both without an
    `EmailMessage`. `dkim_input` gives what a DKIM signature of those bytes needs: the
    header block (up to and including the empty line) and the SHA-256 of the body in relaxed
    canonicalisation (RFC 6376 §3.4.4, §3.7), computed without the whole body.
    """

    __slots__ = ("_html", "_text", "attachments", "dkim_input", "headers", "message_id",
                 "raw", "reply_to", "sender", "stuffed", "subject", "to")

    def __init__(self, sender: Address, to: Address, subject: str, text: Body,
                 html: Body = "", reply_to: str = "", message_id: str = "",
                 headers: dict[str, str] | None = None,
                 attachments: tuple[Attachment, ...] = (),
                 raw: Callable[[], bytes] | None = None,
                 stuffed: Callable[[], bytes] | None = None,
                 dkim_input: Callable[[], tuple[bytes, bytes]] | None = None, *,
                 checked: bool = False):
        self.sender = sender
        self.to = to
        self.subject = subject
        self._text = text
        self._html = html
        self.reply_to = reply_to
        self.message_id = message_id
        # Extra headers, plain ASCII: List-Id, List-Unsubscribe, List-Unsubscribe-Post...
        self.headers = headers if headers is not None else {}
        self.attachments = attachments
        self.raw = raw
        self.stuffed = stuffed
        self.dkim_input = dkim_input
        if not checked:
            self._check()

    def _check(self) -> None:
        format_address(self.sender.name, self.sender.email)
        format_address(self.to.name, self.to.email)
        check_line(self.subject, "l’objet du message")
        check_line(self.reply_to, "l’adresse de réponse")
        check_line(self.message_id, "le Message-ID")
        for name, value in self.headers.items():
            check_line(name, "un nom d’en-tête")
            check_line(value, f"l’en-tête {name}")

    @property
    def text(self) -> str:
        """The plain-text body (built at first read when given as a function)."""
        if not isinstance(self._text, str):
            self._text = self._text()
        return self._text

    @property
    def html(self) -> str:
        """The HTML body, or "" (built at first read when given as a function)."""
        if not isinstance(self._html, str):
            self._html = self._html()
        return self._html

    def __repr__(self) -> str:
        return f"OutgoingMessage(to={self.to!r}, subject={self.subject!r}, " \
               f"message_id={self.message_id!r})"

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

    def smtp_data(self) -> bytes:
        """The SMTP DATA payload (RFC 5321 §4.5.2): CRLF line ends, a dot doubled at the
        start of a line, ending with CRLF; the final `.` CRLF is the transport's."""
        if self.stuffed is not None:
            return self.stuffed()
        return dot_stuff(self.as_bytes())

    def as_email(self) -> EmailMessage:
        """The generic (slower) construction, for one-off messages."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = _address_header("From", self.sender)
        msg["To"] = _address_header("To", self.to)
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


def dot_stuff(data: bytes) -> bytes:
    """`data` with CRLF line ends, a dot doubled at the start of each line (RFC 5321
    §4.5.2, as smtplib does) and a final CRLF: byte for byte what `smtplib` would send,
    without its regular expression."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data
