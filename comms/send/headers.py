"""Mail header values: refused when they could inject a header, encoded once, deterministic
Message-IDs, and the list headers of RFC 2369, 2919 and 8058."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import datetime
from email import policy
from email.header import Header
from email.utils import format_datetime, formataddr
from urllib.parse import quote
from zoneinfo import ZoneInfo

from comms.errors import CommsError, Problem
from comms.uri import to_uri

_BREAKS = re.compile(r"[\r\n\x00]")
MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD NOT be longer (CRLF excluded)
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ONE_CLICK = "List-Unsubscribe=One-Click"


class HeaderInjectionError(CommsError):
    """A value bound for a mail header holds a line break: refused, never cleaned up."""


def check_line(value: str, what: str) -> str:
    """`value` unchanged, or HeaderInjectionError when it holds CR, LF or NUL."""
    if _BREAKS.search(value):
        shown = value.replace("\r", "\\r").replace("\n", "\\n")[:120]
        raise HeaderInjectionError(
            f"Envoi refusé\u00a0: {what} contient un retour à la ligne.",
            [Problem(None, None, what, f"valeur refusée\u00a0: « {shown} »",
                     "écrivez la valeur sur une seule ligne (un retour à la ligne dans un "
                     "en-tête de message permettrait d’en ajouter d’autres)")],
        )
    return value


def format_address(name: str, email: str) -> str:
    """`Name <email>` as the value of a To/From header: the name quoted as RFC 5322 asks,
    RFC 2047-encoded when not plain ASCII (encoded words of at most 75 characters), and the
    whole folded (CRLF + space) so that no line passes 78 characters, however long the
    name."""
    check_line(name, "le nom du destinataire ou de l’expéditeur")
    check_line(email, "l’adresse électronique")
    short = formataddr((name, email), charset="utf-8")
    if len(short) <= MAX_LINE - len("From: ") and "=?" not in name:
        return short
    # Encoded words can be cut anywhere, unlike a long word of plain text.
    encoded = Header(name, "utf-8", maxlinelen=MAX_LINE, header_name="From")
    return encoded.encode(linesep="\r\n") + f"\r\n <{email}>"


def fold(name: str, value: str) -> bytes:
    """A whole header line (CRLF-terminated, folded, non-ASCII encoded) for a text value."""
    check_line(value, f"l’en-tête {name}")
    header = policy.SMTP.header_factory(name, value)
    return header.fold(policy=policy.SMTP).encode("ascii")


def message_id(campaign: str, recipient_key: str, secret: str, domain: str) -> str:
    """The same Message-ID for a campaign and a recipient, every time, without showing the
    address (HMAC with the unsubscribe secret)."""
    if not CAMPAIGN_ID.match(campaign):
        raise ValueError(f"campaign id {campaign!r} is not a valid Message-ID part")
    digest = hmac.new(secret.encode(), f"mid\0{campaign}\0{recipient_key}".encode(),
                      hashlib.sha256).hexdigest()[:24]
    return f"<{campaign}.{digest}@{domain}>"


def ascii_phrase(text: str) -> str:
    """Plain-ASCII version of a title, for List-Id (some providers mangle encoded words)."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    plain = plain.encode("ascii", "ignore").decode()
    return re.sub(r'[\\"]', "", plain).strip()


def list_id(title: str, list_name: str, domain: str) -> str:
    check_line(title, "le titre de la liste")
    return f'"{ascii_phrase(title)}" <{list_name}.{domain}>'


def list_unsubscribe(url: str, mailto: str, token: str) -> str:
    """`<https://…>, <mailto:…?subject=…>`: the https link first, for one-click (RFC 8058).

    Both items are URIs (RFC 2369 section 2), whatever the configuration holds: IRIs are
    converted (`comms.uri.to_uri`), so that the header is plain ASCII and never needs an
    RFC 2047 encoded-word, which RFC 2047 section 5 forbids there.
    """
    check_line(url, "le lien de désinscription")
    check_line(mailto, "l’adresse de désinscription")
    subject = quote(f"desinscription {token}")
    return f"<{to_uri(url)}>, <{to_uri(f'mailto:{mailto}')}?subject={subject}>"


def unsubscribe_url(base: str, token: str) -> str:
    """The personal unsubscribe link: `base` (made a URI) with the token as `t`."""
    base = to_uri(base)
    return f"{base}{'&' if '?' in base else '?'}t={token}"


def date_header(zone: ZoneInfo, now: datetime | None = None) -> str:
    return format_datetime((now or datetime.now(zone)).astimezone(zone))
