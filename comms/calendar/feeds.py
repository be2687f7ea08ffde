"""Published .ics feeds that partners subscribe to: the whole agenda, one per scheme, one per
instance.

Feeds are public: they carry no attendee and no organizer address. A cancelled event stays
in, marked CANCELLED, so that subscribed calendars remove it instead of keeping a stale copy.
Each file is replaced atomically: a client refreshing during a build reads the old feed or
the new one, never half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from comms.calendar.ics import calendar, to_bytes, vevent
from comms.model import COMMON, DISPOSITIFS, Event, Project
from comms.write import atomic_write

FEEDS_DIR = "calendars"
AGENDA = "agenda"
REFRESH = timedelta(hours=12)
SCHEME_NAMES = {
    "ASV": "Agenda de l’ASV",
    "CLS": "Agenda du CLS",
    "CLSM": "Agenda du CLSM",
}
RESERVED = (AGENDA,  # file names of the feeds that are not an instance's
            *(scheme.lower() for scheme in DISPOSITIFS))


@dataclass(frozen=True)
class Feed:
    slug: str  # file stem: "agenda", "clsm", or an instance id
    name: str  # shown by calendar clients: « Agenda du CLSM — Val-de-Lisière »
    events: tuple[Event, ...]

    @property
    def filename(self) -> str:
        return f"{self.slug}.ics"


def feeds(project: Project) -> list[Feed]:
    """Every feed of the project: agenda, the three schemes, then one per instance (empty when
    it has no events, so that subscribers see removed events go)."""
    territory = project.site.territory
    events = project.events
    out = [Feed(AGENDA, f"Agenda santé de {territory}", events)]
    for scheme in DISPOSITIFS:
        out.append(Feed(scheme.lower(), f"{SCHEME_NAMES[scheme]} — {territory}",
                        tuple(e for e in events if _concerns(project, e, scheme))))
    for instance in project.instances.values():
        own = tuple(e for e in events if e.instance == instance.id)
        out.append(Feed(instance.id, f"{instance.name} — {territory}", own))
    return out


def _concerns(project: Project, event: Event, scheme: str) -> bool:
    instance = project.instances.get(event.instance)
    if instance is None:
        return False
    return scheme in instance.dispositifs or COMMON in instance.dispositifs


def feed_urls(project: Project) -> dict[str, str]:
    """Feed name -> its public address, in the order of `feeds`, for the newsletter's links."""
    return {f.name: project.site.url(f"{FEEDS_DIR}/{f.filename}") for f in feeds(project)}


def feed_bytes(feed: Feed, project: Project, *, dtstamp: datetime | None = None) -> bytes:
    """The .ics of one feed: PUBLISH, named, refreshed every 12 hours, no personal data."""
    site = project.site
    cal = calendar([vevent(e, site, dtstamp=dtstamp) for e in feed.events], site,
                   method="PUBLISH", name=feed.name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")
    return to_bytes(cal)


def write_feeds(project: Project, out: Path, *, dtstamp: datetime | None = None) -> list[Path]:
    """Write OUT/calendars/*.ics and remove the feeds of instances no longer declared;
    returns the paths written."""
    folder = out / FEEDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for feed in feeds(project):
        path = folder / feed.filename
        atomic_write(path, feed_bytes(feed, project, dtstamp=dtstamp))
        written.append(path)
    for stale in set(folder.glob("*.ics")) - set(written):
        stale.unlink()
    return written
