"""`brevo`: Brevo's transactional email API (v3, POST /smtp/email).

Each request carries an idempotency key derived from the campaign and the recipient (the
Message-ID), so a request repeated after a lost response is not sent twice by Brevo. The
base URL comes from BREVO_API_URL, which tests point at a local server.
"""

from __future__ import annotations

import base64
import uuid
from email.header import Header
from typing import Any

import requests

from comms.errors import ConfigError, Problem
from comms.send.message import OutgoingMessage
from comms.send.transports.base import (
    PermanentError,
    SendResult,
    TransientError,
    Transport,
    parse_retry_after,
)
from comms.settings import Settings

ENDPOINT = "/smtp/email"
# Fixed namespace: the same Message-ID always gives the same idempotency key.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c3f3e-7a53-4d0c-9c55-2f0e6f3b9a41")
_SPECIALS = set('()<>[]:;@\\,."')


def idempotency_key(message_id: str) -> str:
    """A UUID, as Brevo asks, derived from the Message-ID (campaign + recipient)."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, message_id))


def _contact(name: str, email: str) -> dict[str, str]:
    # Brevo drops a display name that is both non-ASCII and holds a special character, and
    # sends non-ASCII header values as raw 8-bit: encode such names ourselves (RFC 2047).
    if name and not name.isascii() and _SPECIALS & set(name):
        name = Header(name, "utf-8").encode()
    return {"email": email, "name": name} if name else {"email": email}


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("message"):
        code = f"{body.get('code')}\u00a0: " if body.get("code") else ""
        return f"{response.status_code} {code}{body['message']}"
    return f"{response.status_code} {response.reason or ''}".strip()


class BrevoTransport(Transport):
    name = "brevo"

    def __init__(self, settings: Settings):
        if not settings.brevo_api_key:
            raise settings.missing("BREVO_API_KEY", "ajoutez « BREVO_API_KEY=… » dans "
                                   f"{settings.env_file} (clé API v3 créée dans votre compte "
                                   "Brevo, rubrique « SMTP & API »)")
        self.settings = settings
        self.url = settings.brevo_api_url.rstrip("/") + ENDPOINT
        self._session: requests.Session | None = None

    def open(self) -> None:
        if self._session is None:
            session = requests.Session()
            session.headers.update({"api-key": self.settings.brevo_api_key,
                                    "accept": "application/json"})
            self._session = session

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        for name, value in message.headers.items():
            if not value.isascii():
                raise PermanentError(f"en-tête {name} non ASCII, refusé par Brevo")
        headers = dict(message.headers)
        headers["idempotencyKey"] = idempotency_key(message.message_id or message.recipient)
        data: dict[str, Any] = {
            "sender": _contact(message.sender.name, message.sender.email),
            "to": [_contact(message.to.name, message.to.email)],
            "subject": message.subject,
            "textContent": message.text,
            "headers": headers,
        }
        if message.html:
            data["htmlContent"] = message.html
        if message.reply_to:
            data["replyTo"] = {"email": message.reply_to}
        if message.attachments:
            data["attachment"] = [
                {"name": a.filename, "content": base64.b64encode(a.data).decode("ascii")}
                for a in message.attachments]
        return data

    def send(self, message: OutgoingMessage) -> SendResult:
        self.open()
        assert self._session is not None
        try:
            response = self._session.post(self.url, json=self.payload(message),
                                          timeout=self.settings.brevo_timeout)
        except requests.RequestException as exc:
            raise TransientError(f"Brevo injoignable ({type(exc).__name__})") from None
        status = response.status_code
        if status in (200, 201, 202):
            try:
                provider_id = str(response.json().get("messageId", ""))
            except (ValueError, AttributeError):
                provider_id = ""
            return SendResult(provider_id)
        if status in (401, 403):
            raise ConfigError(
                "Clé API Brevo refusée.",
                [Problem(self.settings.env_file, None, "BREVO_API_KEY",
                         f"Brevo a répondu {_error_text(response)}",
                         "vérifiez la clé (API v3) et que l’adresse IP de cette machine est "
                         "autorisée dans votre compte Brevo")])
        if status == 429 or status >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = parse_retry_after(response.headers.get("x-sib-ratelimit-reset"))
            raise TransientError(f"Brevo\u00a0: {_error_text(response)}", retry_after=wait)
        raise PermanentError(f"Brevo a refusé le message\u00a0: {_error_text(response)}")

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
