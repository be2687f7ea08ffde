"""`brevo`: Brevo's transactional email API (v3, POST /smtp/email).

Each request carries an idempotency key derived from the campaign and the recipient (the
Message-ID), so a request repeated after a lost response is not sent twice by Brevo. The
base URL comes from BREVO_API_URL, which tests point at a local server.
"""

from __future__ import annotations

import base64
import html
import re
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
        name = Header(name, "utf-8").encode(linesep=" ")  # one line, however long
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


def _message_id(response: requests.Response) -> str:
    """The `messageId` of Brevo's 201 answer (https://developers.brevo.com/reference/
    sendtransacemail), or "" when the body is not that JSON."""
    if "json" not in response.headers.get("Content-Type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    value = body.get("messageId")
    if not value and isinstance(body.get("messageIds"), list) and body["messageIds"]:
        value = body["messageIds"][0]
    return value if isinstance(value, str) else ""


def summarise(response: requests.Response) -> str:
    """A French one-line account of an unexpected HTTP answer: status, where a redirect
    leads, what kind of page came back (its HTML title) or the start of its text."""
    parts = [f"réponse {response.status_code} {response.reason or ''}".strip()]
    if response.is_redirect or 300 <= response.status_code < 400:
        parts.append(f"redirection vers {response.headers.get('Location') or '(adresse absente)'}"
                     " (non suivie)")
        return ", ".join(parts)
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "sans type"
    declared = "charset" in response.headers.get("Content-Type", "").lower()
    body = response.content[:4000].decode(
        (response.encoding if declared else None) or "utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S)
    if title:
        shown = " ".join(html.unescape(title.group(1)).split())[:120]
        parts.append(f"page {kind} intitulée «\u00a0{shown}\u00a0»")
    elif body.strip():
        parts.append(f"contenu {kind}\u00a0: «\u00a0{' '.join(body.split())[:120]}\u00a0»")
    else:
        parts.append(f"contenu {kind} vide")
    if response.status_code == 201:
        parts.append("sans l’identifiant messageId attendu")
    return ", ".join(parts)


class BrevoTransport(Transport):
    name = "brevo"
    sends_raw = False

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
        """POST one message. Only Brevo's documented success, 201 with a JSON `messageId`,
        counts as sent; a redirect is not followed. Raises TransientError (429, 5xx, no
        answer), PermanentError (4xx: this message refused), ConfigError (refused key,
        wrong URL: a redirect, a 2xx that is not Brevo's answer)."""
        self.open()
        assert self._session is not None
        try:
            response = self._session.post(self.url, json=self.payload(message),
                                          timeout=self.settings.brevo_timeout,
                                          allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise self._wrong_url(f"adresse inutilisable ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise TransientError(f"Brevo injoignable ({type(exc).__name__})") from None
        status = response.status_code
        if status == 201:
            provider_id = _message_id(response)
            if provider_id:
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
        if status < 400:  # 2xx or 3xx that is not Brevo's answer: the URL leads elsewhere
            raise self._wrong_url(summarise(response))
        raise PermanentError(f"Brevo a refusé le message\u00a0: {_error_text(response)}")

    def _wrong_url(self, what: str) -> ConfigError:
        return ConfigError(
            f"Le service à l’adresse {self.url} ne répond pas comme l’API de Brevo\u00a0: "
            f"{what}. Aucun message n’a été compté comme envoyé.",
            [Problem(self.settings.env_file, None, "BREVO_API_URL",
                     "l’adresse de l’API ne mène pas à Brevo (portail d’accès du réseau, "
                     "proxy, adresse mal recopiée)",
                     "retirez BREVO_API_URL de .env pour utiliser l’adresse officielle "
                     "(https://api.brevo.com/v3), ou vérifiez l’accès à Internet de cette "
                     "machine")])

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
