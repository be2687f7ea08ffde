"""`comms inbox`: read each mailbox, record what its messages mean, mark them handled.

Each message is handled exactly once, even across a kill at any moment:
1. the message's effects (RSVP answer, suppression, bounce) and then the row saying it was
   processed (`inbox_messages`: account, folder, UIDVALIDITY, UID, Message-ID) are written,
   in one journal transaction when the journal's own methods allow it; every effect is
   idempotent anyway, so a kill before the row is written only makes the next run redo
   them, with the same result;
2. only then is it flagged (\\Seen + `$CommsTraite`) or moved on the server.
Killed between 1 and 2, the next run finds the UID recorded and only finishes step 2. A
message seen again under another UID (moved by hand, UIDVALIDITY reset, a copy in a second
account) is recognised by its Message-ID and not counted twice. Effects are upserts keyed by
attendee, suppressions keyed by address, bounces keyed by notification.

RSVP answers are matched by UID (the journal's invitation versions, then the content's
events), attendee (someone who holds our invitation, or her delegate) and SEQUENCE: an answer
to an older version is recorded with that SEQUENCE, and `comms.inbox.rsvp` shows it as « pas
encore répondu » for the current version. Unknown UIDs or attendees are reported and the
message is left unread for the coordinator, never guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from comms.errors import CommsError
from comms.french import count
from comms.inbox import classify as kinds
from comms.inbox.classify import Classified, classify
from comms.inbox.itip import ANSWERS, DELEGATED, ItipAnswer
from comms.inbox.mailbox import Mailbox
from comms.inbox.settings import ImapAccount, InboxSettings
from comms.send.journal import BOUNCE, Journal

HANDLED, LEFT = "handled", "left"
SOURCE = "imap"  # suppressions.source and bounces.source
NBSP = "\u00a0"


@dataclass
class InboxSummary:
    """What one run did, for the command's report."""

    read: int = 0  # messages examined for the first time
    handled: Counter[str] = field(default_factory=Counter)  # kind -> messages
    left: int = 0  # left unread for the coordinator
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (event, partstat)
    older: list[str] = field(default_factory=list)  # answers to an older version
    counters: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # UIDs or attendees not ours
    problems: list[str] = field(default_factory=list)  # malformed, invalid tokens...
    unsubscribed: list[str] = field(default_factory=list)
    hard_bounces: list[str] = field(default_factory=list)
    soft_bounces: list[str] = field(default_factory=list)
    suppressed_soft: list[str] = field(default_factory=list)
    duplicates: int = 0  # already handled under another UID or account
    finished: int = 0  # recorded by an interrupted run, marked on the server now

    @property
    def nothing(self) -> bool:
        return not self.read and not self.finished


@dataclass(frozen=True)
class Events:
    """What a REPLY's UID may point to."""

    by_uid: dict[str, str]  # iCalendar UID -> event id (journal versions, then content)
    existing: frozenset[str]  # event ids present in the content now
    instance_names: dict[str, str] = field(default_factory=dict)  # id -> name, for messages
    timezone: str = "Europe/Paris"  # the territory's, for the times shown to coordinators


@dataclass
class _Outcome:
    outcome: str
    detail: str = ""
    effects: list[Callable[[], None]] = field(default_factory=list)
    report: list[Callable[[], None]] = field(default_factory=list)


