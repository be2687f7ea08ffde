"""`outbox`: every message lands in a local Maildir (ROOT/var/outbox), nothing leaves the
machine. The default transport: a whole send can be tried and inspected without a server
(any mail client opens a Maildir; each file is one .eml)."""

from __future__ import annotations

import mailbox
from pathlib import Path

from comms.errors import ConfigError
from comms.send.message import OutgoingMessage
from comms.send.transports.base import SendResult, Transport

OUTBOX_DIR = Path("var/outbox")


class OutboxTransport(Transport):
    name = "outbox"
    rate_limited = False
    delivers = False

    def __init__(self, path: Path):
        self.path = path
        self._box: mailbox.Maildir | None = None

    def open(self) -> None:
        """The Maildir, with its tmp/, new/ and cur/ folders put back if one is missing;
        ConfigError if one of them is in the way as a file."""
        for sub in ("tmp", "new", "cur"):
            folder = self.path / sub
            if folder.exists() and not folder.is_dir():
                raise ConfigError(
                    f"La boîte d’envoi locale {self.path} est abîmée\u00a0: {folder} est un "
                    "fichier, pas un dossier. Déplacez ce fichier ailleurs, puis relancez la "
                    "commande (comms recrée le dossier).")
            folder.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.path, create=False)

    def send(self, message: OutgoingMessage) -> SendResult:
        if self._box is None:
            self.open()
        assert self._box is not None
        # Delivered-To records the envelope recipient, as a real mailbox would.
        data = b"Delivered-To: " + message.recipient.encode("ascii") + b"\r\n" \
            + message.as_bytes()
        return SendResult(provider_id=self._box.add(data))

    def close(self) -> None:
        self._box = None
