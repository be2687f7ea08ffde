"""The send loop, once for every kind of mailing (newsletters, invitations...).

`plan` says who would receive a campaign and who is skipped, without writing anything;
`run` sends every message of the campaign that was not sent yet, through any transport, with
the journal, retries, back-off, the rate limit and progress. Callers supply the recipients
and a message factory: `factory(recipient, message_id) -> OutgoingMessage`.
"""

from __future__ import annotations

import fcntl
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comms.errors import CommsError
from comms.send.headers import message_id
from comms.send.journal import BOUNCE, FAILED, SENDING, SENT, Journal
from comms.send.message import OutgoingMessage
from comms.send.pacing import RateLimiter, RetryPolicy
from comms.send.tokens import NEWSLETTER, instance_scope
from comms.send.transports.base import (
    MaybeDeliveredError,
    PermanentError,
    PolicyRefusal,
    SendResult,
    TransientError,
    Transport,
)
from comms.settings import Settings

if TYPE_CHECKING:
    from comms.send.signing import Signer

SKIP_UNSUBSCRIBED = "désinscrit"
SKIP_BOUNCED = "adresse en échec définitif"
SKIP_ALREADY_SENT = "déjà envoyé"
SKIP_ALREADY_DEPOSITED = "déjà déposé dans var/outbox"
SKIP_DUPLICATE = "adresse en double"
SKIP_MAYBE_DELIVERED = "peut-être déjà remis"
# After this many recipients in a row whose every attempt failed temporarily (or whose
# final reply was lost), the server is taken to be down: the run stops and the rest stays
# pending for the next run.
STOP_AFTER_CONSECUTIVE_FAILURES = 3
# This many recipients in a row refused with the same permanent reply is the relay's
# configuration, not their addresses: the run stops and none of them is suppressed.
STOP_AFTER_SAME_REFUSAL = 3
SAME_REFUSAL_CHECK = ("vérifiez les réglages du relais (SMTP_HOST, SMTP_USER, "
                      "COMMS_TRANSPORT), l’adresse d’expéditeur (sender.email) et le "
                      "message lui-même ; si ces adresses sont vraiment fausses, "
                      "corrigez-les dans l’annuaire ou écartez-les avec comms unsubscribe")


@dataclass(frozen=True)
class Campaign:
    id: str  # "newsletter-2027-1"; part of every Message-ID
    kind: str  # "newsletter", "invitation"
    ref: str  # issue id, event id
    scope: str  # list name, instance id
    year: int
    subject: str
    domain: str  # right-hand side of Message-IDs

    @property
    def unsubscribe_scope(self) -> str:
        """The suppression scope that stops this campaign (besides "all"): "newsletter"
        for an issue, "instance:<id>" for invitations and the steps of a journée."""
        if self.kind == NEWSLETTER:
            return NEWSLETTER
        return instance_scope(self.scope)


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    name: str = ""
    data: Any = None  # what the factory needs (a Partner...)

    @property
    def key(self) -> str:
        return self.email.strip().lower()


Factory = Callable[[Recipient, str], OutgoingMessage]
Progress = Callable[[int, int], None]


@dataclass
class Plan:
    campaign: Campaign
    to_send: list[Recipient]
    skipped: list[tuple[Recipient, str]]
    in_flight: int = 0  # left `sending` by an interrupted run: may be sent a second time
    resend_maybe_delivered: int = 0  # maybe delivered before, sent again on request
    deposited_before: int = 0  # deposited in var/outbox by a trial, now really sent
    delivers: bool = True  # False: the transport only deposits (outbox)

    def skip_counts(self) -> Counter[str]:
        return Counter(reason for _, reason in self.skipped)


@dataclass
class Summary:
    campaign: Campaign
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, reason)
    resent_in_flight: int = 0
    remaining: int = 0  # not attempted because the run stopped
    stopped: str = ""  # why the run stopped early
    check: str = ""  # what to verify when the stop is a configuration problem (French)
    # (address, reason): the whole message left but its final reply was lost
    maybe_delivered: list[tuple[str, str]] = field(default_factory=list)
    delivers: bool = True  # False: `sent` messages were only deposited in var/outbox

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stopped and not self.maybe_delivered