class InboxProcessor:
    """Turns classified messages into journal records, one message at a time."""

    def __init__(self, journal: Journal, events: Events, secret: str,
                 soft_limit: int, summary: InboxSummary, dry_run: bool = False):
        self.journal = journal
        self.events = events
        self.secret = secret
        self.soft_limit = soft_limit
        self.summary = summary
        self.dry_run = dry_run
        self.held = held_invitations(journal)

    # --- one message ----------------------------------------------------------------------

    def process(self, account: ImapAccount, folder: str, uidvalidity: int, uid: int,
                data: bytes) -> str:
        """Record the message; returns HANDLED (mark it on the server) or LEFT."""
        db = self.journal.db
        known = db.execute(
            "SELECT outcome FROM inbox_messages WHERE account = ? AND folder = ? AND "
            "uidvalidity = ? AND uid = ?", (account.key, folder, uidvalidity, uid)).fetchone()
        if known is not None:
            if known["outcome"] == HANDLED:
                self.summary.finished += 1
            return known["outcome"]
        item = classify(data)
        self.summary.read += 1
        if item.message_id:
            same = db.execute("SELECT outcome, kind FROM inbox_messages WHERE message_id = ? "
                              "LIMIT 1", (item.message_id,)).fetchone()
            if same is not None:
                raced = self._write(account, folder, uidvalidity, uid, item, _Outcome(
                    same["outcome"], "déjà traité sous un autre numéro"))
                if raced is not None:
                    self.summary.read -= 1
                    return raced
                self.summary.duplicates += 1
                return same["outcome"]
        outcome = self._decide(item, f"{account.key}/{folder}/{uidvalidity}/{uid}")
        raced = self._write(account, folder, uidvalidity, uid, item, outcome)
        if raced is not None:  # another `comms inbox` recorded it meanwhile: its effects
            self.summary.read -= 1  # and its summary, not ours
            return raced
        for line in outcome.report:
            line()
        if outcome.outcome == HANDLED:
            self.summary.handled[item.kind] += 1
        else:
            self.summary.left += 1
        return outcome.outcome

    def _write(self, account: ImapAccount, folder: str, uidvalidity: int, uid: int,
               item: Classified, outcome: _Outcome) -> str | None:
        """Record the effects and the message in one transaction; None when written, or the
        outcome another run (two `comms inbox` at once) recorded for the message meanwhile,
        and then nothing is written."""
        if self.dry_run:
            return None
        db = self.journal.db
        self.journal.commit()  # anything held by the journal is not ours to roll back
        db.execute("BEGIN IMMEDIATE")
        try:
            other = db.execute(
                "SELECT outcome FROM inbox_messages WHERE account = ? AND folder = ? AND "
                "uidvalidity = ? AND uid = ?", (account.key, folder, uidvalidity, uid)
            ).fetchone()
            if other is not None:
                db.execute("ROLLBACK")
                return other["outcome"]
            for effect in outcome.effects:
                effect()
            db.execute("INSERT INTO inbox_messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (account.key, folder, uidvalidity, uid, item.message_id, item.kind,
                        outcome.outcome, outcome.detail, self.journal.now()))
            # Journal methods that commit on their own (suppress) end the transaction
            # early: their effects are idempotent, so a kill in between is redone safely.
            if db.in_transaction:
                db.execute("COMMIT")
            return None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _decide(self, item: Classified, where: str) -> _Outcome:
        if item.kind == kinds.REPLY:
            return self._reply(item)
        if item.kind == kinds.COUNTER:
            return self._counter(item)
        if item.kind == kinds.BOUNCE:
            return self._bounce(item, where)
        if item.kind == kinds.UNSUBSCRIBE:
            return self._unsubscribe(item)
        if item.kind == kinds.AUTO_REPLY:
            return _Outcome(HANDLED, "réponse automatique")
        if item.kind == kinds.MALFORMED:
            text = f"{item.sender or 'expéditeur inconnu'} («{NBSP}{item.subject}{NBSP}»)" \
                   f"{NBSP}: {item.problem}"
            return _Outcome(LEFT, item.problem,
                            report=[lambda: self.summary.problems.append(text)])
        return _Outcome(LEFT, "autre message")

    # --- RSVP -----------------------------------------------------------------------------

    def _event_of(self, answer: ItipAnswer, sender: str) -> tuple[str | None, str]:
        event_id = self.events.by_uid.get(answer.uid)
        if event_id is None:
            return None, (f"{sender}{NBSP}: réponse pour un évènement inconnu "
                          f"(UID {answer.uid})\u00a0; message laissé non lu")
        if event_id not in self.events.existing:
            return None, (f"{sender}{NBSP}: réponse pour l’évènement «{NBSP}{event_id}{NBSP}», "
                          "qui n’existe plus dans calendars/events/\u00a0; message laissé "
                          "non lu")
        return event_id, ""

    def _reply(self, item: Classified) -> _Outcome:
        out = _Outcome(LEFT)
        recorded = 0
        for answer in item.answers:
            event_id, why = self._event_of(answer, item.sender or "?")
            if event_id is None:
                out.report.append(lambda why=why: self.summary.unknown.append(why))
                continue
            holders = self.held.get(event_id, {})
            for person in answer.attendees:
                if person.partstat not in ANSWERS:
                    continue
                held = holders.get(person.email)
                delegator = next((d for d in person.delegated_from if d in holders), None)
                if held is None and delegator is not None:
                    held = holders[delegator]
                if held is None:
                    line = (f"{person.email}{NBSP}: a répondu pour «{NBSP}{event_id}{NBSP}» "
                            "sans y avoir été invité par comms\u00a0; message laissé non lu")
                    out.report.append(lambda line=line: self.summary.unknown.append(line))
                    continue
                recorded += 1
                out.effects.append(lambda a=answer, p=person, e=event_id, m=item.message_id:
                                   record_answer(self.journal, e, a, p, m))
                out.report.append(lambda e=event_id, s=person.partstat:
                                  self.summary.answers.update([(e, s)]))
                if answer.sequence < held:
                    line = (f"{person.email} a répondu à une version précédente de "
                            f"«{NBSP}{event_id}{NBSP}» (séquence {answer.sequence}, "
                            f"actuelle {held})\u00a0: à relancer")
                    out.report.append(lambda line=line: self.summary.older.append(line))
        if recorded:
            out.outcome = HANDLED
            out.detail = count(recorded, "réponse")
        return out

    def _counter(self, item: Classified) -> _Outcome:
        lines = []
        for answer in item.answers:
            event_id = self.events.by_uid.get(answer.uid, answer.uid)
            when = (f" pour le {proposed_time(answer.proposed_start, self.events.timezone)}"
                    if answer.proposed_start else "")
            comment = f" («{NBSP}{answer.comment}{NBSP}»)" if answer.comment else ""
            lines.append(f"{item.sender} propose un autre horaire{when} pour "
                         f"«{NBSP}{event_id}{NBSP}»{comment}\u00a0: non appliqué, message "
                         "laissé non lu")
        return _Outcome(LEFT, "contre-proposition non appliquée",
                        report=[lambda: self.summary.counters.extend(lines)])

    # --- bounces --------------------------------------------------------------------------

    def _bounce(self, item: Classified, where: str) -> _Outcome:
        if item.problem:
            text = f"{item.sender or '?'} («{NBSP}{item.subject}{NBSP}»){NBSP}: {item.problem}"
            return _Outcome(LEFT, item.problem,
                            report=[lambda: self.summary.problems.append(text)])
        campaign = self._campaign_of(item.original_ids)
        key = item.message_id or where
        out = _Outcome(HANDLED, f"{count(len(item.hard), 'définitif')}, "
                                f"{count(len(item.soft), 'temporaire')}")
        for address in item.hard:
            out.effects.append(lambda a=address: self._hard(a, campaign, key, item.subject))
            out.report.append(lambda a=address: self.summary.hard_bounces.append(a))
        for address in item.soft:
            out.effects.append(lambda a=address: self._soft(a, campaign, key, item.subject))
            out.report.append(lambda a=address: self.summary.soft_bounces.append(a))
        return out

    def _campaign_of(self, message_ids: tuple[str, ...]) -> str:
        for mid in message_ids:
            row = self.journal.db.execute("SELECT campaign FROM messages WHERE message_id = ?",
                                          (mid,)).fetchone()
            if row is not None:
                return row["campaign"]
        return ""

    def _hard(self, address: str, campaign: str, key: str, subject: str) -> None:
        record_bounce(self.journal, address, "hard", campaign, key, SOURCE, subject)
        self.journal.suppress(address, BOUNCE, SOURCE, _bounce_detail(campaign, subject))

    def _soft(self, address: str, campaign: str, key: str, subject: str) -> None:
        record_bounce(self.journal, address, "soft", campaign, key, SOURCE, subject)
        if soft_in_a_row(self.journal, address) >= self.soft_limit and \
                self.journal.suppress(address, BOUNCE, SOURCE,
                                      f"{self.soft_limit} échecs temporaires de suite"):
            self.summary.suppressed_soft.append(address)

    # --- unsubscribe ----------------------------------------------------------------------

    def _unsubscribe(self, item: Classified) -> _Outcome:
        from comms.send.tokens import ForeignToken, read_token
        from comms.send.unsubscribe import SOURCE_MAILTO, apply_unsubscribe, scope_label

        try:
            token = read_token(self.secret, item.token_text)
        except ForeignToken:
            text = (f"{item.sender or '?'}{NBSP}: demande de désinscription avec un jeton "
                    "d’un autre territoire (ou fait avec un secret qui n’a pas suivi le "
                    "territoire, voir var/unsubscribe-secret)\u00a0; message laissé non lu")
            return _Outcome(LEFT, "jeton d’un autre territoire",
                            report=[lambda: self.summary.problems.append(text)])
        except CommsError as exc:
            text = (f"{item.sender or '?'}{NBSP}: demande de désinscription avec un jeton "
                    f"invalide ({exc.message})\u00a0; message laissé non lu")
            return _Outcome(LEFT, "jeton invalide",
                            report=[lambda: self.summary.problems.append(text)])
        shown = f"{token.email} ({scope_label(token.scope, self.events.instance_names)})"
        return _Outcome(
            HANDLED, f"{token.email} {token.scope}",
            effects=[lambda: apply_unsubscribe(self.journal, self.secret, item.token_text,
                                               SOURCE_MAILTO, item.message_id)],
            report=[lambda: self.summary.unsubscribed.append(shown)])


