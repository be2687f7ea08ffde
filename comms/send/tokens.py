"""Unsubscribe tokens: the address and an HMAC of it, so a link can be neither guessed nor
forged, and `comms unsubscribe --token` can tell whose it is without any lookup."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from comms.errors import CommsError, Problem

MAC_BYTES = 16  # 128 bits


class InvalidToken(CommsError):
    """A token that was not made with our secret (mistyped, truncated or forged)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, email: str) -> bytes:
    return hmac.new(secret.encode(), b"unsubscribe\0" + email.encode(),
                    hashlib.sha256).digest()[:MAC_BYTES]


def make_token(secret: str, email: str) -> str:
    """URL-safe token for one address (case-insensitive)."""
    key = email.strip().lower()
    return f"{_b64(key.encode())}.{_b64(_mac(secret, key))}"


def read_token(secret: str, token: str) -> str:
    """The address a token was made for; InvalidToken otherwise."""
    try:
        encoded, _, mac = token.strip().partition(".")
        email = _unb64(encoded).decode("utf-8")
        given = _unb64(mac)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        email, given = "", b""
    if not email or not hmac.compare_digest(given, _mac(secret, email)):
        raise InvalidToken("Jeton de désinscription invalide.", [Problem(
            None, None, "token", "ce jeton n’a pas été émis par cette coordination, ou il "
            "est incomplet", "copiez le lien de désinscription en entier (tout ce qui suit "
            "« t= »)")])
    return email
