"""Calendar invitations: who must receive which version of each event, and sending it.

An event's invitations are a series of *versions*, each a campaign of the send journal:
`invite-<event>-s<sequence>-<request|cancel>` (then `-2`, `-3`… for a later version with the
same SEQUENCE, such as a second withdrawal). The SEQUENCE is the event's revision
(`comms.calendar.revisions`, kept with the content), the same as in the published feeds and
the newsletter's files. A version is recorded (event, sequence, method, fingerprint of the
significant fields) before any of its messages is sent; what an attendee
holds is the latest version of which a message to them is marked sent in `messages`. Both
live in the journal, so a run killed at any moment is finished by the next one: a message
left `sending` is sent again in the same campaign, with the same Message-ID, and a message
marked sent is never planned again. `invitation_state` mirrors what each attendee holds, for
people and reports; it is refreshed from `messages` and never read to decide what to send.

The planner follows RFC 5546:
- someone in the audience who holds nothing (or a cancellation) gets the current REQUEST;
- someone whose copy is older than the event's revision gets an update (same UID, a higher
  SEQUENCE, a fresh DTSTAMP) that says what changed;
- someone who left the audience gets a CANCEL naming only them, without STATUS, at the
  event's current SEQUENCE (the event itself did not change; a later DTSTAMP orders it);
- a cancelled event sends a CANCEL to everyone who holds an invitation, and nothing to anyone
  else.
A version is reused while it is the latest of its method at the current revision and newer
than what the recipient holds; otherwise a new version of the same revision is recorded.
Events that ended before today are left alone, and so is an event whose instance schedules
its invitation (`sequence: invitation: -30`) while that day has not come.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from comms.calendar.ics import event_uid
from comms.calendar.revisions import Revisions, fingerprint, significant_fields
from comms.content.source import key_line
from comms.directory import Directory, Partner, check_email
from comms.errors import ContentError, Problem, closest
from comms.french import count
from comms.invitations.imip import (
    CANCEL,
    CANCELLATION,
    INVITATION,
    REQUEST,
    SESSION_CANCEL,
    SESSION_MOVE,
    UPDATE,
    WITHDRAWAL,
    ImipTemplate,
    InvitationCalendar,
    Rendered,
    describe_changes,
    organizer_of,
    personal_values,
    render_invitation,
    subject,
)
from comms.model import Address, Event, Instance, Project
from comms.send.campaign import Campaign, Recipient, Summary
from comms.send.journal import BOUNCE, Journal
from comms.send.message import OutgoingMessage
from comms.send.tokens import instance_scope
from comms.send.transports.base import Transport
from comms.settings import Settings

KIND = "invitation"  # campaigns.kind, counted by `comms report`
LABELS = {INVITATION: "invitation", UPDATE: "mise à jour", CANCELLATION: "annulation",
          WITHDRAWAL: "invitation retirée", SESSION_CANCEL: "séance annulée",
          SESSION_MOVE: "séance déplacée"}
SESSION_TAG = "occurrence"  # campaign ids of versions that carry some sessions only
SKIP_DIRECTORY = "désinscrit dans l’annuaire"
# RFC 5546 section 3.2.2: a REQUEST goes from the organizer to the attendees; Outlook tells
# an organizer invited to her own meeting that she need not answer, and may not file it.
SKIP_ORGANIZER = "organise la réunion (ses abonnements aux agendas la lui montrent)"
SKIP_UNSUBSCRIBED = "désinscrit"
SKIP_BOUNCED = "adresse en échec définitif"
PAST = "past"
NOT_YET = "not_yet"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(event_id: str) -> str:
    """An event id usable in a campaign id and a Message-ID (file stems may hold spaces)."""
    return _UNSAFE.sub("-", event_id).strip("-.") or "evenement"


def campaign_id(event_id: str, sequence: int, method: str) -> str:
    return f"invite-{safe_id(event_id)}-s{sequence}-{method.lower()}"


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    name: str = ""
    partner: Partner | None = None

    @property
    def key(self) -> str:
        return self.email.strip().lower()


@dataclass(frozen=True)
class Version:
    """One version of an event's invitation, sent as one campaign; `serial` counts the
    versions of the same method at the same SEQUENCE (1 for the first)."""

    event_id: str
    uid: str
    sequence: int
    method: str  # REQUEST | CANCEL
    fingerprint: str
    serial: int = 1
    sessions: bool = False  # carries some sessions of a series only (RECURRENCE-ID)

    @property
    def campaign(self) -> str:
        base = campaign_id(self.event_id, self.sequence, self.method)
        if self.sessions:
            base += f"-{SESSION_TAG}"
        return base if self.serial == 1 else f"{base}-{self.serial}"

    @property
    def withdraws(self) -> bool:
        """A CANCEL of the whole event for its recipient (not of some sessions)."""
        return self.method == CANCEL and not self.sessions


@dataclass(frozen=True)
class Held:
    """The version an attendee last received (its message is marked sent)."""

    version: Version
    sent_at: str


@dataclass(frozen=True)
class Delivery:
    attendee: Attendee
    kind: str  # INVITATION | UPDATE | CANCELLATION | WITHDRAWAL
    version: Version
    previous: int | None = None  # UPDATE: the SEQUENCE the attendee holds
    sessions: tuple[date, ...] = ()  # SESSION_*: the dates of the series concerned


@dataclass
class EventPlan:
    """What `comms invite` would send for one event, and why not when nothing."""

    event: Event
    instance: Instance
    deliveries: list[Delivery] = field(default_factory=list)
    skipped: list[tuple[Attendee, str]] = field(default_factory=list)
    new_versions: list[Version] = field(default_factory=list)
    state: str = ""  # PAST, NOT_YET, or "" when planned
    invitation_day: date | None = None  # NOT_YET: when the invitation step comes
    holders: int = 0  # attendees who hold a version already (invitation or cancellation)
    revisions: Revisions | None = None  # the ledger this plan read (saved before sending)

    @property
    def versions(self) -> list[Version]:
        """The versions used by the deliveries, in sequence order."""
        seen = {d.version.campaign: d.version for d in self.deliveries}
        return sorted(seen.values(), key=lambda v: v.sequence)

    def of_kind(self, kind: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.kind == kind]


# --------------------------------------------------------------------------- audience


def instance_of(project: Project, event: Event) -> Instance:
    return project.instances[event.instance]


def audience_lists(project: Project, event: Event) -> tuple[str, ...]:
    return event.audience if event.audience else instance_of(project, event).audience


def audience(project: Project, event: Event,
             directory: Directory) -> tuple[list[Attendee], list[tuple[Attendee, str]]]:
    """The event's attendees (its lists, then its extra addresses), each once, and those left
    out with the reason: the organizer of the meeting (never an attendee of her own
    invitation, its updates, cancellations or the journée's steps) and those the directory
    marks as unsubscribed."""
    attendees: list[Attendee] = []
    skipped: list[tuple[Attendee, str]] = []
    seen: set[str] = set()
    organizer = organizer_of(project.site, instance_of(project, event)).email.strip().lower()

    def add(person: Attendee) -> None:
        if person.key in seen:
            return
        seen.add(person.key)
        partner = person.partner
        if person.key == organizer:
            skipped.append((person, SKIP_ORGANIZER))
        elif partner is not None and partner.unsubscribed_on is not None:
            skipped.append((person, SKIP_DIRECTORY))
        else:
            attendees.append(person)

    for list_name in audience_lists(project, event):
        for partner in directory.members(list_name):
            add(Attendee(partner.email, partner.name, partner))
    for address in event.attendees:
        try:
            address = check_email(address)
        except ValueError:
            continue  # reported by check_audiences
        partner = directory.find(address)
        add(Attendee(address, partner.name if partner else "", partner))
    return attendees, skipped


def check_audiences(project: Project, directory: Directory,
                    events: Iterable[Event]) -> list[Problem]:
    """What `comms check` cannot know without the directory: audience lists nobody belongs
    to (and that comms.yaml does not declare), extra addresses email-validator refuses."""
    present = directory.list_names()
    declared = set(project.site.lists)
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()
    for event in events:
        instance = instance_of(project, event)
        own = bool(event.audience)
        for name in audience_lists(project, event):
            if name in present or name in declared:
                continue
            where = event.id if own else instance.id
            if (where, name) in reported:
                continue
            reported.add((where, name))
            guess = closest(name, present)
            hint = ((f"vouliez-vous écrire «\u00a0{guess}\u00a0»\u00a0? " if guess else "")
                    + f"ajoutez la liste «\u00a0{name}\u00a0» à des partenaires de l’annuaire "
                    f"({directory.path.name}, colonne lists), ou déclarez-la dans "
                    "comms.yaml (lists:) si elle doit rester vide")
            message = f"la liste «\u00a0{name}\u00a0» n’a aucun membre dans l’annuaire"
            if own:
                problems.append(Problem(event.source, key_line(event.source, "audience"),
                                        "audience", message, hint))
            else:
                problems.append(Problem(instance.source, key_line(
                    instance.source, instance.id, "audience"), f"{instance.id}.audience",
                    message, hint))
        for address in event.attendees:
            try:
                check_email(address)
            except ValueError as exc:
                problems.append(Problem(
                    event.source, key_line(event.source, "attendees", value=address),
                    "attendees", f"«\u00a0{address}\u00a0» n’est pas une adresse "
                    f"électronique valide ({exc})",
                    "écrivez une adresse comme prenom.nom@exemple.fr"))
    return problems


def require_valid_audiences(project: Project, directory: Directory,
                            events: Iterable[Event]) -> None:
    problems = check_audiences(project, directory, events)
    if problems:
        raise ContentError(problems, f"{count(len(problems), 'erreur')} dans les destinataires des "
                           "invitations. Rien n’a été envoyé.")


# --------------------------------------------------------------------------- the journal


def _version(row) -> Version:
    base = campaign_id(row["event_id"], row["sequence"], row["method"])
    tail = row["campaign"][len(base) + 1:]
    sessions = tail == SESSION_TAG or tail.startswith(f"{SESSION_TAG}-")
    tail = tail.removeprefix(SESSION_TAG).lstrip("-")
    return Version(row["event_id"], row["uid"], row["sequence"], row["method"],
                   row["fingerprint"], int(tail) if tail.isdigit() else 1, sessions)


def recorded_versions(journal: Journal) -> dict[str, list[Version]]:
    """event id -> its versions, in sequence order."""
    out: dict[str, list[Version]] = {}
    for row in journal.db.execute("SELECT * FROM invitation_versions "
                                  "ORDER BY sequence, rowid"):
        out.setdefault(row["event_id"], []).append(_version(row))
    return out


def held_versions(journal: Journal, delivered_only: bool = True) -> dict[str, dict[str, Held]]:
    """event id -> attendee -> the latest version a message to them was marked sent for:
    really delivered, or, when not `delivered_only` (planning another outbox trial), also
    deposited in var/outbox. Read from `messages` itself, so that nothing can lag behind a
    crash."""
    out: dict[str, dict[str, Held]] = {}
    delivered = "AND m.transport != 'outbox'" if delivered_only else ""
    for row in journal.db.execute(f"""
            SELECT v.*, m.recipient, m.sent_at FROM messages m
            JOIN invitation_versions v ON v.campaign = m.campaign
            WHERE m.status = 'sent' {delivered}
            ORDER BY v.sequence, v.rowid"""):
        out.setdefault(row["event_id"], {})[row["recipient"]] = Held(_version(row),
                                                                     row["sent_at"] or "")
    return out


def record_versions(journal: Journal, versions: Iterable[Version]) -> None:
    """Record new versions, in one transaction, before any of their messages is sent."""
    rows = [(v.campaign, v.event_id, v.uid, v.sequence, v.method, v.fingerprint, journal.now())
            for v in versions]
    if not rows:
        return
    journal.db.execute("BEGIN IMMEDIATE")
    try:
        journal.db.executemany(
            "INSERT OR IGNORE INTO invitation_versions VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        journal.db.execute("COMMIT")
    except BaseException:
        journal.db.execute("ROLLBACK")
        raise


def sync_state(journal: Journal) -> int:
    """Bring `invitation_state` up to what `messages` says was sent; rows changed."""
    changed = 0
    current = {(r["event_id"], r["email"]): r["campaign"]
               for r in journal.db.execute("SELECT event_id, email, campaign "
                                           "FROM invitation_state")}
    rows = []
    for event_id, attendees in held_versions(journal).items():
        for email, held in attendees.items():
            v = held.version
            if current.get((event_id, email)) == v.campaign:
                continue
            rows.append((event_id, email, v.uid, v.sequence, v.fingerprint,
                         "cancelled" if v.withdraws else "invited", v.campaign,
                         held.sent_at))
    if rows:
        journal.db.execute("BEGIN IMMEDIATE")
        try:
            journal.db.executemany(
                "INSERT INTO invitation_state VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(event_id, email) DO UPDATE SET uid = excluded.uid, "
                "sequence = excluded.sequence, fingerprint = excluded.fingerprint, "
                "status = excluded.status, campaign = excluded.campaign, "
                "sent_at = excluded.sent_at", rows)
            journal.db.execute("COMMIT")
        except BaseException:
            journal.db.execute("ROLLBACK")
            raise
        changed = len(rows)
    return changed


# --------------------------------------------------------------------------- planning


def last_day(event: Event, today: date) -> date:
    """The last day of the event or of its series (today's horizon is enough)."""
    if event.repeat is None:
        return event.last_day
    from comms.calendar.recurrence import occurrences

    later = occurrences(event, today, today + timedelta(days=366 * 30))
    return later[-1].last_day if later else event.first_day


def is_past(event: Event, today: date) -> bool:
    """Ended before today (for a series: its last date)."""
    return last_day(event, today) < today


def invitation_day(instance: Instance, event: Event) -> date | None:
    """The day of the `invitation` step of an instance's sequence, if it has one."""
    offset = instance.sequence.get("invitation")
    return None if offset is None else event.first_day + timedelta(days=offset)


@dataclass
class _Versions:
    """An event's versions while planning: the recorded ones (in the order they were
    recorded) and those this run adds, all at most at the current revision's SEQUENCE."""

    event: Event
    uid: str
    current: str  # fingerprint of the event as written now
    sequence: int  # its revision's SEQUENCE
    known: list[Version]
    added: list[Version] = field(default_factory=list)

    def _order(self, version: Version) -> int:
        campaigns = [v.campaign for v in self.known]
        return campaigns.index(version.campaign) if version.campaign in campaigns else -1

    def for_(self, method: str, held: Held | None, sessions: bool = False) -> Version:
        same = [v for v in self.known if v.method == method and v.sequence == self.sequence
                and v.fingerprint == self.current and v.sessions == sessions]
        if same and (held is None or self._order(held.version) < self._order(same[-1])):
            return same[-1]
        serial = 1 + sum(1 for v in self.known if v.method == method
                         and v.sequence == self.sequence and v.sessions == sessions)
        version = Version(self.event.id, self.uid, self.sequence, method, self.current, serial,
                          sessions)
        self.known.append(version)
        self.added.append(version)
        return version


def session_changes(before: dict, now: dict) -> tuple[tuple[date, ...], tuple[date, ...]] | None:
    """(sessions cancelled, sessions moved) when a series changed only in those, else None
    (then the whole series is updated). Arguments: significant fields of two revisions."""
    rest = ("except", "moved")
    if {k: v for k, v in before.items() if k not in rest} != {
            k: v for k, v in now.items() if k not in rest} or not now.get("rrule"):
        return None
    was, is_ = set(before.get("except") or []), set(now.get("except") or [])
    if not was <= is_:
        return None  # a cancelled session restored: the series is sent again
    moved_before = dict(map(tuple, before.get("moved") or []))
    moved_now = dict(map(tuple, now.get("moved") or []))
    moved = {d for d in moved_before.keys() | moved_now.keys()
             if moved_before.get(d) != moved_now.get(d) and d not in is_}
    cancelled = is_ - was
    if not cancelled and not moved:
        return None
    return (tuple(date.fromisoformat(d) for d in sorted(cancelled)),
            tuple(date.fromisoformat(d) for d in sorted(moved)))


def journal_floor(versions: list[Version], current: str) -> int:
    """The lowest SEQUENCE the event's revision may have, given what the journal sent: never
    below a version sent, and above one sent with other significant fields."""
    return max((v.sequence + (v.fingerprint != current) for v in versions), default=0)


def plan_event(project: Project, event: Event, directory: Directory, today: date,
               versions: list[Version], held: dict[str, Held],
               suppressed: dict[str, str], revisions: Revisions) -> EventPlan:
    """What to send for one event; `suppressed`: address -> reason never to write to it;
    `revisions`: the content root's ledger (updated in memory, not saved)."""
    instance = instance_of(project, event)
    result = EventPlan(event, instance, holders=len(held), revisions=revisions)
    if is_past(event, today):
        result.state = PAST
        return result
    attendees, result.skipped = audience(project, event, directory)
    day = invitation_day(instance, event)
    if not held and day is not None and today < day:
        result.state = NOT_YET
        result.invitation_day = day
        return result
    wanted: dict[str, Attendee] = {}
    for person in attendees:
        if person.key in suppressed:
            result.skipped.append((person, suppressed[person.key]))
        else:
            wanted[person.key] = person
    excluded = {p.key for p, _ in result.skipped}
    current = fingerprint(event)
    revision = revisions.of(event, floor=journal_floor(versions, current))
    plan = _Versions(event, event_uid(event, project.site.domain), current, revision.sequence,
                     list(versions))
    if not event.cancelled:
        for key, person in wanted.items():
            mine = held.get(key)
            if mine is None or mine.version.withdraws:
                result.deliveries.append(Delivery(person, INVITATION,
                                                  plan.for_(REQUEST, mine)))
            elif (mine.version.fingerprint != plan.current
                  or mine.version.sequence != plan.sequence):
                before = revisions.at(event.id, mine.version.sequence)
                changed = session_changes(before.fields, significant_fields(event)) \
                    if before is not None else None
                if changed is None:
                    result.deliveries.append(Delivery(
                        person, UPDATE, plan.for_(REQUEST, mine), mine.version.sequence))
                    continue
                cancelled, moved = changed
                if cancelled:
                    result.deliveries.append(Delivery(
                        person, SESSION_CANCEL, plan.for_(CANCEL, mine, sessions=True),
                        mine.version.sequence, cancelled))
                if moved:
                    result.deliveries.append(Delivery(
                        person, SESSION_MOVE, plan.for_(REQUEST, mine, sessions=True),
                        mine.version.sequence, moved))
    for key in sorted(held):
        mine = held[key]
        if mine.version.withdraws or key in excluded or key in suppressed:
            continue
        if event.cancelled or key not in wanted:
            partner = directory.find(key)
            person = Attendee(key, partner.name if partner else "", partner)
            if partner is not None and partner.unsubscribed_on is not None:
                result.skipped.append((person, SKIP_DIRECTORY))  # left the list and unsubscribed
                continue
            kind = CANCELLATION if event.cancelled else WITHDRAWAL
            result.deliveries.append(Delivery(person, kind, plan.for_(CANCEL, mine)))
    result.new_versions = plan.added
    return result


def plan_invitations(project: Project, directory: Directory, journal: Journal, today: date,
                     events: Iterable[Event] | None = None,
                     revisions: Revisions | None = None,
                     delivers: bool = True) -> list[EventPlan]:
    """The plan of every event (or of `events`), in the agenda's order. Writes nothing: the
    revisions it notes are saved by `send_plans`."""
    revisions = Revisions.load(project.site.root) if revisions is None else revisions
    recorded = recorded_versions(journal)
    held = held_versions(journal, delivered_only=delivers)
    chosen = list(project.events if events is None else events)
    return [plan_event(project, e, directory, today, recorded.get(e.id, []),
                       held.get(e.id, {}), _suppressed(journal, instance_of(project, e).id),
                       revisions) for e in chosen]


def _suppressed(journal: Journal, instance_id: str) -> dict[str, str]:
    """address -> why it gets nothing from this instance (bounced, unsubscribed from the
    instance's invitations or from everything)."""
    return {email: SKIP_BOUNCED if s.reason == BOUNCE else SKIP_UNSUBSCRIBED
            for email, s in journal.suppressed(instance_scope(instance_id)).items()}


def forgotten_events(project: Project, journal: Journal) -> list[str]:
    """Ids of events invitations were sent for and whose file is gone: their attendees
    keep them in their calendars (a cancellation needs the file)."""
    known = {e.id for e in project.events}
    held = held_versions(journal)
    return sorted(event_id for event_id, people in held.items() if event_id not in known
                  and any(h.version.method == REQUEST for h in people.values()))


def forgotten_warning(event_id: str) -> str:
    return (f"l’évènement «\u00a0{event_id}\u00a0» a été invité puis son fichier supprimé"
            "\u00a0: ses invités le gardent dans leur agenda (remettez le fichier avec "
            "«\u00a0status: cancelled\u00a0» pour l’annuler)")


# --------------------------------------------------------------------------- sending


class InvitationFactory:
    """recipient + Message-ID -> the iMIP message of one version for that attendee. The
    bodies are rendered and their MIME encoded once per kind (`ImipTemplate`), the calendar
    once per kind and DTSTAMP second (`InvitationCalendar`): an attendee costs her own
    header lines, links and ATTENDEE line."""

    def __init__(self, project: Project, event: Event, version: Version, secret: str,
                 now: Callable[[], datetime] | None = None,
                 revisions: Revisions | None = None):
        self.project = project
        self.revisions = revisions
        self.event = event
        self.instance = instance_of(project, event)
        self.version = version
        self.secret = secret
        self.now = now
        self.scope = instance_scope(self.instance.id)
        organizer = organizer_of(project.site, self.instance)
        self.sender = Address(organizer.name, organizer.email)
        self._rendered: dict[tuple[str, int | None], Rendered] = {}
        self._templates: dict[tuple[str, int | None], ImipTemplate] = {}
        # (withdrawal, sessions) -> its calendar
        self._calendars: dict[tuple[bool, tuple], InvitationCalendar] = {}

    def changes(self, previous: int | None) -> tuple[str, ...]:
        """What changed since the revision `previous` (empty when the ledger lacks it)."""
        if previous is None or self.revisions is None:
            return ()
        held = self.revisions.at(self.event.id, previous)
        if held is None:
            return ()
        return tuple(describe_changes(held.fields, self.event, self.project.site))

    def _key(self, kind: str, previous: int | None) -> tuple[str, int | None]:
        said = kind in (UPDATE, SESSION_CANCEL, SESSION_MOVE)
        return kind, previous if said else None

    def rendered(self, kind: str, previous: int | None = None) -> Rendered:
        key = self._key(kind, previous)
        if key not in self._rendered:
            self._rendered[key] = render_invitation(
                self.project, self.event, self.instance, kind,
                self.changes(previous) if key[1] is not None else ())
        return self._rendered[key]

    def template(self, kind: str, previous: int | None = None) -> ImipTemplate:
        key = self._key(kind, previous)
        if key not in self._templates:
            self._templates[key] = ImipTemplate(
                sender=self.sender, rendered=self.rendered(kind, previous),
                method=self.version.method, site=self.project.site)
        return self._templates[key]

    def __call__(self, recipient: Recipient, message_id: str) -> OutgoingMessage:
        delivery: Delivery = recipient.data
        site = self.project.site
        partner = delivery.attendee.partner
        personal = personal_values(site, self.secret, recipient.email, recipient.name,
                                   partner.first_name if partner else "",
                                   partner.last_name if partner else "",
                                   scope=self.scope)
        version = self.version
        withdrawal = delivery.kind == WITHDRAWAL
        key = (withdrawal, delivery.sessions)
        if key not in self._calendars:  # built once, the attendee line per message
            self._calendars[key] = InvitationCalendar(
                self.event, site, self.instance, method=version.method,
                sequence=version.sequence, withdrawal=withdrawal, sessions=delivery.sessions)
        ics = self._calendars[key]((recipient.name, recipient.email),
                                   self.now() if self.now else None)
        return self.template(delivery.kind, delivery.previous).personalize(
            personal, ics, message_id)


def campaign_of(project: Project, plan: EventPlan, version: Version) -> Campaign:
    kinds = [d.kind for d in plan.deliveries if d.version == version]
    return Campaign(id=version.campaign, kind=KIND, ref=plan.event.id, scope=plan.instance.id,
                    year=plan.event.first_day.year,
                    subject=subject(plan.event, project.site, kinds[0] if kinds else
                                    INVITATION), domain=project.site.domain)


def recipients_of(plan: EventPlan, version: Version) -> list[Recipient]:
    return [Recipient(d.attendee.email, d.attendee.name, d) for d in plan.deliveries
            if d.version == version]


def send_plans(project: Project, plans: Iterable[EventPlan], journal: Journal,
               transport: Transport, settings: Settings, *,
               run: Callable[..., Summary] | None = None,
               now: Callable[[], datetime] | None = None,
               ) -> list[tuple[EventPlan, Version, Summary]]:
    """Send every planned version through the shared send loop, one campaign each; the
    state mirror is refreshed after each one (and at the start of the next run anyway).
    A campaign stopped by a configuration problem (`Summary.check`: the relay refuses us)
    ends the whole sequence: the next campaigns would meet the same refusal, and one too
    small to show it would have its recipients suppressed."""
    from comms.send import campaign as campaigns

    send = run or campaigns.run
    secret = settings.require_secret()
    sync_state(journal)
    plans = list(plans)
    for ledger in {id(p.revisions): p.revisions for p in plans
                   if p.revisions is not None and p.deliveries}.values():
        ledger.save()  # the SEQUENCEs about to be sent are kept with the content first
    out = []
    for plan in plans:
        if not plan.deliveries:
            continue
        record_versions(journal, plan.new_versions)
        for version in plan.versions:
            factory = InvitationFactory(project, plan.event, version, secret, now,
                                        plan.revisions)
            try:
                summary = send(journal, campaign_of(project, plan, version),
                               recipients_of(plan, version), factory, transport, settings)
            finally:
                sync_state(journal)
            out.append((plan, version, summary))
            if summary.check:
                return out
    return out
