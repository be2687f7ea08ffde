"""The send journal: SQLite at ROOT/var/comms.sqlite, with versioned schema migrations.

One row per message (campaign, recipient) moves pending -> sending -> sent | failed. A row is
marked `sending` (and committed) before the transport is called and `sent` right after it
returns, in the same transaction as the next row's `sending` (one fsync per message), so
after any interruption only a row left in `sending` may have reached its recipient without
being recorded; it is sent again with the same Message-ID. A transport that deposits on
this machine a batch at a time (the outbox) has its batch's rows marked together
(`mark_batch_sending`, `mark_batch_sent`: one fsync per batch). The suppression
list (unsubscribes, hard bounces) lives here too and outlives any re-import of the directory.

Other areas add their tables by appending a `Migration` to `MIGRATIONS` (never edit or
reorder a step that has shipped): each step runs once, inside a transaction, and is recorded
in `schema_migrations`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from comms.errors import CommsError, ConfigError
from comms.send import JOURNAL_FILE

PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
UNSUBSCRIBE, BOUNCE = "unsubscribe", "bounce"
ALL_SCOPES = "all"  # a suppression of this scope stops every mailing
# A message the `outbox` transport wrote is 'sent' with this transport: deposited in
# var/outbox, never delivered. Counts and plans of real deliveries leave it out.
OUTBOX_TRANSPORT = "outbox"
DELIVERED = "status = 'sent' AND transport != 'outbox'"  # SQL: really delivered


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration("messages, campaigns and suppressions", """
        CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,          -- 'newsletter', 'invitation', ...
            ref TEXT NOT NULL,           -- issue id, event id...
            scope TEXT NOT NULL,         -- list name (newsletter), instance id (invitation)
            year INTEGER NOT NULL,       -- the year the report counts it in
            subject TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE messages (
            campaign TEXT NOT NULL REFERENCES campaigns(id),
            recipient TEXT NOT NULL,     -- lower-case address
            message_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            permanent INTEGER NOT NULL DEFAULT 0,
            transport TEXT NOT NULL DEFAULT '',
            provider_id TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            PRIMARY KEY (campaign, recipient)
        );
        CREATE INDEX messages_by_status ON messages (campaign, status);
        CREATE TABLE suppressions (
            email TEXT PRIMARY KEY,      -- lower-case address
            reason TEXT NOT NULL CHECK (reason IN ('unsubscribe', 'bounce')),
            source TEXT NOT NULL,        -- 'lien', 'commande', 'annuaire', 'smtp', 'brevo'
            detail TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
    """),
    Migration("calendar invitations: versions and what each attendee holds", """
        CREATE TABLE invitation_versions (
            campaign TEXT PRIMARY KEY,   -- invite-<event>-s<sequence>-<method>
            event_id TEXT NOT NULL,
            uid TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('REQUEST', 'CANCEL')),
            fingerprint TEXT NOT NULL,   -- dates, recurrence, place, status, title
            created_at TEXT NOT NULL,
            UNIQUE (event_id, sequence)
        );
        CREATE TABLE invitation_state (
            event_id TEXT NOT NULL,
            email TEXT NOT NULL,         -- lower-case address
            uid TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('invited', 'cancelled')),
            campaign TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (event_id, email)
        );
    """),
    Migration("messages maybe delivered; lifted suppressions", """
        -- Set when the whole message was handed over but the final reply never came: the
        -- row stays 'failed' and is not sent again without an explicit request.
        ALTER TABLE messages ADD COLUMN maybe_delivered_at TEXT;
        CREATE TABLE suppression_lifts (
            email TEXT NOT NULL,         -- lower-case address
            reason TEXT NOT NULL,        -- the suppression lifted ('bounce', 'unsubscribe'...)
            source TEXT NOT NULL,
            detail TEXT NOT NULL,
            suppressed_at TEXT NOT NULL,
            why TEXT NOT NULL,           -- what the coordinator wrote when lifting it
            lifted_at TEXT NOT NULL
        );
    """),
    Migration("mailbox: messages handled, RSVP answers, bounces", """
        CREATE TABLE inbox_messages (
            account TEXT NOT NULL,       -- user@host of the mailbox
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id TEXT NOT NULL,    -- the mail's own Message-ID, '' when absent
            kind TEXT NOT NULL,          -- reply, counter, bounce, auto_reply, unsubscribe...
            outcome TEXT NOT NULL,       -- 'handled' (flagged or moved) or 'left' (unread)
            detail TEXT NOT NULL DEFAULT '',
            processed_at TEXT NOT NULL,
            PRIMARY KEY (account, folder, uidvalidity, uid)
        );
        CREATE INDEX inbox_by_message_id ON inbox_messages (message_id);
        CREATE TABLE rsvp_answers (
            event_id TEXT NOT NULL,
            email TEXT NOT NULL,         -- lower-case attendee address
            recurrence_id TEXT NOT NULL DEFAULT '',  -- '' = the whole event or series
            uid TEXT NOT NULL,
            partstat TEXT NOT NULL,      -- ACCEPTED, DECLINED, TENTATIVE, DELEGATED
            sequence INTEGER NOT NULL,   -- the SEQUENCE the attendee answered
            dtstamp TEXT NOT NULL,       -- when the client wrote the answer (UTC)
            comment TEXT NOT NULL DEFAULT '',
            delegated_to TEXT NOT NULL DEFAULT '',
            delegated_from TEXT NOT NULL DEFAULT '',
            message_id TEXT NOT NULL DEFAULT '',
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (event_id, email, recurrence_id)
        );
        CREATE TABLE bounces (
            email TEXT NOT NULL,         -- lower-case address that failed
            kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft')),
            campaign TEXT NOT NULL DEFAULT '',  -- matched by our Message-ID, '' if unknown
            message_id TEXT NOT NULL,    -- the notification's Message-ID (or account/uid)
            source TEXT NOT NULL,        -- 'imap', 'brevo'
            detail TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            PRIMARY KEY (email, message_id)
        );
    """),
    Migration("invitation versions: several per SEQUENCE (withdrawals keep the event's)", """
        CREATE TABLE invitation_versions_v2 (
            campaign TEXT PRIMARY KEY,   -- invite-<event>-s<sequence>-<method>[-<serial>]
            event_id TEXT NOT NULL,
            uid TEXT NOT NULL,
            sequence INTEGER NOT NULL,   -- the event's revision (calendars/revisions.json)
            method TEXT NOT NULL CHECK (method IN ('REQUEST', 'CANCEL')),
            fingerprint TEXT NOT NULL,   -- dates, recurrence, place, status, title
            created_at TEXT NOT NULL
        );
        INSERT INTO invitation_versions_v2 SELECT * FROM invitation_versions ORDER BY rowid;
        DROP TABLE invitation_versions;
        ALTER TABLE invitation_versions_v2 RENAME TO invitation_versions;
        CREATE INDEX invitation_versions_by_event ON invitation_versions (event_id, sequence);
    """),
    Migration("suppressions carry a scope: newsletter, instance:<id> or all", """
        CREATE TABLE suppressions_scoped (
            email TEXT NOT NULL,         -- lower-case address
            scope TEXT NOT NULL DEFAULT 'all',  -- 'newsletter', 'instance:<id>', 'all'
            reason TEXT NOT NULL CHECK (reason IN ('unsubscribe', 'bounce')),
            source TEXT NOT NULL,        -- 'lien', 'commande', 'annuaire', 'smtp', 'brevo'
            detail TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            PRIMARY KEY (email, scope)
        );
        INSERT INTO suppressions_scoped (email, scope, reason, source, detail, created_at)
            SELECT email, 'all', reason, source, detail, created_at FROM suppressions;
        DROP TABLE suppressions;
        ALTER TABLE suppressions_scoped RENAME TO suppressions;
        ALTER TABLE suppression_lifts ADD COLUMN scope TEXT NOT NULL DEFAULT 'all';
    """),
    Migration("news items of each newsletter that went out through a real transport", """
        CREATE TABLE campaign_items (
            campaign TEXT NOT NULL,      -- campaigns.id, recorded before its first message
            item TEXT NOT NULL,          -- news item id (file stem)
            PRIMARY KEY (campaign, item)
        );
    """),
]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class MessageRow:
    campaign: str
    recipient: str
    message_id: str
    status: str
    attempts: int
    last_error: str
    permanent: bool
    transport: str
    provider_id: str
    sent_at: str | None


@dataclass(frozen=True)
class Suppression:
    email: str
    scope: str  # "newsletter", "instance:<id>" or "all"
    reason: str
    source: str
    detail: str
    created_at: str


class JournalError(CommsError):
    """The journal cannot be used as it is (empty, corrupt, not ours, read-only, disk
    full): nothing is sent, and the message says how to restore a backup."""


# Written in the file header (offset 68) of every journal: "comm" in ASCII.
APPLICATION_ID = 0x636F6D6D
BACKUP_DIR = Path("var/backups")


def restore_hint(path: Path) -> str:
    """How to put a backup back (French), for every refusal of the journal."""
    backups = path.parent / BACKUP_DIR.name
    return (f"remettez la dernière sauvegarde à sa place\u00a0: copiez le fichier le plus "
            f"récent de {backups}/ vers {path} (en supprimant {path.name}-wal et "
            f"{path.name}-shm s’ils existent), puis relancez la commande. Sans sauvegarde, "
            "ne supprimez pas le journal\u00a0: il contient les désinscriptions et ce qui a "
            "déjà été envoyé (voir « Sauvegarder le journal » dans docs/redaction.md)")


def _nearly_full(folder: Path) -> bool:
    """Whether the disk holding `folder` has (almost) no room left: SQLite reports a full
    disk met while growing its shared-memory file as a mere "disk I/O error"."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    """A French message for an SQLite failure on the journal at `path`."""
    text = str(exc).lower()
    io_error = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR") \
        or "disk i/o error" in text
    if "readonly" in text or "read-only" in text:
        what = ("le journal est en lecture seule\u00a0: donnez le droit d’écriture sur "
                f"{path} et sur son dossier {path.parent}")
    elif "disk is full" in text or "disk full" in text or (io_error
                                                           and _nearly_full(path.parent)):
        what = f"le disque est plein\u00a0: libérez de la place sur le disque de {path.parent}"
    elif io_error:  # the disk refused a read or a write: nothing says the journal is bad
        what = (f"le disque de {path.parent} a refusé une lecture ou une écriture ({exc})"
                "\u00a0; le journal lui-même n’est pas en cause, ne le remplacez pas\u00a0: "
                "vérifiez la place libre, les quotas et le support (clé débranchée, partage "
                "réseau coupé), puis relancez la commande")
    elif "unable to open" in text:
        what = (f"impossible d’ouvrir ou de créer le journal\u00a0: vérifiez que le dossier "
                f"{path.parent} existe et que vous avez le droit d’y écrire")
    elif "locked" in text or "busy" in text:
        what = "le journal est occupé par une autre commande comms\u00a0: attendez sa fin"
    else:
        what = (f"le journal est endommagé ({exc})\u00a0; " + restore_hint(path))
    return JournalError(f"Journal d’envoi {path} inutilisable\u00a0: {what}. Rien n’a été "
                        "envoyé.")


class Journal:
    """One connection to the journal; every state change is committed at once, except a
    `sent` held for the next change (see `mark_sent`).

    An existing file must be a journal of comms: an empty, corrupt or foreign file raises
    `JournalError` (never silently replaced by a new journal, which would forget who
    unsubscribed and what was sent). A new journal is built beside its path and renamed
    into place, so that an interrupted creation never leaves an empty file."""

    def __init__(self, path: Path, now: Callable[[], str] = utc_now,
                 migrations: list[Migration] | None = None):
        self.path = path
        self.now = now
        self._held = False  # a `sent` waits in an open transaction (see `mark_sent`)
        migrations = MIGRATIONS if migrations is None else migrations
        in_memory = str(path) == ":memory:"  # a simulation's empty journal
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"Impossible de créer le dossier du journal {path.parent} "
                f"({exc.strerror or exc})\u00a0: vérifiez que vous avez le droit d’y écrire. "
                "Rien n’a été envoyé.") from None
        if not in_memory and not path.exists():
            _create(path, migrations)
        if not in_memory:
            _check_not_empty(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            if not in_memory:
                self._check_ours(migrations)
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives a power cut, so `sent` is never lost once recorded.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            self._close_quietly()
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise _not_sqlite(path) from None
            raise journal_error(path, exc) from None
        except JournalError:
            self._close_quietly()
            raise
        self._migrate(migrations)

    def _close_quietly(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    def _check_ours(self, migrations: list[Migration]) -> None:
        """Refuse a database that is corrupt or was not made by comms."""
        check = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise JournalError(
                f"Le journal d’envoi {self.path} est endommagé ({check}). Rien n’a été "
                f"envoyé. Pour continuer, {restore_hint(self.path)}.")
        if self.db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return
        first = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = "
            "'schema_migrations'").fetchone()
        row = self.db.execute("SELECT name FROM schema_migrations WHERE version = 1"
                              ).fetchone() if first else None
        if row is not None and row[0] == migrations[0].name:
            # A journal written before comms marked its files: mark it now.
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            return
        raise JournalError(
            f"Le fichier {self.path} n’est pas un journal d’envoi de comms (c’est une "
            "autre base SQLite). Rien n’a été envoyé. Pour continuer, "
            f"{restore_hint(self.path)}.")

    @classmethod
    def open(cls, root: Path) -> Journal:
        return cls(root / JOURNAL_FILE)

    def close(self) -> None:
        self.commit()
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------

    def _migrate(self, migrations: list[Migration]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)""")
            applied = {r["version"]: r["name"] for r in
                       self.db.execute("SELECT version, name FROM schema_migrations")}
            newer = [v for v in applied if v > len(migrations)]
            if newer:
                raise ConfigError(
                    f"Le journal {self.path} a été créé par une version plus récente de comms "
                    f"(schéma {max(newer)}). Mettez comms à jour avant d’envoyer.")
            for version, step in enumerate(migrations, 1):
                if version in applied:
                    continue
                for statement in _statements(step.sql):
                    self.db.execute(statement)
                self.db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                                (version, step.name, self.now()))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                self.db.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def has_table(self, name: str) -> bool:
        row = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                              (name,)).fetchone()
        return row is not None

    # --- campaigns and messages -----------------------------------------------------------

    def record_campaign(self, campaign_id: str, *, kind: str, ref: str, scope: str, year: int,
                        subject: str) -> None:
        self.db.execute(
            "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
            "SET subject = excluded.subject",
            (campaign_id, kind, ref, scope, year, subject, self.now()))

    def knows_campaign(self, campaign_id: str) -> bool:
        """Whether a run of `campaign_id` was ever started with this journal."""
        return self.db.execute("SELECT 1 FROM campaigns WHERE id = ?",
                               (campaign_id,)).fetchone() is not None

    def add_messages(self, campaign: str, rows: Iterable[tuple[str, str]]) -> None:
        """Plan (recipient, message_id) pairs as pending; rows already known keep their state
        and their Message-ID."""
        now = self.now()
        self.commit()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR IGNORE INTO messages (campaign, recipient, message_id, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?)",
                ((campaign, key, mid, now, now) for key, mid in rows))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                self.db.execute("ROLLBACK")
            raise

    def messages(self, campaign: str) -> dict[str, MessageRow]:
        return {r["recipient"]: _message(r) for r in self.db.execute(
            "SELECT * FROM messages WHERE campaign = ?", (campaign,))}

    def states(self, campaign: str) -> dict[str, tuple[str, str]]:
        """recipient -> (status, message_id): what the send loop needs, kept small for
        lists of thousands."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT recipient, status, message_id FROM messages WHERE campaign = ?",
            (campaign,))}

    def message(self, campaign: str, recipient: str) -> MessageRow | None:
        row = self.db.execute("SELECT * FROM messages WHERE campaign = ? AND recipient = ?",
                              (campaign, recipient)).fetchone()
        return _message(row) if row else None

    def mark_sending(self, campaign: str, recipient: str, transport: str) -> None:
        self._update(campaign, recipient, "status = 'sending', attempts = attempts + 1, "
                     "transport = ?, maybe_delivered_at = NULL", (transport,))

    def mark_sent(self, campaign: str, recipient: str, provider_id: str, *,
                  hold: bool = False) -> None:
        """`hold`: leave the change in an open transaction that the next state change (the
        next recipient's `sending`) commits with its own, so that a run pays one fsync per
        message. Until then the row reads `sending` to any other connection and after a
        crash: the message is sent again with the same Message-ID, never lost. The send
        loop commits a held change (`commit`) before any wait."""
        now = self.now()
        if hold:
            if not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
                self._held = True
            self._execute_update(campaign, recipient, "status = 'sent', provider_id = ?, "
                                 "sent_at = ?, last_error = '', permanent = 0",
                                 (provider_id, now))
            return
        self._update(campaign, recipient, "status = 'sent', provider_id = ?, sent_at = ?, "
                     "last_error = '', permanent = 0", (provider_id, now))

    def mark_batch_sending(self, campaign: str, recipients: Sequence[str],
                           transport: str) -> None:
        """`mark_sending` for a batch of rows, committed in one transaction together with a
        held change (the previous batch's `sent`): one fsync for a whole batch of a
        transport that makes its messages durable a batch at a time (the outbox)."""
        now = self.now()
        opened = not self.db.in_transaction
        if opened:
            self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "UPDATE messages SET status = 'sending', attempts = attempts + 1, transport = ?, "
            "maybe_delivered_at = NULL, updated_at = ? WHERE campaign = ? AND recipient = ?",
            ((transport, now, campaign, key) for key in recipients))
        if opened:
            self.db.execute("COMMIT")
        else:
            self.commit()

    def mark_batch_sent(self, campaign: str, results: Sequence[tuple[str, str]]) -> None:
        """`mark_sent(hold=True)` for a batch of (recipient, provider_id): held in an open
        transaction that the next change commits, once the transport made them durable."""
        now = self.now()
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self._held = True
        self.db.executemany(
            "UPDATE messages SET status = 'sent', provider_id = ?, sent_at = ?, "
            "last_error = '', permanent = 0, updated_at = ? WHERE campaign = ? AND recipient = ?",
            ((provider_id, now, now, campaign, key) for key, provider_id in results))

    def record_items(self, campaign: str, items: Iterable[str]) -> None:
        """Remember the news items that go out in `campaign` (a run through a real
        transport): `comms check` then spots an item that falls into it afterwards. Once a
        message of `campaign` was delivered, what went out is settled: a later run (resumed,
        or with nothing left to send) does not add the items written since."""
        self.commit()
        if self.delivered(campaign):
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM campaign_items WHERE campaign = ?", (campaign,))
            self.db.executemany("INSERT OR IGNORE INTO campaign_items (campaign, item) "
                                "VALUES (?, ?)", ((campaign, item) for item in items))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def delivered(self, campaign: str) -> bool:
        """Whether a message of `campaign` was really delivered (outbox deposits are not)."""
        return self.db.execute(f"SELECT 1 FROM messages WHERE campaign = ? AND {DELIVERED} "
                               "LIMIT 1", (campaign,)).fetchone() is not None

    def items(self, campaign: str) -> set[str]:
        """News item ids recorded for `campaign` by `record_items` (empty for an issue sent
        before comms kept them)."""
        return {r[0] for r in self.db.execute(
            "SELECT item FROM campaign_items WHERE campaign = ?", (campaign,))}

    def mark_maybe_delivered(self, campaign: str, recipient: str, error: str) -> None:
        """The whole message left but its final reply was lost: 'failed' with
        `maybe_delivered_at` set, never sent again unless asked for explicitly."""
        self._update(campaign, recipient, "status = 'failed', last_error = ?, permanent = 0, "
                     "maybe_delivered_at = ?", (error, self.now()))

    def maybe_delivered(self, campaign: str) -> set[str]:
        """Recipients of `campaign` whose message may have been delivered (see above)."""
        return {r[0] for r in self.db.execute(
            "SELECT recipient FROM messages WHERE campaign = ? AND status = 'failed' "
            "AND maybe_delivered_at IS NOT NULL", (campaign,))}

    def deposited(self, campaign: str) -> set[str]:
        """Recipients of `campaign` whose message was only deposited in var/outbox (a trial,
        nothing left the machine): a real transport sends to them."""
        return {r[0] for r in self.db.execute(
            "SELECT recipient FROM messages WHERE campaign = ? AND status = 'sent' "
            "AND transport = ?", (campaign, OUTBOX_TRANSPORT))}

    def commit(self) -> None:
        """Commit a change held by `mark_sent(hold=True)`, if any (a transaction opened by
        a caller around several changes is left to that caller)."""
        if self._held:
            self._held = False
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    def mark_pending(self, campaign: str, recipient: str, error: str = "") -> None:
        """Back to pending: the transport said for sure that it did not take the message."""
        self._update(campaign, recipient, "status = 'pending', last_error = ?", (error,))

    def mark_failed(self, campaign: str, recipient: str, error: str, permanent: bool) -> None:
        self._update(campaign, recipient, "status = 'failed', last_error = ?, permanent = ?",
                     (error, int(permanent)))

    def mark_skipped(self, campaign: str, recipient: str, reason: str) -> None:
        self._update(campaign, recipient, "status = 'skipped', last_error = ?", (reason,))

    def _update(self, campaign: str, recipient: str, assignments: str,
                values: tuple) -> None:
        """One state change, committed at once together with a held one."""
        self._execute_update(campaign, recipient, assignments, values)
        self.commit()

    def _execute_update(self, campaign: str, recipient: str, assignments: str,
                        values: tuple) -> None:
        self.db.execute(
            f"UPDATE messages SET {assignments}, updated_at = ? "
            "WHERE campaign = ? AND recipient = ?",
            (*values, self.now(), campaign, recipient))

    # --- suppression list -----------------------------------------------------------------

    def suppress(self, email: str, reason: str, source: str, detail: str = "",
                 scope: str = ALL_SCOPES, at: str | None = None) -> bool:
        """Record that `email` must never again receive what `scope` covers ("newsletter",
        "instance:<id>", or "all" for everything); False if that address and scope were
        already there (the first record is kept). `at`: when it happened (UTC ISO 8601), if
        not now."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO suppressions (email, scope, reason, source, detail, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (email.strip().lower(), scope, reason, source, detail, at or self.now()))
        self.commit()
        return cursor.rowcount == 1

    def suppression(self, email: str, scope: str | None = None) -> Suppression | None:
        """The record that stops `scope` for `email` (its own scope's, else the "all" one,
        a bounce first), or None. Without `scope`: any record of the address, whatever it
        stops."""
        where = "email = ?" if scope is None else "email = ? AND scope IN (?, 'all')"
        args = (email.strip().lower(),) if scope is None else (email.strip().lower(), scope)
        row = self.db.execute(
            f"SELECT * FROM suppressions WHERE {where} "
            "ORDER BY reason = 'bounce' DESC, scope = 'all' DESC, created_at LIMIT 1",
            args).fetchone()
        return _suppression(row) if row else None

    def is_suppressed(self, email: str, scope: str | None = None) -> bool:
        """True if `email` unsubscribed from `scope` or from everything ("all"), or
        bounced. Without `scope`: true if anything at all is suppressed for it."""
        return self.suppression(email, scope) is not None

    def lift_suppression(self, email: str, why: str) -> list[Suppression]:
        """Remove every suppression of `email`, keeping each one and `why` (the
        coordinator's words) in `suppression_lifts`; returns what was lifted (empty if the
        address was not suppressed)."""
        key = email.strip().lower()
        now = self.now()
        self.commit()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            rows = [_suppression(r) for r in self.db.execute(
                "SELECT * FROM suppressions WHERE email = ?", (key,))]
            self.db.executemany(
                "INSERT INTO suppression_lifts (email, reason, source, detail, "
                "suppressed_at, why, lifted_at, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((r.email, r.reason, r.source, r.detail, r.created_at, why, now, r.scope)
                 for r in rows))
            self.db.execute("DELETE FROM suppressions WHERE email = ?", (key,))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                self.db.execute("ROLLBACK")
            raise
        return rows

    def suppressed(self, scope: str | None = None) -> dict[str, Suppression]:
        """address -> the record that stops `scope` for it (see `suppression`); without
        `scope`, every suppressed address, whatever its records stop."""
        where, args = ("", ()) if scope is None else ("WHERE scope IN (?, 'all') ", (scope,))
        out: dict[str, Suppression] = {}
        for row in self.db.execute(
                f"SELECT * FROM suppressions {where}"
                "ORDER BY reason = 'bounce', scope = 'all', created_at DESC", args):
            out[row["email"]] = _suppression(row)  # the last one written wins
        return out

    def suppressions(self, email: str | None = None) -> list[Suppression]:
        """Every record (of one address), oldest first."""
        if email is None:
            rows = self.db.execute("SELECT * FROM suppressions ORDER BY created_at, rowid")
        else:
            rows = self.db.execute("SELECT * FROM suppressions WHERE email = ? "
                                   "ORDER BY created_at, rowid", (email.strip().lower(),))
        return [_suppression(r) for r in rows]


def _suppression(row: sqlite3.Row) -> Suppression:
    return Suppression(row["email"], row["scope"], row["reason"], row["source"],
                       row["detail"], row["created_at"])


def _check_not_empty(path: Path) -> None:
    """Refuse an existing file that is empty (SQLite would take it for a new database).

    Only the file's size is read (stat), never its bytes: closing a descriptor of the
    journal drops every POSIX lock this process holds on it (fcntl(2)), those of its open
    SQLite connections too. Another process closing the last connection it knows of would
    then checkpoint and delete the WAL under them, and what they commit afterwards would go
    to a deleted file: lost (https://www.sqlite.org/howtocorrupt.html §2.2). A file that is
    not SQLite at all is reported by SQLite itself (SQLITE_NOTADB, see `_not_sqlite`)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise JournalError(
            f"Impossible de lire le journal d’envoi {path} ({exc.strerror or exc})\u00a0: "
            "vérifiez ses droits. Rien n’a été envoyé.") from None
    if size == 0:
        raise JournalError(
            f"Le journal d’envoi {path} est vide (0 octet)\u00a0: il a été tronqué ou "
            "remplacé. comms ne le recrée pas, car il oublierait qui s’est désinscrit et ce "
            f"qui a déjà été envoyé. Rien n’a été envoyé. Pour continuer, "
            f"{restore_hint(path)}.")


def _not_sqlite(path: Path) -> JournalError:
    """The refusal of a file that is not an SQLite database (its header is not SQLite's,
    https://www.sqlite.org/fileformat.html §1.3)."""
    return JournalError(
        f"Le fichier {path} n’est pas un journal d’envoi de comms (ce n’est pas une base "
        f"SQLite, ou son début est abîmé). Rien n’a été envoyé. Pour continuer, "
        f"{restore_hint(path)}.")


def _create(path: Path, migrations: list[Migration]) -> None:
    """A new journal: marked in a staging file of this opener's own, then linked into place
    (link(2) fails when `path` exists, so openers racing to create the same journal never
    replace each other's: the loser uses the winner's file)."""
    staging = path.with_name(f"{path.name}.new-{os.getpid()}-{threading.get_ident()}-"
                             f"{secrets.token_hex(4)}")
    _remove_stale_staging(path)
    try:
        db = sqlite3.connect(staging, isolation_level=None)
        try:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            # WAL is recorded in the file: openers racing on a new journal need not switch
            # its mode (a switch needs the only connection, and fails as busy otherwise).
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
        try:
            os.link(staging, path)
        except FileExistsError:
            pass  # another opener created it first: theirs is the journal
        except OSError:
            # A file system without hard links: a rename, exclusive only as far as the
            # check before it goes.
            if not path.exists():
                staging.replace(path)
    except sqlite3.Error as exc:
        raise journal_error(path, exc) from None
    finally:
        for leftover in (staging, *_sidecars(staging)):
            leftover.unlink(missing_ok=True)


def _remove_stale_staging(path: Path) -> None:
    """Staging files of creations killed midway: those of a process that no longer runs
    (and the single `<name>.new` of earlier versions)."""
    for leftover in path.parent.glob(f"{path.name}.new*"):
        owner = leftover.name[len(path.name) + len(".new"):].lstrip("-").split("-")[0]
        if owner.isdigit():
            if int(owner) == os.getpid():
                continue
            try:
                os.kill(int(owner), 0)
                continue  # still running: its creation is under way
            except ProcessLookupError:
                pass
            except OSError:
                continue  # running under another user
        leftover.unlink(missing_ok=True)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def _message(row: sqlite3.Row) -> MessageRow:
    return MessageRow(row["campaign"], row["recipient"], row["message_id"], row["status"],
                      row["attempts"], row["last_error"], bool(row["permanent"]),
                      row["transport"], row["provider_id"], row["sent_at"])


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (`executescript` would commit mid-transaction)."""
    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


def backup(path: Path, dest: Path | None = None) -> Path:
    """Copy the journal at `path` while it may be in use (SQLite online backup API,
    https://www.sqlite.org/backup.html) to `dest`, by default
    var/backups/comms-YYYYMMDD-HHMMSS.sqlite (UTC). Returns the copy's path; raises
    JournalError when the journal is missing or unusable. The copy appears whole or not at
    all (written beside, then renamed)."""
    if not path.is_file():
        raise JournalError(f"Pas de journal d’envoi à sauvegarder ({path} n’existe pas)\u00a0: "
                           "rien n’a encore été envoyé depuis ce dossier.")
    if dest is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        dest = path.parent / BACKUP_DIR.name / f"comms-{stamp}.sqlite"
    partial = dest.with_name(dest.name + ".part")
    with Journal(path) as journal:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            journal.db.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            target.close()
            partial.unlink(missing_ok=True)
            raise journal_error(dest, exc) from None
        target.close()
    partial.replace(dest)
    return dest


def restore(path: Path, source: Path) -> None:
    """Put the backup `source` in place of the journal at `path` (whatever state that one is
    in: empty, corrupt, missing). The backup is checked first; the replaced journal is kept
    as `<path>.remplacé-<UTC time>`. Raises JournalError if `source` is not a usable
    journal. The caller holds the send lock."""
    with Journal(source):
        pass  # refuses an empty, corrupt or foreign file, and brings it up to date
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    staging = path.with_name(path.name + ".new")
    staging.write_bytes(source.read_bytes())
    if path.exists():
        path.replace(path.with_name(f"{path.name}.remplacé-{stamp}"))
    for sidecar in _sidecars(path):
        sidecar.unlink(missing_ok=True)
    staging.replace(path)


def sent_campaigns(root: Path) -> set[str]:
    """Ids of the campaigns with at least one message sent; empty when nothing was ever sent
    (the journal is not created just to be read)."""
    path = root / JOURNAL_FILE
    if not path.is_file():
        return set()
    with Journal(path) as journal:
        return {r[0] for r in journal.db.execute(
            f"SELECT DISTINCT campaign FROM messages WHERE {DELIVERED}")}