# --------------------------------------------------------------------------- journal


def held_invitations(journal: Journal) -> dict[str, dict[str, int]]:
    """event id -> attendee -> SEQUENCE of the latest REQUEST she was sent (attendees whose
    latest version is a cancellation are left out); deposits in var/outbox reached nobody."""
    out: dict[str, dict[str, int]] = {}
    for row in journal.db.execute("""
            SELECT v.event_id, v.sequence, v.method, v.campaign, m.recipient FROM messages m
            JOIN invitation_versions v ON v.campaign = m.campaign
            WHERE m.status = 'sent' AND m.transport != 'outbox'
            ORDER BY v.sequence, v.rowid"""):
        people = out.setdefault(row["event_id"], {})
        # A CANCEL of some sessions of a series (campaign …-occurrence) leaves the series.
        if row["method"] == "REQUEST" or "-occurrence" in row["campaign"]:
            people[row["recipient"]] = row["sequence"]
        else:
            people.pop(row["recipient"], None)
    return out


def journal_uids(journal: Journal) -> dict[str, str]:
    """iCalendar UID -> event id, for every version ever recorded."""
    return {r["uid"]: r["event_id"] for r in
            journal.db.execute("SELECT DISTINCT uid, event_id FROM invitation_versions")}


def record_answer(journal: Journal, event_id: str, answer: ItipAnswer, person,
                  message_id: str) -> None:
    """Upsert one attendee's answer; a newer one (higher SEQUENCE, then later DTSTAMP) wins,
    so answers read out of order end in the right state."""
    delegated_to = ",".join(person.delegated_to) if person.partstat == DELEGATED else ""
    journal.db.execute("""
        INSERT INTO rsvp_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (event_id, email, recurrence_id) DO UPDATE SET
            uid = excluded.uid, partstat = excluded.partstat, sequence = excluded.sequence,
            dtstamp = excluded.dtstamp, comment = excluded.comment,
            delegated_to = excluded.delegated_to, delegated_from = excluded.delegated_from,
            message_id = excluded.message_id, recorded_at = excluded.recorded_at
        WHERE excluded.sequence > rsvp_answers.sequence OR (
            excluded.sequence = rsvp_answers.sequence AND
            excluded.dtstamp >= rsvp_answers.dtstamp)""",
        (event_id, person.email, answer.recurrence_id, answer.uid, person.partstat,
         answer.sequence, answer.dtstamp, answer.comment, delegated_to,
         ",".join(person.delegated_from), message_id, journal.now()))