class SendLockedError(CommsError):
    """Another send is running on the same journal."""


@contextmanager
def send_lock(journal_path: Path) -> Iterator[None]:
    """One send at a time per journal; released by the system even after kill -9."""
    path = journal_path.with_suffix(".lock")
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SendLockedError(
                "Un autre envoi est déjà en cours pour ce territoire. Attendez qu’il se "
                "termine (ou interrompez-le), puis relancez la commande.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plan(journal: Journal, campaign: Campaign, recipients: Iterable[Recipient],
         skipped: Iterable[tuple[Recipient, str]] = (), *,
         resend_maybe_delivered: bool = False, delivers: bool = True) -> Plan:
    """Who would receive the campaign now, and who is skipped and why. Writes nothing.
    A message maybe delivered (final reply lost) is skipped unless
    `resend_maybe_delivered`. `delivers`: whether the transport really sends (False for
    outbox); a message a trial only deposited in var/outbox is sent by a real transport,
    never deposited twice."""
    states = journal.states(campaign.id)
    deposited = journal.deposited(campaign.id)
    suppressed = journal.suppressed(campaign.unsubscribe_scope)
    uncertain = journal.maybe_delivered(campaign.id)
    result = Plan(campaign, [], list(skipped), delivers=delivers)
    seen: set[str] = set()
    for recipient in recipients:
        key = recipient.key
        status = states.get(key, ("", ""))[0]
        if key in seen:
            result.skipped.append((recipient, SKIP_DUPLICATE))
        elif key in suppressed:
            reason = SKIP_BOUNCED if suppressed[key].reason == BOUNCE else SKIP_UNSUBSCRIBED
            result.skipped.append((recipient, reason))
        elif status == SENT and key in deposited and delivers:
            result.to_send.append(recipient)
            result.deposited_before += 1
        elif status == SENT:
            result.skipped.append((recipient, SKIP_ALREADY_DEPOSITED if key in deposited
                                   else SKIP_ALREADY_SENT))
        elif key in uncertain and not resend_maybe_delivered:
            result.skipped.append((recipient, SKIP_MAYBE_DELIVERED))
        else:
            result.to_send.append(recipient)
            result.in_flight += status == SENDING
            result.resend_maybe_delivered += key in uncertain
        seen.add(key)
    return result


class _Stop(Exception):
    """The run cannot usefully go on (server down, long Retry-After, relay refusing us);
    `check`: what to verify, when it is a configuration problem."""

    def __init__(self, message: str, check: str = ""):
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class Outcome:
    """How one recipient's delivery ended."""

    status: str  # SENT or FAILED
    error: str = ""
    permanent: bool = False
    bounce: bool = False  # the address itself was refused
    reply: str = ""  # the refusal without the address, to spot the same one repeated
    maybe_delivered: bool = False


def _wait(policy: RetryPolicy, attempt: int, exc: TransientError,
          sleep: Callable[[float], None], rng: random.Random) -> None:
    delay = policy.delay(attempt, exc.retry_after, rng)
    if delay > policy.max_wait:
        raise _Stop(f"le service d’envoi demande d’attendre {delay / 60:.0f}\u00a0min "
                    f"({exc.message})")
    sleep(delay)


def _open(transport: Transport, policy: RetryPolicy, sleep: Callable[[float], None],
          rng: random.Random) -> None:
    """Connect, retrying a temporary failure; CommsError when the service stays away."""
    for attempt in range(1, policy.max_attempts + 1):
        try:
            transport.open()
            return
        except TransientError as exc:
            if attempt == policy.max_attempts:
                raise CommsError(
                    f"Impossible de joindre le service d’envoi ({transport.name})"
                    f"\u00a0: {exc.message}. Aucun message n’a été envoyé\u00a0; relancez "
                    "la même commande plus tard.") from None
            try:
                _wait(policy, attempt, exc, sleep, rng)
            except _Stop as stop:
                raise CommsError(f"Envoi impossible pour le moment\u00a0: {stop}. Aucun "
                                 "message n’a été envoyé.") from None


