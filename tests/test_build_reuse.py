"""What a build computes once and reuses: compiled templates between runs, the VTIMEZONE,
each event's VEVENT across the feeds it is in, each issue's news and agenda."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import icalendar
import pytest
from icaljs import parse_with_icaljs

from comms.calendar.feeds import REFRESH, PublishedEvents, feed_bytes, feeds, write_feeds
from comms.calendar.ics import calendar, event_ics, to_bytes, vevent, vevents
from comms.calendar.revisions import Revisions
from comms.calendar.timezone import vtimezone
from comms.content import load_project
from comms.render import templates
from comms.selection import news_of, select

REPO = Path(__file__).resolve().parent.parent
STAMP = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def ledger(tmp_path: Path) -> Revisions:
    return Revisions(tmp_path / "revisions.json", {}, now=lambda: STAMP)


def test_feeds_are_byte_for_byte_what_icalendar_writes_for_the_whole_calendar(tmp_path):
    project = load_project(REPO)
    revisions = ledger(tmp_path)
    shared = PublishedEvents(project.site, revisions)
    all_feeds = feeds(project)
    assert sum(len(f.events) for f in all_feeds) > len(project.events)  # events are shared
    for feed in all_feeds:
        fast = feed_bytes(feed, project, revisions, shared)
        events = []
        for event in feed.events:
            revision = revisions.of(event)
            events.append(vevent(event, project.site, sequence=revision.sequence,
                                 dtstamp=revision.modified, modified=revision.modified))
        cal = calendar(events, project.site, method="PUBLISH", name=feed.name)
        cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", "PT12H")
        assert fast == to_bytes(cal), feed.slug
    assert len(shared) == len({e.id for f in all_feeds for e in f.events})


def test_agenda_files_are_byte_for_byte_what_icalendar_writes_and_share_the_feeds_events(
        tmp_path):
    project = load_project(REPO)
    revisions = ledger(tmp_path)
    published = PublishedEvents(project.site, revisions)
    series = next(e for e in project.events if e.repeat is not None and e.repeat.exceptions)
    zone = project.site.timezone
    moved = replace(series, id="serie-deplacee", repeat=replace(series.repeat, moves=(
        (date(2027, 3, 4), datetime(2027, 3, 5, 9, 0, tzinfo=zone)),)))
    events = [series, moved, next(e for e in project.events if e.all_day),
              next(e for e in project.events if e.repeat is None and not e.all_day)]
    for event in events:
        revision = revisions.of(event)
        components = vevents(event, project.site, sequence=revision.sequence,
                             dtstamp=revision.modified, modified=revision.modified)
        whole = to_bytes(calendar(components, project.site))
        assert published.event_ics(event) == whole, event.id
        assert event_ics(event, project.site, sequence=revision.sequence,
                         modified=revision.modified) == whole, event.id
        zones = icalendar.Calendar.from_ical(whole).walk("VTIMEZONE")
        assert len(zones) == (0 if event.all_day else 1), event.id
    assert len(icalendar.Calendar.from_ical(published.event_ics(moved)).walk("VEVENT")) == 2
    feed = next(f for f in feeds(project) if f.slug == "agenda")
    feed_bytes(feed, project, revisions, published)
    # The sample's events, the three above among them, and the moved series: each once.
    assert len(published) == len(project.events) + 1


def test_written_feeds_parse_back(tmp_path):
    project = load_project(REPO)
    paths = write_feeds(project, tmp_path, revisions=ledger(tmp_path))
    agenda = next(p for p in paths if p.name == "agenda.ics")
    data = agenda.read_bytes()
    cal = icalendar.Calendar.from_ical(data)
    assert len(cal.walk("VEVENT")) == len(project.events)
    assert len(cal.walk("VTIMEZONE")) == 1
    assert parse_with_icaljs(agenda)  # Mozilla’s reader takes it too


def test_the_vtimezone_is_computed_once():
    project = load_project(REPO)
    zone = project.site.timezone
    assert vtimezone(zone, range(2026, 2028)) is vtimezone(zone, range(2026, 2028))


@pytest.fixture
def own_root(tmp_path):
    """A content root with its own `templates/hello.txt.j2` (« Bonjour {{ who }} »); the
    Jinja environments are forgotten before and after, so each test compiles afresh."""
    own = tmp_path / "root" / "templates"
    own.mkdir(parents=True)
    (own / "hello.txt.j2").write_text("Bonjour {{ who }}", encoding="utf-8")
    templates.environment.cache_clear()
    yield tmp_path / "root"
    templates.environment.cache_clear()


def test_compiled_templates_are_kept_and_checked_against_their_source(own_root, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert templates.render(own_root, "hello.txt.j2", who="Anne") == "Bonjour Anne"
    assert list((tmp_path / "cache" / "comms" / "jinja").iterdir())
    (own_root / "templates" / "hello.txt.j2").write_text("Salut {{ who }}", encoding="utf-8")
    templates.environment.cache_clear()
    assert templates.render(own_root, "hello.txt.j2", who="Anne") == "Salut Anne"


def test_without_a_writable_cache_folder_templates_still_render(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no folder can go there
    assert templates.bytecode_cache() is None


def test_each_issue_selects_what_a_scan_of_the_whole_project_would():
    project = load_project(REPO)
    for n, issue in enumerate(project.issues):
        previous = project.issues[n - 1] if n else None
        if previous is None:
            continue  # the first issue's window starts at the schedule, tested elsewhere
        expected = tuple(sorted(
            (i for i in project.news if not i.draft and (
                i.issue == issue.id
                or (i.issue is None and previous.publish_on < i.date <= issue.publish_on))),
            key=lambda i: (i.date, i.id)))
        assert news_of(project, issue) == expected
        content = select(project, issue.id)
        from comms.calendar.recurrence import occurrences

        every = {(o.event.id, o.start) for e in project.events
                 for o in occurrences(e, content.agenda_from, content.agenda_until)}
        assert {(o.event.id, o.start) for o in content.agenda} == every


def test_a_template_cache_folder_that_takes_no_file_still_renders(own_root, tmp_path,
                                                                   monkeypatch):
    """A cache folder left unwritable (made by another user, a full disk) costs a
    compilation, never the build."""
    (tmp_path / "cache" / "comms").mkdir(parents=True)
    # /proc is a read-only file system for new files, root included.
    (tmp_path / "cache" / "comms" / "jinja").symlink_to("/proc/self")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert templates.render(own_root, "hello.txt.j2", who="Anne") == "Bonjour Anne"


def test_a_damaged_compiled_template_is_compiled_again(own_root, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert templates.render(own_root, "hello.txt.j2", who="Anne") == "Bonjour Anne"
    (entry,) = (tmp_path / "cache" / "comms" / "jinja").iterdir()
    raw = entry.read_bytes()
    assert b"Bonjour" in raw
    entry.write_bytes(raw.replace(b"Bonjour", b"Bonjoux"))  # one damaged constant
    templates.environment.cache_clear()
    assert templates.render(own_root, "hello.txt.j2", who="Anne") == "Bonjour Anne"