def record_bounce(journal: Journal, address: str, kind: str, campaign: str, key: str,
                  source: str, detail: str) -> None:
    journal.db.execute("INSERT OR IGNORE INTO bounces VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (address.lower(), kind, campaign, key, source, detail, journal.now()))


def soft_in_a_row(journal: Journal, address: str) -> int:
    """Temporary failures of `address` (distinct campaigns, or notifications when the
    campaign is unknown) since it last answered an invitation."""
    row = journal.db.execute("""
        SELECT COUNT(DISTINCT CASE WHEN campaign != '' THEN campaign ELSE message_id END)
        FROM bounces WHERE email = ? AND kind = 'soft' AND at >= COALESCE(
            (SELECT MAX(recorded_at) FROM rsvp_answers WHERE email = ?), '')""",
        (address.lower(), address.lower())).fetchone()
    return row[0]


def proposed_time(iso: str, timezone: str) -> str:
    """The start a COUNTER proposes (ISO 8601, UTC when it had a zone), as a coordinator reads
    it: « jeudi 25 mars 2027 à 14 h » in the territory's time zone."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from comms.dates import format_day, format_time

    try:
        start = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if start.tzinfo is not None:
        start = start.astimezone(ZoneInfo(timezone))
    if len(iso) == 10:  # a whole day (VALUE=DATE)
        return format_day(date.fromisoformat(iso))
    return f"{format_day(start.date())} à {format_time(start)}"


def _bounce_detail(campaign: str, subject: str) -> str:
    return f"{campaign}: {subject}" if campaign else subject


# --------------------------------------------------------------------------- the run


def read_mailboxes(settings: InboxSettings, journal: Journal, events: Events, secret: str,
                   *, dry_run: bool = False,
                   on_account: Callable[[ImapAccount, int], None] | None = None,
                   ) -> InboxSummary:
    """Read every account in turn. A refused login or a missing folder stops the run with a
    French error before anything of that account is recorded; what earlier accounts and
    messages recorded stays recorded."""
    summary = InboxSummary()
    processor = InboxProcessor(journal, events, secret, settings.soft_bounce_limit, summary,
                               dry_run)
    for account in settings.accounts:
        with Mailbox(account, dry_run) as box:
            uids = box.unhandled()
            known = {r["uid"]: r["outcome"] for r in journal.db.execute(
                "SELECT uid, outcome FROM inbox_messages WHERE account = ? AND folder = ? "
                "AND uidvalidity = ?", (account.key, account.folder, box.uidvalidity))}
            fresh = [uid for uid in uids if uid not in known]
            if on_account is not None:
                on_account(account, len(fresh))
            for uid in uids:
                if known.get(uid) == HANDLED and not dry_run:
                    box.mark_handled(uid)  # recorded by a run killed before it could mark
                    summary.finished += 1
            for fetched in box.fetch(fresh):
                outcome = processor.process(account, account.folder, box.uidvalidity,
                                            fetched.uid, fetched.data)
                if outcome == HANDLED and not dry_run:
                    box.mark_handled(fetched.uid)
    return summary