def signer_for(transport: Transport, settings: Settings) -> Signer | None:
    """The DKIM signer for what `transport` sends, or None: DKIM not configured, or a
    transport that does not send raw bytes (an HTTP API). ConfigError for a wrong key or
    setting (see `comms.send.signing.Signer.from_settings`)."""
    # Imported here: dkimpy, dnspython and cryptography are loaded only by a send that may
    # sign, never by a build that imports this module for its dataclasses.
    from comms.send.signing import Signer

    return Signer.from_settings(settings) if transport.sends_raw else None


def _check_alignment(signer: Signer | None, settings: Settings, factory: Factory,
                     recipients: Sequence[Recipient], domain: str) -> None:
    """ConfigError before anything is journalled when the campaign's From domain is not
    aligned with DKIM_DOMAIN (every message of a campaign has the same From)."""
    if signer is None or not recipients:
        return
    try:
        first = factory(recipients[0], f"<alignment-check@{domain}>")
    except CommsError:
        return  # that recipient's own problem, reported by the loop
    signer.check_aligned(first.sender.email, settings)


class _Loop:
    def __init__(self, journal: Journal, campaign: Campaign, transport: Transport,
                 policy: RetryPolicy, limiter: RateLimiter, sleep: Callable[[float], None],
                 rng: random.Random, signer: Signer | None = None,
                 settings: Settings | None = None):
        self.journal = journal
        self.campaign = campaign
        self.transport = transport
        self.policy = policy
        self.limiter = limiter
        self.sleep = sleep
        self.rng = rng
        self.signer = signer
        self.settings = settings
        # Where the next message is signed while the current one is sent (DKIM only).
        self.executor: Executor | None = None

    def sign(self, message: OutgoingMessage) -> OutgoingMessage:
        """The message with its DKIM signature when signing is on (made in the background
        when the loop has an executor); ConfigError (the whole run stops, nothing marked
        sent) when its From is not aligned."""
        if self.signer is None or self.settings is None:
            return message
        return self.signer.sign(message, self.settings, self.executor)

    def open(self) -> None:
        _open(self.transport, self.policy, self.sleep, self.rng)

    def _wait(self, attempt: int, exc: TransientError) -> None:
        self.journal.commit()
        _wait(self.policy, attempt, exc, self.sleep, self.rng)

    def deliver(self, key: str, message: OutgoingMessage) -> Outcome:
        """Attempt after attempt until sent or given up; a bounce is NOT recorded here (the
        caller first makes sure the same refusal is not coming for everybody)."""
        journal, campaign = self.journal, self.campaign.id
        for attempt in range(1, self.policy.max_attempts + 1):
            if self.limiter.interval:
                journal.commit()  # the previous `sent` is not held over a pause
            self.limiter.wait()
            # Commits the previous recipient's `sent` in the same transaction.
            journal.mark_sending(campaign, key, self.transport.name)
            try:
                result: SendResult = self.transport.send(message)
            except TransientError as exc:
                journal.mark_pending(campaign, key, exc.message)
                if attempt == self.policy.max_attempts:
                    journal.mark_failed(campaign, key, exc.message, permanent=False)
                    return Outcome(FAILED, exc.message)
                self._wait(attempt, exc)
                continue
            except MaybeDeliveredError as exc:
                journal.mark_maybe_delivered(campaign, key, exc.message)
                return Outcome(FAILED, exc.message, maybe_delivered=True)
            except PolicyRefusal as exc:
                journal.mark_pending(campaign, key, exc.message)
                raise _Stop(f"{exc.message}. Personne n’a été écarté de la liste",
                            exc.check) from None
            except PermanentError as exc:
                journal.mark_failed(campaign, key, exc.message, permanent=True)
                return Outcome(FAILED, exc.message, True, exc.bounce, exc.reply)
            except CommsError as exc:
                # Refused credentials, TLS...: the transport knows nothing left.
                journal.mark_pending(campaign, key, exc.message)
                raise
            journal.mark_sent(campaign, key, result.provider_id, hold=True)
            return Outcome(SENT)
        raise AssertionError("unreachable")


