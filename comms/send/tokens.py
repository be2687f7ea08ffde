"""Unsubscribe tokens: the address and the scope of an unsubscribe link, encrypted and
authenticated, so a link shows nothing of the address (in URLs, web server logs, forwarded
mails), cannot be guessed or forged, and `comms unsubscribe --token` can tell whose it is
without any lookup.

A token (format 2) is `base64url(VERSION || KEY_ID || AES-SIV(key, scope NUL email, padded))`
(RFC 5297, deterministic authenticated encryption: the same address and scope always give
the same token), VERSION and KEY_ID being authenticated as associated data. The key is
derived from the territory's secret with HKDF-SHA256 (RFC 5869); `Settings.require_secret()`
already binds that secret to the territory. KEY_ID (3 bytes, derived from the same secret
with another HKDF label) is not secret and reveals nothing of the key: it only lets a token
made under another secret (another territory, or a `var/` secret left behind when moving
one) be told apart from a damaged or forged one. Anybody can write any KEY_ID, so a token
is never accepted on its KEY_ID: only the AES-SIV tag decides.

Format 1 tokens (the same ciphertext without VERSION and KEY_ID: a multiple of 16 bytes,
while format 2 is 4 bytes more) were sent before format 2 and stay readable; for them a
token of another territory cannot be told from a forged one.

Tokens are strict: one encoding only (RFC 4648 §5 alphabet, no padding, no other last
character), nothing before or after, and a token is accepted only if making it again from
what it holds gives exactly the same text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from comms.errors import CommsError, Problem
from comms.uri import split_url

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV

NEWSLETTER = "newsletter"
ALL = "all"
INSTANCE_PREFIX = "instance:"
KEY_INFO = b"comms unsubscribe token v1"  # the AES-SIV key, for both formats
KEY_ID_INFO = b"comms unsubscribe token key id"
VERSION = 2  # first byte of a format 2 token
KEY_ID_BYTES = 3
HEADER_BYTES = 1 + KEY_ID_BYTES
PAD = 16  # plaintexts are padded to a multiple of this, so lengths tell little
MAX_TOKEN_CHARS = 1024  # far above any real token; longer text is refused unread
SUBJECT_WORD = re.compile(r"d[eé]sinscription", re.IGNORECASE)
SUBJECT_LABEL = re.compile(r"^(?:objet|subject)\s*:\s*", re.IGNORECASE)  # a pasted header line
ANGLE_BRACKETED = re.compile(r"<([^<>\s]+)>")  # RFC 2369 URIs, as in a List-Unsubscribe line
REPLY_PREFIX = re.compile(r"^(?:(?:re|tr|fwd?|réf?)\s*:\s*)+", re.IGNORECASE)
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class InvalidToken(CommsError):
    """A token that was not made with our secret (mistyped, truncated, forged, or made by
    another territory)."""


class ForeignToken(InvalidToken):
    """A well-formed token made under another secret: another territory's, or this
    territory's former one (a `var/` or `.env` secret that did not follow a move). Not a
    proof of anything (anybody can write another KEY_ID): never tell it to a web visitor."""


@dataclass(frozen=True)
class UnsubscribeToken:
    """What a valid token says: whose address (lower-case) and what to stop
    (`"newsletter"`, `"instance:<id>"` or `"all"`)."""

    email: str
    scope: str


def instance_scope(instance_id: str) -> str:
    """The scope of the invitations of one instance (a council, a working group)."""
    return f"{INSTANCE_PREFIX}{instance_id}"


def check_scope(scope: str) -> str:
    """`scope` unchanged; ValueError when it is not one of the three forms."""
    if scope in (NEWSLETTER, ALL):
        return scope
    if scope.startswith(INSTANCE_PREFIX) and INSTANCE_ID.fullmatch(
            scope[len(INSTANCE_PREFIX):]):
        return scope
    raise ValueError(f"unknown unsubscribe scope {scope!r}")


@lru_cache(maxsize=8)
def _cipher(secret: str) -> AESSIV:
    # Imported here: cryptography is loaded when a token is made or read, not by every
    # command that imports the scopes (a build without a secret makes no token).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
               info=KEY_INFO).derive(secret.encode("utf-8"))
    return AESSIV(key)


@lru_cache(maxsize=8)
def _header(secret: str) -> bytes:
    """VERSION and KEY_ID of the tokens made under `secret`."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key_id = HKDF(algorithm=hashes.SHA256(), length=KEY_ID_BYTES, salt=None,
                  info=KEY_ID_INFO).derive(secret.encode("utf-8"))
    return bytes([VERSION]) + key_id


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(secret: str, email: str, scope: str) -> str:
    """URL-safe token (about 70–110 characters of `[A-Za-z0-9_-]`) for one address
    (case-insensitive) and one scope. ValueError for an unknown scope or an empty secret."""
    if not secret:
        raise ValueError("empty secret")
    header = _header(secret)
    return _encode(header + _cipher(secret).encrypt(_plain(email, scope), [header]))


def _plain(email: str, scope: str) -> bytes:
    plain = f"{check_scope(scope)}\0{email.strip().lower()}".encode()
    return plain + b"\0" * (-len(plain) % PAD)


def _make_v1(secret: str, email: str, scope: str) -> str:
    """A format 1 token, as sent before format 2 (kept to read those strictly)."""
    return _encode(_cipher(secret).encrypt(_plain(email, scope), None))


