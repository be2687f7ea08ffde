"""What `check`, the dry runs and the real sends establish about DKIM before a message goes.

The same answers everywhere: the signer is built from the settings (key read and checked),
every From address a command will use is checked against DKIM_DOMAIN before anything is
journalled or sent, and a warning is given when one-click unsubscribe is announced
(comms.yaml `unsubscribe.one_click`, hence a List-Unsubscribe-Post field) on messages that
nobody will sign: Gmail and Yahoo honour it only under a DKIM signature (RFC 8058 §4).
"""

from __future__ import annotations

from collections.abc import Iterable

from comms.errors import WARNING, Problem
from comms.send.signing import GUIDE, Signer
from comms.settings import Settings

NBSP = "\u00a0"


def prepare_signer(settings: Settings, sends_raw: bool,
                   senders: Iterable[str]) -> Signer | None:
    """The signer for a transport that hands over raw bytes (`sends_raw`), or None (DKIM
    not configured, or an HTTP API that builds the message itself). ConfigError (French,
    naming the DKIM_ setting) for a wrong setting or key, or when one of the `senders`
    (From addresses) is not aligned with DKIM_DOMAIN (RFC 7489 §3.1.1, relaxed)."""
    if not sends_raw:
        return None
    signer = Signer.from_settings(settings)
    if signer is not None:
        # An empty address is a sender.email or organizer that could not be read: that
        # field's own error says so, DKIM_DOMAIN is not to blame.
        for address in dict.fromkeys(a for a in senders if a):
            signer.check_aligned(address, settings)
    return signer


def signing_line(signer: Signer) -> str:
    """« Signature DKIM : domaine sante.example.org, sélecteur lettre2027. »"""
    return (f"Signature DKIM{NBSP}: domaine {signer.domain}, sélecteur "
            f"{signer.selector}.")


def unsigned_one_click(settings: Settings, one_click: bool, sends_raw: bool,
                       signer: Signer | None) -> Problem | None:
    """The warning when the messages announce one-click unsubscribe (`one_click`: comms.yaml
    `unsubscribe.one_click`) and go unsigned through a transport that sends raw bytes;
    None otherwise (no announcement, a signer, or a provider that signs itself)."""
    if not one_click or not sends_raw or signer is not None:
        return None
    return Problem(
        settings.env_file, None, "DKIM_DOMAIN",
        "signature DKIM désactivée, alors que les messages annoncent la désinscription en "
        f"un clic («{NBSP}one_click: true{NBSP}» sous unsubscribe dans comms.yaml){NBSP}; "
        "Gmail et Yahoo ne l’honorent que sous une signature DKIM",
        "remplissez DKIM_DOMAIN, DKIM_SELECTOR et DKIM_PRIVATE_KEY_FILE dans "
        f"{settings.env_file.name} ({GUIDE}), ou écrivez «{NBSP}one_click: false{NBSP}» dans "
        "comms.yaml si l’adresse de désinscription ne reçoit pas ces requêtes",
        level=WARNING)


def one_click_line(problem: Problem) -> str:
    """The warning as a dry run prints it."""
    return f"Attention{NBSP}: {problem.message}. {problem.hint[0].upper()}{problem.hint[1:]}."