def run(journal: Journal, campaign: Campaign, recipients: Sequence[Recipient],
        factory: Factory, transport: Transport, settings: Settings, *,
        skipped: Iterable[tuple[Recipient, str]] = (), progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        resend_maybe_delivered: bool = False) -> Summary:
    """Send every message of `campaign` not sent yet; safe to interrupt and run again.

    A message whose final reply was lost is reported in `Summary.maybe_delivered` and never
    sent again, in this run or a later one, unless `resend_maybe_delivered`. A relay refusing
    us (RFC 3463 5.7.x) or the same permanent refusal for several recipients in a row stops
    the run (`Summary.stopped`, `Summary.check`) and suppresses nobody.

    With DKIM configured and a transport that sends raw bytes, every message is signed
    (RFC 6376); a wrong key or a DKIM domain not aligned with From raises ConfigError
    before anything is journalled or sent."""
    secret = settings.require_secret()
    signer = signer_for(transport, settings)
    _check_alignment(signer, settings, factory, recipients, campaign.domain)
    policy = RetryPolicy.from_settings(settings)
    limiter = RateLimiter(settings.rate_per_minute if transport.rate_limited else 0,
                          clock, sleep)
    loop = _Loop(journal, campaign, transport, policy, limiter, sleep, rng or random.Random(),
                 signer, settings)
    with send_lock(journal.path):
        journal.record_campaign(campaign.id, kind=campaign.kind, ref=campaign.ref,
                                scope=campaign.scope, year=campaign.year,
                                subject=campaign.subject)
        the_plan = plan(journal, campaign, recipients, skipped,
                        resend_maybe_delivered=resend_maybe_delivered,
                        delivers=transport.delivers)
        summary = Summary(campaign, skipped=the_plan.skip_counts(),
                          delivers=transport.delivers)
        if not the_plan.to_send:
            return summary
        journal.add_messages(campaign.id, (
            (r.key, message_id(campaign.id, r.key, secret, campaign.domain))
            for r in the_plan.to_send))
        loop.open()
        executor = ThreadPoolExecutor(1, "dkim") if signer is not None else None
        loop.executor = executor
        try:
            if transport.batch > 1 and not limiter.interval:
                _deposit_all(loop, the_plan.to_send, factory, summary, progress)
            else:
                _send_all(loop, the_plan.to_send, factory, summary, progress)
        except _Stop as stop:
            summary.stopped = str(stop)
            summary.check = stop.check
        finally:
            journal.commit()
            transport.close()
            if executor is not None:
                executor.shutdown(cancel_futures=True)
        return summary


class _Refusals:
    """Permanent refusals of the current run of recipients refused with the same reply.
    Their bounces are recorded only once a different outcome shows that the refusal was
    about those addresses, not about us (RFC 3463 gives no other way to tell)."""

    def __init__(self, journal: Journal, campaign: str, source: str):
        self.journal, self.campaign, self.source = journal, campaign, source
        self.reply = ""
        self.held: list[tuple[str, Outcome]] = []  # (key, outcome)

    def add(self, key: str, outcome: Outcome) -> int:
        """Hold one refusal; how many in a row share its reply."""
        if outcome.reply != self.reply:
            self.settle()
            self.reply = outcome.reply
        self.held.append((key, outcome))
        return len(self.held)

    def settle(self) -> None:
        """The run of identical refusals ended: record the bounces it held."""
        for key, outcome in self.held:
            if outcome.bounce:
                self.journal.suppress(key, BOUNCE, self.source, outcome.error)
        self.held, self.reply = [], ""

    def release(self) -> list[str]:
        """The refusals were about us: their recipients go back to pending, unsuppressed."""
        keys = [key for key, _ in self.held]
        for key in keys:
            self.journal.mark_pending(self.campaign, key, self.held[0][1].error)
        self.held, self.reply = [], ""
        return keys


