"""Published .ics feeds that partners subscribe to: the whole agenda, one per scheme, one per
instance.

Feeds are public: they carry no attendee and no organizer address. A cancelled event stays
in, marked CANCELLED, so that subscribed calendars remove it instead of keeping a stale copy.
Each file is replaced atomically: a client refreshing during a build reads the old feed or
the new one, never half of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from comms.calendar.ics import SerialisedEvent, assemble, calendar_head, serialise, vevents
from comms.calendar.revisions import Revisions
from comms.model import COMMON, DISPOSITIFS, Event, Project, Site
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
    it has no events, so that subscribers see removed events go). One pass over the events."""
    territory = project.site.territory
    events = project.events
    by_instance: dict[str, list[Event]] = {i: [] for i in project.instances}
    by_scheme: dict[str, list[Event]] = {s: [] for s in DISPOSITIFS}
    for event in events:
        instance = project.instances.get(event.instance)
        if instance is None:
            continue
        by_instance[instance.id].append(event)
        for scheme in DISPOSITIFS:
            if scheme in instance.dispositifs or COMMON in instance.dispositifs:
                by_scheme[scheme].append(event)
    out = [Feed(AGENDA, f"Agenda santé {project.site.territory_of}", events)]
    for scheme in DISPOSITIFS:
        out.append(Feed(scheme.lower(), f"{SCHEME_NAMES[scheme]} — {territory}",
                        tuple(by_scheme[scheme])))
    for instance in project.instances.values():
        out.append(Feed(instance.id, f"{instance.name} — {territory}",
                        tuple(by_instance[instance.id])))
    return out


def _feed_names(project: Project) -> list[tuple[str, str]]:
    """(file stem, name) of every feed, in the order of `feeds`, without their events."""
    territory = project.site.territory
    return [(AGENDA, f"Agenda santé {project.site.territory_of}"),
            *((s.lower(), f"{SCHEME_NAMES[s]} — {territory}") for s in DISPOSITIFS),
            *((i.id, f"{i.name} — {territory}") for i in project.instances.values())]


GOOGLE_ADD_BY_URL = "https://calendar.google.com/calendar/render?cid="


def webcal_url(url: str) -> str:
    """The `webcal://` form of a feed's https address: Apple Calendar, Outlook and
    Thunderbird subscribe to it (a plain https link imports a copy that never updates)."""
    scheme, sep, rest = url.partition("://")
    return f"webcal://{rest}" if sep and scheme.lower() in ("http", "https") else url


def google_subscribe_url(url: str) -> str:
    """Google Calendar's « add by URL » link for a feed (the webcal address, encoded)."""
    return GOOGLE_ADD_BY_URL + quote(webcal_url(url), safe="")


def feed_urls(project: Project) -> dict[str, str]:
    """Feed name -> its public address, in the order of `feeds`, for the newsletter's links."""
    return {name: project.site.url(f"{FEEDS_DIR}/{slug}.ics")
            for slug, name in _feed_names(project)}


class PublishedEvents:
    """The published VEVENTs of each event (`vevents` with its revision: SEQUENCE, DTSTAMP =
    LAST-MODIFIED = when it last changed, so that unchanged content gives the same bytes),
    serialised once for every calendar of a build that holds it: the feeds and the issues'
    « Ajouter à mon agenda » files."""

    def __init__(self, site: Site, revisions: Revisions):
        self.site = site
        self.revisions = revisions
        self._serialised: dict[str, SerialisedEvent] = {}

    def __len__(self) -> int:
        """How many events are serialised so far."""
        return len(self._serialised)

    def serialised(self, event: Event) -> SerialisedEvent:
        if event.id not in self._serialised:
            revision = self.revisions.of(event)
            self._serialised[event.id] = serialise(vevents(
                event, self.site, sequence=revision.sequence, dtstamp=revision.modified,
                modified=revision.modified))
        return self._serialised[event.id]

    def event_ics(self, event: Event) -> bytes:
        """What `comms.calendar.ics.event_ics` gives for the event at its revision."""
        return assemble(calendar_head(self.site), [self.serialised(event)], self.site)


def feed_bytes(feed: Feed, project: Project, revisions: Revisions,
               published: PublishedEvents | None = None) -> bytes:
    """The .ics of one feed: PUBLISH, named, refreshed every 12 hours, no personal data.
    Each event carries its revision (see `PublishedEvents`, which lets the calendars of one
    build serialise each event once)."""
    site = project.site
    if published is None:
        published = PublishedEvents(site, revisions)
    cal = calendar_head(site, method="PUBLISH", name=feed.name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT12H")
    return assemble(cal, [published.serialised(event) for event in feed.events], site)


def write_feeds(project: Project, out: Path, *, revisions: Revisions | None = None,
                published: PublishedEvents | None = None) -> list[Path]:
    """Write OUT/calendars/*.ics and remove the feeds of instances no longer declared;
    returns the paths written. Without `revisions`, the content root's ledger is read and
    saved once the feeds are written. `published`: the build's events already serialised
    (for the same ledger)."""
    own = revisions is None
    ledger = Revisions.load(project.site.root) if revisions is None else revisions
    folder = out / FEEDS_DIR
    if published is None:
        published = PublishedEvents(project.site, ledger)
    data = [(folder / feed.filename, feed_bytes(feed, project, ledger, published))
            for feed in feeds(project)]
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path, content in data:
        atomic_write(path, content)
        written.append(path)
    if own:
        ledger.save()
    for stale in set(folder.glob("*.ics")) - set(written):
        stale.unlink()
    return written
