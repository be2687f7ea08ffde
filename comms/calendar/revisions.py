"""One revision number per event, kept with the content: `calendars/revisions.json`.

RFC 5546 section 2.1.4: SEQUENCE rises on every significant change of an event (dates,
recurrence, place, link, title, status), for PUBLISH as for REQUEST and CANCEL; Google keeps
an imported copy until it rises. Invitations, published feeds and the newsletter's « Ajouter
à mon agenda » files must therefore carry the same SEQUENCE for the same content, on any
machine. The send journal lives in `var/` and is not shared, so the revision is derived from
a small ledger written beside the events and kept in the repository with them:

    {"2027-03-copil": [{"sequence": 0, "modified": "2027-01-05T09:12:40Z",
                        "fingerprint": "…", "content": "…", "fields": {…}}, …]}

- a new significant fingerprint appends a revision with the next SEQUENCE (a change reverted
  later is still a new revision: the number never goes back);
- a change that is not significant (the agenda text, a registration link) keeps the SEQUENCE
  and moves `modified`;
- `modified` (UTC, whole seconds) is what feeds write as DTSTAMP and LAST-MODIFIED, so that
  building unchanged content twice gives byte-identical files.

`fields` keeps the significant values of each revision, so that an update can say what
changed since the version an attendee holds. The file is rewritten atomically, sorted, and
only when something changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from comms.errors import ContentError, Problem
from comms.model import Event
from comms.write import atomic_write

LEDGER = Path("calendars/revisions.json")


def significant_fields(event: Event) -> dict[str, Any]:
    """What makes a calendar update necessary (RFC 5546 2.1.4): dates, recurrence and its
    exceptions, place, video link, status and title, as JSON values."""
    def when(value: date | datetime) -> str:
        return value.isoformat()

    repeat = event.repeat
    fields: dict[str, Any] = {
        "title": event.title,
        "start": when(event.start),
        "end": when(event.end),
        "all_day": event.all_day,
        "rrule": sorted([k, str(v)] for k, v in repeat.rrule.items()) if repeat else None,
        "except": [d.isoformat() for d in repeat.exceptions] if repeat else [],
        "location": event.location,
        "online_url": event.online_url,
        "status": event.status,
    }
    moves = getattr(repeat, "moves", ()) if repeat else ()
    if moves:
        fields["moved"] = [[day.isoformat(), when(start)] for day, start in moves]
    return fields


def _digest(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(event: Event) -> str:
    """A digest of `significant_fields`: equal fingerprints, same SEQUENCE."""
    return _digest(significant_fields(event))


def content_digest(event: Event) -> str:
    """A digest of everything a published VEVENT shows (significant fields, text, links)."""
    return _digest({"significant": significant_fields(event),
                    "body": event.body_md, "registration_url": event.registration_url,
                    "evaluation_url": event.evaluation_url})


@dataclass(frozen=True)
class Revision:
    """One revision of an event: its SEQUENCE, when it last changed (UTC), its digests and
    its significant values."""

    sequence: int
    modified: datetime
    fingerprint: str
    content: str
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence,
                "modified": self.modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "fingerprint": self.fingerprint, "content": self.content,
                "fields": self.fields}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Revisions:
    """The ledger of a content root, read once; `of(event)` gives the current revision."""

    def __init__(self, path: Path, entries: dict[str, list[Revision]],
                 now: Callable[[], datetime] = _now):
        self.path = path
        self.entries = entries
        self.now = now
        self.changed = False

    @classmethod
    def load(cls, root: Path, now: Callable[[], datetime] = _now) -> Revisions:
        """Read ROOT/calendars/revisions.json (an empty ledger when absent).

        Raises ContentError (French, with the file) when the file is not what comms wrote.
        """
        return cls.load_file(root / LEDGER, now)

    @classmethod
    def load_file(cls, path: Path, now: Callable[[], datetime] = _now) -> Revisions:
        """Read a ledger file (an empty ledger when absent); see `load`."""
        if not path.is_file():
            return cls(path, {}, now)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {
                str(event_id): [Revision(int(r["sequence"]), datetime.strptime(
                    r["modified"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                    str(r["fingerprint"]), str(r["content"]), dict(r["fields"]))
                    for r in revisions]
                for event_id, revisions in data.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ContentError([Problem(
                LEDGER, None, "revisions",
                f"ce fichier, écrit par comms, est illisible ({exc})",
                "restaurez-le depuis le dépôt (git checkout calendars/revisions.json)\u00a0: "
                "le supprimer ferait repartir de zéro les numéros de version des "
                "évènements, que les agendas des partenaires ignoreraient")]) from None
        return cls(path, entries, now)

    def history(self, event_id: str) -> list[Revision]:
        return list(self.entries.get(event_id, []))

    def at(self, event_id: str, sequence: int) -> Revision | None:
        """The latest revision of the event with this SEQUENCE, if the ledger has it."""
        found = [r for r in self.entries.get(event_id, []) if r.sequence == sequence]
        return found[-1] if found else None

    def of(self, event: Event, floor: int = 0) -> Revision:
        """The event's current revision, recorded in memory when new (`save` writes it).

        `floor`: the lowest SEQUENCE acceptable (what the send journal already sent, when
        the ledger was lost); the revision rises to it.
        """
        history = self.entries.setdefault(event.id, [])
        fields = significant_fields(event)
        print_ = fingerprint(event)
        content = content_digest(event)
        last = history[-1] if history else None
        if last is not None and last.fingerprint == print_ and last.sequence >= floor:
            if last.content != content:
                last = Revision(last.sequence, self.now(), print_, content, fields)
                history[-1] = last
                self.changed = True
            return last
        sequence = max(floor, last.sequence + 1 if last else 0)
        revision = Revision(sequence, self.now(), print_, content, fields)
        history.append(revision)
        self.changed = True
        return revision

    def save(self) -> bool:
        """Write the ledger if something changed (atomically, sorted); True if written."""
        if not self.changed:
            return False
        data = {event_id: [r.to_json() for r in revisions]
                for event_id, revisions in sorted(self.entries.items()) if revisions}
        atomic_write(self.path, json.dumps(data, ensure_ascii=False, indent=1,
                                           sort_keys=True) + "\n")
        self.changed = False
        return True