def _send_all(loop: _Loop, to_send: list[Recipient], factory: Factory, summary: Summary,
              progress: Progress | None) -> None:
    journal, campaign = loop.journal, loop.campaign.id

    def prepare(recipient: Recipient, mid: str) -> OutgoingMessage | CommsError:
        try:
            message = factory(recipient, mid)
        except CommsError as exc:  # that recipient's own problem
            return exc
        return loop.sign(message)

    # The next recipient's message, prepared (and being signed) while this one is sent:
    # (key, message). Dropped if that recipient is suppressed meanwhile.
    ahead: tuple[str, OutgoingMessage | CommsError] | None = None
    refusals = _Refusals(journal, campaign, loop.transport.name)
    consecutive = 0
    total = len(to_send)
    for done, recipient in enumerate(to_send, 1):
        summary.remaining = total - done + 1
        key = recipient.key
        # Read row by row: memory stays flat whatever the number of recipients.
        row = journal.message(campaign, key)
        assert row is not None, key  # added by `run` before the loop
        status_before, mid = row.status, row.message_id
        # may have come in during a long run
        suppression = journal.suppression(key, loop.campaign.unsubscribe_scope)
        if suppression is not None:
            reason = SKIP_BOUNCED if suppression.reason == BOUNCE else SKIP_UNSUBSCRIBED
            journal.mark_skipped(campaign, key, reason)
            summary.skipped[reason] += 1
        else:
            message = ahead[1] if ahead is not None and ahead[0] == key \
                else prepare(recipient, mid)
            ahead = None
            if isinstance(message, CommsError):
                journal.mark_failed(campaign, key, message.message, permanent=True)
                summary.failed.append((recipient.email, message.message))
                continue
            if loop.executor is not None and done < total:
                upcoming = to_send[done]
                row = journal.message(campaign, upcoming.key)
                if row is not None:
                    ahead = (upcoming.key, prepare(upcoming, row.message_id))
            outcome = loop.deliver(key, message)
            if outcome.permanent:
                summary.failed.append((recipient.email, outcome.error))
                consecutive = 0
                if refusals.add(key, outcome) >= STOP_AFTER_SAME_REFUSAL:
                    released = set(refusals.release())
                    summary.failed = [(a, e) for a, e in summary.failed
                                      if a.strip().lower() not in released]
                    summary.remaining = total - done + len(released)
                    raise _Stop(f"{len(released)} destinataires de suite refusés avec la même "
                                f"réponse ({outcome.error}) : c’est la configuration de "
                                "l’envoi qui est en cause, pas ces adresses. Personne n’a été "
                                "écarté de la liste", SAME_REFUSAL_CHECK)
                if progress is not None:
                    progress(done, total)
                continue
            refusals.settle()
            if outcome.status == SENT:
                summary.sent += 1
                summary.resent_in_flight += status_before == SENDING
                consecutive = 0
            else:
                if outcome.maybe_delivered:
                    summary.maybe_delivered.append((recipient.email, outcome.error))
                else:
                    summary.failed.append((recipient.email, outcome.error))
                consecutive += 1
                if consecutive >= STOP_AFTER_CONSECUTIVE_FAILURES:
                    summary.remaining = total - done
                    raise _Stop(f"{consecutive} destinataires de suite en échec temporaire "
                                f"(dernière erreur : {outcome.error})")
        if progress is not None:
            progress(done, total)
    refusals.settle()
    summary.remaining = 0


