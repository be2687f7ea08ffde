"""Who answered what, per meeting (and per occurrence of a series), from the journal.

The expected attendees of an event are those who hold our invitation: the latest version a
message to them was sent for is a REQUEST. An answer counts for the version it answered: when
an update (a higher SEQUENCE) was sent after it, the attendee is « pas encore répondu »
again until she answers the update (RFC 5546 §2.1.4), and the old answer is shown as a note.
An answer for one occurrence (RECURRENCE-ID) overrides the answer for the whole series on
that date only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from comms.directory import Directory
from comms.inbox.itip import ACCEPTED, DECLINED, DELEGATED, NEEDS_ACTION, TENTATIVE
from comms.inbox.process import held_invitations
from comms.model import Event, Project
from comms.send.journal import Journal

LABELS = {
    ACCEPTED: "accepté",
    TENTATIVE: "peut-être",
    DECLINED: "refusé",
    DELEGATED: "délégué",
    NEEDS_ACTION: "pas encore répondu",
}
ORDER = (ACCEPTED, TENTATIVE, DECLINED, DELEGATED, NEEDS_ACTION)


@dataclass(frozen=True)
class RsvpLine:
    email: str
    name: str
    organisation: str
    partstat: str  # one of ORDER
    note: str = ""  # « a répondu accepté à une version précédente », « délégué à … »
    comment: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.partstat]


@dataclass
class RsvpTable:
    """One meeting, or one occurrence of a series."""

    event: Event
    occurrence: datetime | date | None  # None for a single event
    lines: list[RsvpLine] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(line.partstat for line in self.lines)

    @property
    def when(self) -> datetime | date:
        return self.occurrence if self.occurrence is not None else self.event.start


@dataclass(frozen=True)
class _Answer:
    partstat: str
    sequence: int
    comment: str
    delegated_to: str
    delegated_from: str


def _answers(journal: Journal, event_id: str) -> dict[tuple[str, str], _Answer]:
    return {(r["email"], r["recurrence_id"]): _Answer(r["partstat"], r["sequence"],
                                                      r["comment"], r["delegated_to"],
                                                      r["delegated_from"])
            for r in journal.db.execute("SELECT * FROM rsvp_answers WHERE event_id = ?",
                                        (event_id,))}


def recurrence_key(start: datetime | date) -> str:
    """How an occurrence is keyed: its start in UTC, ISO 8601 (as `itip` stores
    RECURRENCE-ID)."""
    if isinstance(start, datetime):
        return start.astimezone(UTC).isoformat()
    return start.isoformat()


def series_start(event: Event, start: datetime | date) -> datetime | date:
    """Where the series put a session that now starts at `start`: a moved session keeps the
    RECURRENCE-ID of its date in the series (RFC 5545 §3.8.4.4), and that is what clients
    answer with; any other session is where the series put it."""
    moved = {new: day for day, new in (event.repeat.moves if event.repeat else ())}
    day = moved.get(start)
    if day is None:
        return start
    if isinstance(event.start, datetime):
        return event.start.replace(year=day.year, month=day.month, day=day.day, fold=0)
    return day


def _status(answer: _Answer | None, held: int) -> tuple[str, str, str]:
    """(PARTSTAT, note, comment) for the version `held`."""
    if answer is None:
        return NEEDS_ACTION, "", ""
    if answer.sequence < held:
        return NEEDS_ACTION, (f"avait répondu «\u00a0{LABELS.get(answer.partstat, answer.partstat)}"
                              "\u00a0» avant la dernière mise à jour"), answer.comment
    note = f"a délégué à {answer.delegated_to}" if answer.partstat == DELEGATED else ""
    if answer.delegated_from:
        note = f"remplace {answer.delegated_from}"
    return answer.partstat, note, answer.comment


def rsvp_tables(project: Project, journal: Journal, event: Event,
                directory: Directory | None = None,
                horizon_days: int = 366) -> list[RsvpTable]:
    """One table for a single event, one per occurrence (within `horizon_days` of its
    start) for a series; lines sorted accepted first, then by name."""
    held = held_invitations(journal).get(event.id, {})
    answers = _answers(journal, event.id)
    people = dict(held)
    for (email, _rid), answer in answers.items():
        if email not in people and answer.delegated_from:
            origin = answer.delegated_from.split(",")[0]
            if origin in held:
                people[email] = held[origin]

    def person(email: str) -> tuple[str, str]:
        partner = directory.find(email) if directory is not None else None
        return (partner.name, partner.organisation) if partner else ("", "")

    if event.repeat is None:
        keys: list[tuple[datetime | date | None, str]] = [(None, "")]
    else:
        from comms.calendar.recurrence import occurrences

        found = occurrences(event, event.first_day,
                            event.first_day + timedelta(days=horizon_days))
        keys = [(o.start, recurrence_key(series_start(event, o.start))) for o in found
                if not o.cancelled]
    tables = []
    for start, rid in keys:
        table = RsvpTable(event, start)
        for email, sequence in people.items():
            answer = answers.get((email, rid)) if rid else None
            if answer is None:
                answer = answers.get((email, ""))
            partstat, note, comment = _status(answer, sequence)
            name, organisation = person(email)
            table.lines.append(RsvpLine(email, name, organisation, partstat, note, comment))
        table.lines.sort(key=lambda line: (ORDER.index(line.partstat),
                                           (line.name or line.email).lower()))
        tables.append(table)
    return tables


def invited_events(project: Project, journal: Journal) -> list[Event]:
    """Events of the content for which at least one invitation was sent, by date."""
    held = held_invitations(journal)
    return [e for e in project.events if held.get(e.id)]