def _invalid(detail: str) -> InvalidToken:
    return InvalidToken("Jeton de désinscription invalide.", [Problem(
        None, None, "token", detail, "copiez le lien de désinscription en entier (tout ce qui "
        "suit « t= »), ou l’objet entier du message « desinscription … » reçu\u00a0; un lien "
        "émis par une autre coordination se traite chez elle")])


def _foreign() -> ForeignToken:
    return ForeignToken("Jeton de désinscription d’un autre territoire.", [Problem(
        None, None, "token", "ce jeton a été fait avec le secret de désinscription d’un autre "
        "territoire, ou avec un autre secret que celui de ce territoire\u00a0: il ne peut pas "
        "être lu ici, et rien n’a été enregistré",
        "vérifiez que la commande vise le bon territoire (--root)\u00a0; si ce territoire a été "
        "déplacé ou réinstallé, remettez le secret d’avant (le fichier var/unsubscribe-secret "
        "ou COMMS_UNSUBSCRIBE_SECRET de .env) et le même nom (territory dans comms.yaml)\u00a0: "
        "les liens déjà envoyés en dépendent\u00a0; un lien d’une autre coordination se "
        "traite chez elle")])


def _candidate(text: str) -> str:
    """The bare token inside a token, an unsubscribe URL (`…?t=TOKEN`), a mailto URI, or the
    subject of the mailto message (`desinscription TOKEN`, possibly after « Re: »)."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://", "mailto:")):
        parts = split_url(text)
        if parts is None:
            raise _invalid("ce lien n’est pas une adresse valable")
        query = parse_qs(parts.query, keep_blank_values=True)
        if "t" in query:
            values = query["t"]
        elif "subject" in query:
            return _candidate(query["subject"][0])
        else:
            values = []
        if len(values) != 1:
            raise _invalid("ce lien ne contient pas de jeton (paramètre « t= »)")
        return values[0]
    text = SUBJECT_LABEL.sub("", text)
    words = REPLY_PREFIX.sub("", unquote(text) if "%20" in text else text).split()
    if len(words) == 2 and SUBJECT_WORD.fullmatch(words[0]):
        return words[1]
    if len(words) == 1:
        return words[0]
    raise _invalid("le texte ne ressemble ni à un jeton, ni à un lien de désinscription, ni "
                   "à l’objet « desinscription … »")


def _read_one(secret: str, text: str) -> UnsubscribeToken:
    from cryptography.exceptions import InvalidTag

    token = _candidate(text)
    if (len(token) > MAX_TOKEN_CHARS or not TOKEN_CHARS.fullmatch(token)
            or len(token) % 4 == 1):
        raise _invalid("le jeton contient des caractères qu’aucun lien de désinscription ne "
                       "contient, ou il est tronqué")
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("ce jeton est incomplet ou modifié") from None
    if len(data) % PAD == HEADER_BYTES % PAD and data[0] == VERSION:
        header, ciphertext, make = data[:HEADER_BYTES], data[HEADER_BYTES:], make_token
        if not hmac.compare_digest(header, _header(secret)):
            raise _foreign()
    elif len(data) % PAD == 0:  # format 1
        header, ciphertext, make = b"", data, _make_v1
    else:
        raise _invalid("ce jeton est incomplet ou modifié")
    try:
        plain = _cipher(secret).decrypt(ciphertext, [header] if header else None)
        scope, email = plain.rstrip(b"\0").decode("utf-8").split("\0")
        check_scope(scope)
    except (ValueError, InvalidTag, UnicodeDecodeError):
        raise _invalid("ce jeton n’a pas été émis par cette coordination, ou il est incomplet "
                       "ou modifié") from None
    # One encoding only: what we would write for this address and scope, character for
    # character (no other last base64 character, no other padding).
    if not email or not hmac.compare_digest(make(secret, email, scope), token):
        raise _invalid("ce jeton a été modifié")
    return UnsubscribeToken(email, scope)


def read_token(secret: str, text: str) -> UnsubscribeToken:
    """What a token says. `text` is a bare token, a whole unsubscribe URL, a mailto URI, or
    the subject or body of the message the mailto link writes (the first line that holds a
    valid token wins), a pasted List-Unsubscribe header line (`<https…>, <mailto:…>`), or a
    link wrapped over several lines. Raises ForeignToken (French) for a token made under another
    territory's secret, InvalidToken otherwise; never returns a partial result."""
    if len(text) > MAX_TOKEN_CHARS * 8:
        raise _invalid("le texte est bien trop long pour contenir un seul jeton")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise _invalid("aucun jeton indiqué")
    # Each line, or each <URI> of a pasted List-Unsubscribe line (RFC 2369 §2); last, the
    # lines joined, for a link a mail client wrapped.
    candidates = [piece for line in lines for piece in (ANGLE_BRACKETED.findall(line) or [line])]
    if len(lines) > 1:
        candidates.append("".join(lines))
    first: InvalidToken | None = None
    for candidate in candidates:
        try:
            return _read_one(secret, candidate)
        except InvalidToken as exc:
            # Another territory's token says more than a line that holds none.
            if first is None or (isinstance(exc, ForeignToken)
                                 and not isinstance(first, ForeignToken)):
                first = exc
    assert first is not None
    raise first
