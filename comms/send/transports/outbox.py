"""`outbox`: every message lands in a local Maildir (ROOT/var/outbox), nothing leaves the
machine. The default transport: a whole send can be tried and inspected without a server
(any mail client opens a Maildir; each file is one .eml).

Deposits are made durable a batch at a time (`batch`, `flush`), the Maildir way: each file
is written in tmp/ and fsynced, then renamed into new/, and new/ itself is fsynced, before
the send loop records the batch as deposited. Files are written and fsynced by a few
threads while the loop builds the next messages, so that the file system commits their
fsyncs together (the group commit a database does) instead of one journal commit each.

A file's name is derived from the message's Message-ID and recipient, the same for a
campaign and a recipient on every run: a message deposited again after a crash (the loop
repeats the messages not yet recorded as deposited) replaces its own earlier copy instead
of adding a second one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from comms.errors import CommsError, ConfigError
from comms.send.message import OutgoingMessage
from comms.send.transports.base import SendResult, Transport

OUTBOX_DIR = Path("var/outbox")
SYNC_THREADS = 8  # concurrent writes and fsyncs: enough for the file system to group them


def file_name(message_id: str, recipient: str) -> str:
    """The Maildir file name of a message: the same for the same Message-ID and recipient
    (a repeated deposit replaces the first), a random one for a message without
    Message-ID."""
    unique = hashlib.sha256(f"{message_id}\0{recipient}".encode()).hexdigest()[:32] \
        if message_id else secrets.token_hex(16)
    return f"{unique}.comms"


def _write(path: Path, data: bytes) -> None:
    """Create or replace the file `path` holding `data`, fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


class OutboxTransport(Transport):
    name = "outbox"
    rate_limited = False
    delivers = False
    batch = 64

    def __init__(self, path: Path):
        self.path = path
        self._opened = False
        self._pending: list[tuple[str, Future[None]]] = []  # (name, its write in tmp/)
        self._pool: ThreadPoolExecutor | None = None

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
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error(exc) from None
        self._opened = True

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand the message to a thread that writes and fsyncs it in tmp/ (it is moved into
        new/ by the next `flush`); its file name is the provider id."""
        if not self._opened:
            self.open()
        # Delivered-To records the envelope recipient, as a real mailbox would.
        data = b"Delivered-To: " + message.recipient.encode("ascii") + b"\r\n" \
            + message.as_bytes()
        name = file_name(message.message_id, message.recipient)
        if any(name == pending for pending, _ in self._pending):
            self.flush()  # the same message twice: the second copy replaces the first
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SYNC_THREADS, "outbox")
        self._pending.append((name, self._pool.submit(_write, self.path / "tmp" / name,
                                                      data)))
        return SendResult(provider_id=name)

    def flush(self) -> None:
        """Wait until every file sent since the last flush is written and fsynced in tmp/,
        move them into new/, then fsync new/."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        failure: OSError | None = None
        for _, job in pending:  # every job ends before anything is moved
            try:
                job.result()
            except OSError as exc:
                failure = failure or exc
        try:
            if failure is not None:
                raise failure
            for name, _ in pending:
                os.replace(self.path / "tmp" / name, self.path / "new" / name)
            folder = os.open(self.path / "new", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        """Flush what is still pending (a single message sent outside the loop), then
        release the threads; never raises for a flush that fails (its messages stay
        unrecorded and are deposited again by the next run)."""
        try:
            self.flush()
        except CommsError:
            pass
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
            self._opened = False

    def _error(self, exc: OSError) -> CommsError:
        return CommsError(
            f"Écriture impossible dans la boîte d’envoi locale {self.path} "
            f"({exc.strerror or exc})\u00a0: libérez de la place sur le disque ou vérifiez "
            "les droits sur ce dossier, puis relancez la même commande (les messages qui "
            "n’ont pas été déposés le seront alors, une seule fois chacun).")
