"""The validated model of a territory's content.

Readers in `comms.content` build these objects; nothing downstream (render, calendar, send)
reads files or validates input again. Every object is immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from comms.french import territory_of

DISPOSITIFS = ("ASV", "CLS", "CLSM")
COMMON = "commun"
SECTIONS = {
    "news": "Actualités",
    "progress": "Avancée des travaux",
    "resources": "Ressources bibliographiques",
}
# Steps of an instance's message sequence (journée interprofessionnelle), in send order, with
# the default offset in days relative to the event's first day (negative = before).
SEQUENCE_STEPS = {
    "save_the_date": -60,
    "invitation": -30,
    "reminder": -7,
    "thanks": 1,
}


@dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclass(frozen=True)
class Coordinator:
    name: str
    role: str
    email: str
    phone: str = ""


@dataclass(frozen=True)
class Site:
    """comms.yaml: the territory's identity and publishing settings."""

    root: Path
    territory: str
    newsletter_title: str
    sender: Address
    reply_to: str
    coordinators: tuple[Coordinator, ...]
    brand_color: str
    logo: Path | None
    web_base_url: str  # always ends with "/"
    survey_url: str
    timezone: ZoneInfo
    unsubscribe_mailto: str
    unsubscribe_url: str
    issue_dates: tuple[tuple[int, int], ...]  # (month, day) of the yearly issues, for `plan`
    partners_path: Path
    domain: str  # our domain: UIDs, Message-IDs, List-Id
    lists: tuple[str, ...] = ()  # directory list names declared in comms.yaml `lists:`
    # comms.yaml `unsubscribe.one_click`: `unsubscribe_url` answers the RFC 8058 one-click
    # POST (comms serve or an equivalent), so messages may carry List-Unsubscribe-Post.
    unsubscribe_one_click: bool = False
    territory_of: str = ""  # « du Haut-Bugey », « d’Oyonnax », « de Lyon » (comms.yaml)

    def __post_init__(self) -> None:
        if not self.territory_of:  # « de » or « d’ » and the name, when comms.yaml says nothing
            object.__setattr__(self, "territory_of", territory_of(self.territory))

    def coordinator(self, email: str) -> Coordinator | None:
        for c in self.coordinators:
            if c.email.lower() == email.lower():
                return c
        return None

    def url(self, path: str) -> str:
        return self.web_base_url + path.lstrip("/")


@dataclass(frozen=True)
class Issue:
    id: str  # "2027-1"
    number: int
    publish_on: date
    title: str
    period: str
    editorial_by: str
    editorial_md: str
    source: Path

    @property
    def year(self) -> int:
        return int(self.id.split("-")[0])


@dataclass(frozen=True)
class NewsItem:
    id: str  # file stem
    title: str
    date: date
    dispositifs: tuple[str, ...]  # subset of DISPOSITIFS, or (COMMON,)
    section: str  # key of SECTIONS
    issue: str | None
    summary: str
    image: Path | None
    image_alt: str
    link: str
    author: str
    draft: bool
    body_md: str
    source: Path


@dataclass(frozen=True)
class Instance:
    """calendars/instances.yaml: a council's body (COPIL, comité technique, ...)."""

    id: str
    name: str
    dispositifs: tuple[str, ...]
    audience: tuple[str, ...]  # list names of the partners directory
    organizer: str  # a coordinator's email
    reminder: timedelta | None  # VALARM before the start; None = no alarm
    sequence: dict[str, int] = field(default_factory=dict)  # step -> day offset
    source: Path | None = None
    # Who gets the journée's « merci » step: "accepted" (those whose answer to the
    # invitation, read by `comms inbox`, is ACCEPTED) or "all" (the whole audience).
    thanks_to: str = "accepted"


@dataclass(frozen=True)
class Repeat:
    """A coordinator's `repeat:` block, already checked; `rrule` is the RFC 5545 form."""

    rrule: dict  # icalendar vRecur-compatible mapping, e.g. {"FREQ": "MONTHLY", "BYDAY": "1TH"}
    exceptions: tuple[date, ...]  # occurrences that do not take place (EXDATE)
    text: str  # French description: « le premier jeudi de chaque mois jusqu'au 30 juin 2027 »
    # One session moved: (its date in the series, its new start in the site zone, or a date
    # for an all-day series); RECURRENCE-ID overrides in invitations and feeds.
    moves: tuple[tuple[date, datetime | date], ...] = ()


@dataclass(frozen=True)
class Event:
    id: str  # file stem
    instance: str  # Instance.id
    title: str
    start: datetime | date  # aware datetime in the site zone, or a date when all_day
    end: datetime | date  # for all-day events: the last day included (not the RFC exclusive end)
    all_day: bool
    location: str
    online_url: str
    registration_url: str
    evaluation_url: str
    status: str  # "confirmed" | "cancelled"
    body_md: str
    repeat: Repeat | None
    attendees: tuple[str, ...]  # extra addresses
    audience: tuple[str, ...] | None  # overrides the instance's audience when set
    source: Path

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def first_day(self) -> date:
        return self.start if isinstance(self.start, date) and not isinstance(
            self.start, datetime) else self.start.date()

    @property
    def last_day(self) -> date:
        return self.end if isinstance(self.end, date) and not isinstance(
            self.end, datetime) else self.end.date()


@dataclass(frozen=True)
class Project:
    """Everything under one content root, validated."""

    site: Site
    issues: tuple[Issue, ...]  # sorted by publish_on
    news: tuple[NewsItem, ...]  # sorted by date, then id
    instances: dict[str, Instance]
    events: tuple[Event, ...]  # sorted by start
    unreadable: tuple[Path, ...] = ()  # files that could not be read: dependent checks skipped

    def issue(self, issue_id: str) -> Issue | None:
        return next((i for i in self.issues if i.id == issue_id), None)

    def event(self, event_id: str) -> Event | None:
        return next((e for e in self.events if e.id == event_id), None)
