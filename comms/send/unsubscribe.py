"""Recording an unsubscribe request, wherever it comes from.

`apply_unsubscribe` is the one way an unsubscribe link, the mailto message or
`comms unsubscribe --token` reach the suppression list: the token is read strictly (see
`comms.send.tokens`), then the address is suppressed for the token's scope.
"""

from __future__ import annotations

from comms.send.journal import UNSUBSCRIBE, Journal
from comms.send.tokens import ALL, NEWSLETTER, UnsubscribeToken, read_token

SOURCE_LINK = "lien"  # the web page or the one-click POST (RFC 8058)
SOURCE_MAILTO = "courriel"  # the message the mailto link writes
SOURCE_COMMAND = "commande"  # `comms unsubscribe`


def apply_unsubscribe(journal: Journal, secret: str, text: str, source: str,
                      detail: str = "") -> UnsubscribeToken:
    """Read the token in `text` (a bare token, a whole unsubscribe URL, a mailto URI, or the
    subject/body of the mailto message) and suppress its address for its scope. `secret`:
    `Settings.require_secret()`. `source`: where it came from, recorded as is ("lien",
    "courriel", "commande"); `detail`: what identifies the request (the mail's
    Message-ID...). Idempotent: a second request keeps the first record. Raises
    InvalidToken (French) and records nothing when the token is not ours."""
    token = read_token(secret, text)
    journal.suppress(token.email, UNSUBSCRIBE, source, detail, scope=token.scope)
    return token


def scope_label(scope: str, instance_names: dict[str, str] | None = None) -> str:
    """French words for a scope: « la lettre », « les invitations de « COPIL » », « tous
    les messages »."""
    if scope == NEWSLETTER:
        return "la lettre d’information"
    if scope == ALL:
        return "tous les messages de la coordination"
    instance = scope.partition(":")[2]
    name = (instance_names or {}).get(instance, instance)
    return f"les invitations de «\u00a0{name}\u00a0»"


def of_scope(scope: str, instance_names: dict[str, str] | None = None) -> str:
    """The scope after « de », contracted: « de la lettre d’information », « des invitations
    de « COPIL » », « de tous les messages de la coordination »."""
    label = scope_label(scope, instance_names)
    return f"des {label[4:]}" if label.startswith("les ") else f"de {label}"
