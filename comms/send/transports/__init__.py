"""Transports, one module each, all behind `comms.send.transports.base.Transport`.

`get_transport(name, settings, root)` is the only way the rest of comms obtains one; a new
transport is one module plus one line in `FACTORIES` (docs/transports.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from comms.errors import ConfigError, closest
from comms.send.transports.base import Transport
from comms.settings import Settings


def _outbox(settings: Settings, root: Path) -> Transport:
    from comms.send.transports.outbox import OUTBOX_DIR, OutboxTransport

    return OutboxTransport(root / OUTBOX_DIR)


def _smtp(settings: Settings, root: Path) -> Transport:
    from comms.send.transports.smtp import SmtpTransport

    return SmtpTransport(settings)


def _brevo(settings: Settings, root: Path) -> Transport:
    from comms.send.transports.brevo import BrevoTransport

    return BrevoTransport(settings)


# Imported lazily: `outbox` needs neither smtplib's TLS set-up nor requests.
FACTORIES: dict[str, Callable[[Settings, Path], Transport]] = {
    "outbox": _outbox,
    "smtp": _smtp,
    "brevo": _brevo,
}


# The class behind each name, imported only when asked: what a dry run needs to know of a
# transport (`delivers`, `sends_raw`) without configuring it.
CLASSES: dict[str, str] = {
    "outbox": "comms.send.transports.outbox:OutboxTransport",
    "smtp": "comms.send.transports.smtp:SmtpTransport",
    "brevo": "comms.send.transports.brevo:BrevoTransport",
}


def _known(name: str | None, settings: Settings) -> str:
    """The transport's name as FACTORIES spells it; ConfigError for an unknown one."""
    name = (name or settings.transport).strip().lower()
    if name not in FACTORIES:
        guess = closest(name, FACTORIES)
        raise ConfigError(
            f"Transport « {name} » inconnu"
            + (f"\u00a0; vouliez-vous écrire « {guess} »\u00a0?" if guess else ".")
            + " Transports possibles\u00a0: " + ", ".join(FACTORIES) + ".")
    return name


def get_transport(name: str | None, settings: Settings, root: Path) -> Transport:
    """The transport `name` (default: COMMS_TRANSPORT), configured; ConfigError if a
    setting it needs is missing."""
    return FACTORIES[_known(name, settings)](settings, root.resolve())


def transport_class(name: str | None, settings: Settings) -> type[Transport]:
    """The class of transport `name` (default: COMMS_TRANSPORT), not configured (its
    settings may still be missing); ConfigError for an unknown name."""
    module, _, attribute = CLASSES[_known(name, settings)].partition(":")
    return getattr(importlib.import_module(module), attribute)
