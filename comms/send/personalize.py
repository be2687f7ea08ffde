"""Personalised copies of one rendered message, fast.

The issue is rendered once with marker strings in place of the greeting and the unsubscribe
link. Its MIME skeleton, its static headers and the quoted-printable text between markers
are encoded once; each recipient costs the encoding of two short values, four header lines
and a join of bytes, instead of a whole `EmailMessage`.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import formataddr
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from comms.errors import CommsError
from comms.model import Address
from comms.send.headers import ONE_CLICK, check_line, date_header, fold, format_address
from comms.send.message import OutgoingMessage

if TYPE_CHECKING:
    from comms.send.dkim_body import SlottedBody

GREETING_MARK = "ZZGREETINGZZ"
UNSUBSCRIBE_MARK = "https://u.example.invalid/ZZUNSUBZZ"
MARKERS = (GREETING_MARK, UNSUBSCRIBE_MARK)
# Invitations offer a second link, to stop everything and not only the instance's mailings.
UNSUBSCRIBE_ALL_MARK = "https://u.example.invalid/ZZUNSUBALLZZ"
# The footer's mailto link, with the same ?subject= (token) as List-Unsubscribe's.
UNSUBSCRIBE_MAILTO_MARK = "mailto:zzunsubmailzz@u.example.invalid"
BODY_MARKERS = (*MARKERS, UNSUBSCRIBE_ALL_MARK, UNSUBSCRIBE_MAILTO_MARK)
CRLF = b"\r\n"
SOFT = b"=\r\n"  # quoted-printable soft line break


def greeting(first_name: str, last_name: str) -> str:
    """« Bonjour Prénom Nom, », or « Bonjour, » when the directory has no name."""
    name = " ".join(p for p in (first_name.strip(), last_name.strip()) if p)
    return f"Bonjour {name}," if name else "Bonjour,"


def header_mailto(list_unsubscribe: str) -> str:
    """The mailto URI of a List-Unsubscribe value (`<https://…>, <mailto:…?subject=…>`,
    RFC 2369; already RFC 6068 encoded), or "" when it has none."""
    for item in list_unsubscribe.split(","):
        item = item.strip()
        if item.startswith("<mailto:") and item.endswith(">"):
            return item[1:-1]
    return ""


def _qp(text: str) -> bytes:
    """Quoted-printable at C speed, CRLF line ends. b2a_qp keeps the CRLF of its input but
    writes soft breaks as `=\\n` when the input has no line end at all; a bare `=` before a
    line end can only be a soft break (a literal `=` is written =3D)."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"=\n", b"=\r\n")


class QuotedPrintableBody:
    """A body cut at its markers, the text between them encoded once.

    Quoted-printable allows a soft line break (`=` CRLF) anywhere, so each piece is encoded
    on its own and pieces that do not end a line are joined by a soft break: a marker in the
    middle of a 60 KB line (MJML writes long lines) costs only the encoding of its value.
    """

    # Every piece starts a line: the body follows its part's headers, and each piece (a
    # static one or a marker's value) ends with CRLF or a soft break. So each is dot-stuffed
    # for SMTP DATA on its own (RFC 5321 §4.5.2), the static ones once.

    def __init__(self, text: str, markers: Sequence[str]):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not text.endswith("\n"):
            text += "\n"
        text = text.replace("\n", "\r\n")
        pattern = re.compile("|".join(re.escape(m) for m in markers))
        self.pieces: list[bytes | str] = []  # encoded text, or the marker to fill in
        position = 0
        for match in pattern.finditer(text):
            self._static(text[position:match.start()])
            self.pieces.append(match.group())
            position = match.end()
        self._static(text[position:])
        self.stuffed_pieces = [p if isinstance(p, str) else _stuff(p) for p in self.pieces]

    def _static(self, piece: str) -> None:
        if piece:
            self.pieces.append(_qp(piece) if piece.endswith("\r\n") else _qp(piece) + SOFT)

    def render(self, values: Mapping[str, str]) -> bytes:
        """The encoded body with each marker replaced by its value."""
        return b"".join(piece if isinstance(piece, bytes) else _qp(values[piece]) + SOFT
                        for piece in self.pieces)

    def segments(self) -> list[bytes | None]:
        """The encoded pieces in order, None in place of each marker's value."""
        return [piece if isinstance(piece, bytes) else None for piece in self.pieces]

    def values(self, values: Mapping[str, str]) -> list[bytes]:
        """The encoded value of each marker, in the order of `segments`' slots."""
        return [_qp(values[piece]) + SOFT for piece in self.pieces if isinstance(piece, str)]

    def render_stuffed(self, values: Mapping[str, str]) -> bytes:
        """`render(values)` dot-stuffed for SMTP DATA; only the values are stuffed here."""
        return b"".join(piece if isinstance(piece, bytes) else _stuff(_qp(values[piece]) + SOFT)
                        for piece in self.stuffed_pieces)


