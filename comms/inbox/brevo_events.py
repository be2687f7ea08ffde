"""Hard bounces and unsubscribes that Brevo saw, pulled into our suppression list.

With the Brevo transport, a dead address bounces at Brevo and never reaches our mailbox:
`GET /v3/smtp/statistics/events?event=hardBounces|unsubscribed` (Brevo's transactional
activity, unaggregated; at most 90 days back, paged with `limit` and `offset`) lists them,
each with the address, the UTC date and our Message-ID. Each one is recorded once (bounces
keyed by Brevo event, suppressions by address), matched to our campaign by its Message-ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from comms.errors import CommsError, ConfigError, Problem
from comms.inbox.process import record_bounce
from comms.send.journal import BOUNCE, UNSUBSCRIBE, Journal
from comms.settings import Settings

ENDPOINT = "/smtp/statistics/events"
PAGE = 500  # events per request (Brevo allows up to 2500)
DAYS = 30  # how far back each pull looks (Brevo keeps 90 days)
HARD, UNSUBSCRIBED = "hardBounces", "unsubscribed"
SOURCE = "brevo"


@dataclass
class BrevoPull:
    hard_bounces: list[str] = field(default_factory=list)  # newly suppressed
    unsubscribed: list[str] = field(default_factory=list)  # newly suppressed
    events: int = 0  # events read


def _get(session: requests.Session, url: str, params: dict, settings: Settings) -> list[dict]:
    try:
        response = session.get(url, params=params, timeout=settings.brevo_timeout)
    except requests.RequestException as exc:
        raise CommsError(f"Brevo injoignable ({type(exc).__name__})\u00a0: les rebonds et "
                         "désinscriptions de Brevo seront relus au prochain passage.") from None
    if response.status_code in (401, 403):
        raise ConfigError("Clé API Brevo refusée.", [Problem(
            settings.env_file, None, "BREVO_API_KEY",
            f"Brevo a répondu {response.status_code}",
            "vérifiez la clé (API v3) et que l’adresse IP de cette machine est autorisée "
            "dans votre compte Brevo")])
    if response.status_code != 200:
        raise CommsError(f"Brevo a répondu {response.status_code} à la lecture des "
                         "évènements\u00a0: réessayez plus tard.")
    try:
        events = response.json().get("events") or []
    except (ValueError, AttributeError):
        raise CommsError("Réponse de Brevo illisible (évènements).") from None
    return [e for e in events if isinstance(e, dict)]


def pull_brevo_events(settings: Settings, journal: Journal, *, days: int = DAYS,
                      dry_run: bool = False) -> BrevoPull:
    """Read Brevo's hard bounces and unsubscribes of the last `days` days (UTC) and
    suppress those addresses. Raises ConfigError for a refused key, CommsError when Brevo
    cannot be read (nothing half-recorded: each event is recorded on its own)."""
    if not settings.brevo_api_key:
        raise settings.missing("BREVO_API_KEY")
    url = settings.brevo_api_url.rstrip("/") + ENDPOINT
    result = BrevoPull()
    with requests.Session() as session:
        session.headers.update({"api-key": settings.brevo_api_key,
                                "accept": "application/json"})
        for kind in (HARD, UNSUBSCRIBED):
            offset = 0
            while True:
                events = _get(session, url, {"event": kind, "days": days, "limit": PAGE,
                                             "offset": offset, "sort": "asc"}, settings)
                for event in events:
                    result.events += 1
                    if not dry_run:
                        _record(journal, kind, event, result)
                if len(events) < PAGE:
                    break
                offset += PAGE
    return result


def _record(journal: Journal, kind: str, event: dict, result: BrevoPull) -> None:
    email = str(event.get("email", "")).strip().lower()
    if "@" not in email:
        return
    message_id = str(event.get("messageId", "")).strip()
    when = str(event.get("date", "")).strip()
    reason = str(event.get("reason", "")).strip()
    if kind == HARD:
        row = journal.db.execute("SELECT campaign FROM messages WHERE message_id = ?",
                                 (message_id,)).fetchone() if message_id else None
        campaign = row["campaign"] if row is not None else ""
        record_bounce(journal, email, "hard", campaign,
                      f"brevo:{kind}:{message_id or email}:{when}", SOURCE, reason)
        if journal.suppress(email, BOUNCE, SOURCE, reason or "échec définitif (Brevo)"):
            result.hard_bounces.append(email)
    elif journal.suppress(email, UNSUBSCRIBE, SOURCE, "désinscription via Brevo"):
        result.unsubscribed.append(email)