def _deposit_all(loop: _Loop, to_send: list[Recipient], factory: Factory, summary: Summary,
                 progress: Progress | None) -> None:
    """The loop for a transport that keeps messages on this machine and makes them durable a
    batch at a time (`Transport.batch`, the outbox), paying one journal commit and one
    grouped sync of the files per batch instead of two fsyncs per message.

    For each batch: its rows are marked `sending` and committed (with the previous batch's
    `sent`); the transport takes every message, and while it writes them the next batch is
    built (the suppression list read once for it); then `flush` makes the batch durable,
    and only then is it marked `sent`, held for the next commit. So the journal never
    records as deposited a file a crash or a power cut could lose (`synchronous=FULL`
    stays). A kill before that commit leaves the batch `sending`: the next run deposits
    those messages again with the same Message-IDs, and the outbox names each file after
    its Message-ID and recipient, so the new copy replaces the old one. Such a transport
    raises no DeliveryError; a CommsError (disk full) stops the run with the batch still
    `sending`."""
    journal, campaign, transport = loop.journal, loop.campaign.id, loop.transport
    size = transport.batch
    batches = [to_send[start:start + size] for start in range(0, len(to_send), size)]

    def prepare(batch: list[Recipient]) -> list[tuple[Recipient, OutgoingMessage, bool]]:
        """The batch's messages (and whether each was in flight), without the addresses
        suppressed meanwhile (a long run) and those whose message cannot be built (recorded
        as failed). The journal is read row by row: memory stays flat whatever the number
        of recipients."""
        suppressed = journal.suppressed(loop.campaign.unsubscribe_scope)
        ready = []
        for recipient in batch:
            row = journal.message(campaign, recipient.key)
            assert row is not None, recipient.key  # added by `run` before the loop
            suppression = suppressed.get(recipient.key)
            if suppression is not None:
                reason = SKIP_BOUNCED if suppression.reason == BOUNCE else SKIP_UNSUBSCRIBED
                journal.mark_skipped(campaign, recipient.key, reason)
                summary.skipped[reason] += 1
                continue
            try:
                message = factory(recipient, row.message_id)
            except CommsError as exc:
                journal.mark_failed(campaign, recipient.key, exc.message, permanent=True)
                summary.failed.append((recipient.email, exc.message))
                continue
            ready.append((recipient, loop.sign(message), row.status == SENDING))
        return ready

    total, done = len(to_send), 0
    ready = prepare(batches[0]) if batches else []
    for index, batch in enumerate(batches):
        summary.remaining = total - done
        journal.mark_batch_sending(campaign, [r.key for r, _, _ in ready], transport.name)
        results = [(r.key, transport.send(m).provider_id) for r, m, _ in ready]
        following = prepare(batches[index + 1]) if index + 1 < len(batches) else []
        transport.flush()
        journal.mark_batch_sent(campaign, results)
        summary.sent += len(ready)
        summary.resent_in_flight += sum(in_flight for _, _, in_flight in ready)
        ready = following
        for _ in batch:
            done += 1
            if progress is not None:
                progress(done, total)
    summary.remaining = 0


def send_one(transport: Transport, message: OutgoingMessage, settings: Settings,
             sleep: Callable[[float], None] = time.sleep) -> SendResult:
    """One message outside any campaign (a test copy): retried, never journalled."""
    policy = RetryPolicy.from_settings(settings)
    rng = random.Random()
    signer = signer_for(transport, settings)
    if signer is not None:
        message = signer.sign(message, settings)
    _open(transport, policy, sleep, rng)
    try:
        for attempt in range(1, policy.max_attempts + 1):
            try:
                result = transport.send(message)
                transport.flush()
                return result
            except TransientError as exc:
                if attempt == policy.max_attempts:
                    raise CommsError(f"Envoi de l’exemplaire de test impossible\u00a0: "
                                     f"{exc.message}") from None
                try:
                    _wait(policy, attempt, exc, sleep, rng)
                except _Stop as stop:
                    raise CommsError(f"Envoi de l’exemplaire de test impossible\u00a0: "
                                     f"{stop}") from None
            except PolicyRefusal as exc:
                raise CommsError(f"Exemplaire de test refusé\u00a0: {exc.message}\u00a0; "
                                 f"{exc.check}.") from None
            except PermanentError as exc:
                raise CommsError(f"Exemplaire de test refusé\u00a0: {exc.message}") from None
            except MaybeDeliveredError as exc:
                raise CommsError(f"Exemplaire de test sans confirmation\u00a0: "
                                 f"{exc.message}.") from None
    finally:
        transport.close()
    raise AssertionError("unreachable")