def _stuff(lines: bytes) -> bytes:
    """Dot-stuffing of CRLF-ended lines that start at the start of a line."""
    lines = lines.replace(b"\r\n.", b"\r\n..")
    return b"." + lines if lines.startswith(b".") else lines


class MessageTemplate:
    """One message (subject, HTML and text with markers) ready to be personalised."""

    def __init__(self, *, subject: str, html_body: str, text_body: str, sender: Address,
                 reply_to: str, list_id: str, zone: ZoneInfo, personal: bool = True,
                 date: datetime | None = None, one_click: bool = False):
        """`personal=False`: bodies already written for one reader (the preview), without
        the greeting and unsubscribe markers; `date` fixes the Date header. `one_click`:
        the List-Unsubscribe https URL answers the RFC 8058 one-click POST (comms.yaml
        `unsubscribe.one_click`), so the messages carry List-Unsubscribe-Post; without
        it they offer only the mailto and the page (RFC 2369)."""
        for label, body in (("HTML", html_body), ("texte", text_body)):
            for marker in MARKERS if personal else ():
                if marker not in body:
                    raise CommsError(
                        f"La version {label} de la lettre ne contient pas l’emplacement "
                        f"« {marker} »\u00a0: impossible d’y placer la salutation et le lien "
                        "de désinscription. Vérifiez les gabarits (templates/).")
        self.subject = subject
        self.html = html_body
        self.text = text_body
        self.sender = sender
        self.reply_to = reply_to
        self.list_id = list_id
        self.zone = zone
        self.one_click = one_click
        self._html_qp = QuotedPrintableBody(html_body, BODY_MARKERS)
        self._text_qp = QuotedPrintableBody(text_body, BODY_MARKERS)
        boundary = f"=_comms_{secrets.token_hex(12)}".encode()
        self._boundary = boundary
        self._static_head = self._head_for(subject)
        part = b'Content-Type: text/%s; charset="utf-8"\r\n' \
               b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        # The CRLF before a boundary belongs to the boundary: each body keeps its last line
        # end only with one more CRLF.
        self._open_text = b"--" + boundary + CRLF + part % b"plain"
        self._open_html = CRLF + b"--" + boundary + CRLF + part % b"html"
        self._close = CRLF + b"--" + boundary + b"--" + CRLF
        self._date_second = -1
        self._date = b""
        self._fixed_date = date_header(zone, date).encode("ascii") if date else b""
        self._slotted: SlottedBody | None = None

    def _slotted_body(self) -> SlottedBody:
        """The body's static segments, canonicalised once for DKIM (at the first message
        signed: a campaign sent unsigned never pays for it)."""
        # Imported here, like dkimpy itself: a build and an unsigned send never load it.
        from comms.send.dkim_body import SlottedBody

        if self._slotted is None:
            self._slotted = SlottedBody([self._open_text, *self._text_qp.segments(),
                                         self._open_html, *self._html_qp.segments(),
                                         self._close])
        return self._slotted

    def _head_for(self, subject: str) -> bytes:
        """The header lines every recipient shares, for this subject."""
        return b"".join([
            _address_line("From", self.sender),
            fold("Reply-To", self.reply_to) if self.reply_to else b"",
            fold("Subject", subject),
            fold("List-Id", self.list_id),
            b"List-Unsubscribe-Post: " + ONE_CLICK.encode() + CRLF if self.one_click else b"",
            b"MIME-Version: 1.0", CRLF,
            b'Content-Type: multipart/alternative;\r\n boundary="', self._boundary, b'"',
            CRLF, CRLF,
        ])

    def _date_line(self) -> bytes:
        if self._fixed_date:
            return self._fixed_date
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = date_header(self.zone).encode("ascii")
        return self._date

    def personalize(self, *, to: Address, greeting: str, unsubscribe_url: str,
                    list_unsubscribe: str, message_id: str,
                    subject_prefix: str = "", unsubscribe_all_url: str = "",
                    ) -> OutgoingMessage:
        """One recipient's message; its bytes are assembled only when a transport asks.
        `unsubscribe_all_url`: the link that stops everything, where the body offers one
        besides `unsubscribe_url` (default: the same link).

        A `subject_prefix` (« [TEST] », for `send --test`) changes the subject only: the
        copy is built the same way, with the same List-* headers as partners get.
        """
        every = unsubscribe_all_url or unsubscribe_url
        mailto = header_mailto(list_unsubscribe)
        text_values = {GREETING_MARK: greeting, UNSUBSCRIBE_MARK: unsubscribe_url,
                       UNSUBSCRIBE_ALL_MARK: every, UNSUBSCRIBE_MAILTO_MARK: mailto}
        html_values = {GREETING_MARK: html.escape(greeting, quote=False),
                       UNSUBSCRIBE_MARK: html.escape(unsubscribe_url),
                       UNSUBSCRIBE_ALL_MARK: html.escape(every),
                       UNSUBSCRIBE_MAILTO_MARK: html.escape(mailto)}
        headers = {"List-Id": self.list_id, "List-Unsubscribe": list_unsubscribe}
        if self.one_click:
            headers["List-Unsubscribe-Post"] = ONE_CLICK
        # The personal values are checked here (no line breaks), the constant ones were
        # when the template was made: the message need not check them all again.
        to_line = _address_line("To", to)
        check_line(message_id, "le Message-ID")
        check_line(list_unsubscribe, "l’en-tête List-Unsubscribe")
        static_head = (self._head_for(subject_prefix + self.subject) if subject_prefix
                       else self._static_head)

        built: list[bytes] = []

        def head() -> bytes:
            # Built once: the bytes sent, deposited and signed carry the same Date.
            # No header line starts with a dot: the head needs no dot-stuffing.
            if not built:
                unsubscribe = list_unsubscribe.replace(">, <", ">,\r\n <").encode("ascii")
                built.append(b"".join([
                    to_line,
                    b"Date: ", self._date_line(), CRLF,
                    b"Message-ID: ", message_id.encode("ascii"), CRLF,
                    b"List-Unsubscribe: ", unsubscribe, CRLF,
                    static_head,
                ]))
            return built[0]

        def raw() -> bytes:
            return b"".join([
                head(),
                self._open_text, self._text_qp.render(text_values),
                self._open_html, self._html_qp.render(html_values),
                self._close,
            ])

        def stuffed() -> bytes:
            return b"".join([
                head(),
                self._open_text, self._text_qp.render_stuffed(text_values),
                self._open_html, self._html_qp.render_stuffed(html_values),
                self._close,
            ])

        def dkim_input() -> tuple[bytes, bytes]:
            values = [*self._text_qp.values(text_values), *self._html_qp.values(html_values)]
            return head(), self._slotted_body().sha256(values)

        return OutgoingMessage(
            sender=self.sender, to=to, subject=subject_prefix + self.subject,
            text=lambda: _replace(self.text, text_values),
            html=lambda: _replace(self.html, html_values),
            reply_to=self.reply_to, message_id=message_id, headers=headers,
            raw=raw, stuffed=stuffed, dkim_input=dkim_input, checked=True)


def _address_line(name: str, address: Address) -> bytes:
    """`Name: "Display" <email>` CRLF, folded (RFC 5322 2.1.1) only when longer than 78."""
    formatted = format_address(address.name, address.email)  # checks both values
    line = f"{name}: {formatted}"
    if len(line) <= 78 and "\n" not in formatted:
        return line.encode("ascii") + CRLF
    if "\r\n " in formatted:  # a long name, already folded as RFC 2047 encoded words
        return line.encode("ascii") + CRLF
    return fold(name, formataddr((address.name, address.email)))


def _replace(body: str, values: Mapping[str, str]) -> str:
    for old, new in values.items():
        body = body.replace(old, new)
    return body
