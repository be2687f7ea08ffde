"""Published feeds: right events in each, right names, no personal data, atomic writes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from factories import PARIS, make_event, make_instance, make_project
from icaljs import parse_with_icaljs

from comms.calendar.feeds import feed_urls, feeds, write_feeds
from comms.calendar.recurrence import parse_repeat
from comms.calendar.revisions import Revisions

STAMP = datetime(2027, 1, 10, 8, 30, tzinfo=UTC)


def ledger(folder: Path, stamp: datetime = STAMP) -> Revisions:
    """A fresh revision ledger whose clock says `stamp`."""
    return Revisions(folder / "revisions.json", {}, now=lambda: stamp)


def at(month: int, day: int, hour: int = 14) -> datetime:
    return datetime(2027, month, day, hour, 0, tzinfo=PARIS)


def sample_project():
    instances = {
        "copil": make_instance("copil", name="Comité de pilotage",
                               dispositifs=("ASV", "CLS", "CLSM")),
        "gt-logement": make_instance("gt-logement", name="Groupe logement et santé mentale",
                                     dispositifs=("CLSM",)),
        "atelier-qpv": make_instance("atelier-qpv", name="Atelier santé des quartiers",
                                     dispositifs=("ASV",)),
        "pleniere": make_instance("pleniere", name="Assemblée plénière",
                                  dispositifs=("commun",)),
        "comite-technique": make_instance("comite-technique", name="Comité technique",
                                          dispositifs=("CLS",)),  # no event: an empty feed
    }
    start = at(3, 4, 9)
    repeat = parse_repeat({"every": "month", "on": "first thursday", "count": 6}, start,
                          lambda *p: pytest.fail(str(p)))
    events = [
        make_event("2027-03-copil", start=at(3, 18), instance="copil",
                   attendees=("invite.perso@example.org",)),
        make_event("2027-03-gt-logement", start=start, instance="gt-logement",
                   title="Groupe logement", repeat=repeat),
        make_event("2027-04-atelier", start=at(4, 8), instance="atelier-qpv",
                   title="Atelier nutrition", status="cancelled"),
        make_event("2027-06-pleniere", start=date(2027, 6, 24), instance="pleniere",
                   title="Assemblée plénière"),
    ]
    return make_project(instances=instances, events=events)


def uids(path: Path) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(path.read_bytes())
            .walk("VEVENT")}


@pytest.fixture
def written(tmp_path):
    project = sample_project()
    paths = write_feeds(project, tmp_path, revisions=ledger(tmp_path))
    return project, tmp_path / "calendars", paths


def test_files_written(written):
    _project, folder, paths = written
    assert [p.name for p in paths] == [
        "agenda.ics", "asv.ics", "cls.ics", "clsm.ics",
        "copil.ics", "gt-logement.ics", "atelier-qpv.ics", "pleniere.ics",
        "comite-technique.ics"]
    assert all(p.parent == folder and p.is_file() for p in paths)
    assert uids(folder / "comite-technique.ics") == set()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)


def test_each_feed_holds_the_right_events(written):
    _project, folder, _paths = written
    assert uids(folder / "agenda.ics") == {
        "2027-03-copil@sante.example.org", "2027-03-gt-logement@sante.example.org",
        "2027-04-atelier@sante.example.org", "2027-06-pleniere@sante.example.org"}
    assert uids(folder / "asv.ics") == {
        "2027-03-copil@sante.example.org", "2027-04-atelier@sante.example.org",
        "2027-06-pleniere@sante.example.org"}
    assert uids(folder / "cls.ics") == {
        "2027-03-copil@sante.example.org", "2027-06-pleniere@sante.example.org"}
    assert uids(folder / "clsm.ics") == {
        "2027-03-copil@sante.example.org", "2027-03-gt-logement@sante.example.org",
        "2027-06-pleniere@sante.example.org"}
    assert uids(folder / "gt-logement.ics") == {"2027-03-gt-logement@sante.example.org"}


def test_names_refresh_and_method(written):
    _project, folder, _paths = written
    names = {}
    for path in folder.iterdir():
        data = path.read_bytes()
        cal = icalendar.Calendar.from_ical(data)
        assert cal["METHOD"] == "PUBLISH"
        assert cal["NAME"] == cal["X-WR-CALNAME"]
        assert cal["X-WR-TIMEZONE"] == "Europe/Paris"
        assert b"REFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in data
        assert b"X-PUBLISHED-TTL:PT12H\r\n" in data
        assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=12)
        names[path.name] = str(cal["NAME"])
    assert names["agenda.ics"] == "Agenda santé de Val-de-Lisière"
    assert names["asv.ics"] == "Agenda de l’ASV — Val-de-Lisière"
    assert names["cls.ics"] == "Agenda du CLS — Val-de-Lisière"
    assert names["clsm.ics"] == "Agenda du CLSM — Val-de-Lisière"
    assert names["copil.ics"] == "Comité de pilotage — Val-de-Lisière"


def test_no_personal_data_and_cancelled_events_stay(written):
    _project, folder, _paths = written
    for path in folder.iterdir():
        data = path.read_bytes()
        assert b"ATTENDEE" not in data and b"ORGANIZER" not in data
        assert b"mailto:" not in data and b"@example.org" not in data
    (atelier,) = [e for e in icalendar.Calendar.from_ical(
        (folder / "agenda.ics").read_bytes()).walk("VEVENT") if e["UID"].startswith("2027-04")]
    assert atelier["STATUS"] == "CANCELLED"


def test_every_feed_reads_the_same_in_ical_js(written):
    _project, folder, _paths = written
    for path in folder.iterdir():
        read = parse_with_icaljs(path)
        assert read["method"] == "PUBLISH"
        assert read["timezones"] == ["Europe/Paris"]
        assert {e["uid"] for e in read["events"]} == uids(path)
        assert all(e["attendees"] == 0 and not e["organizer"] for e in read["events"])
    agenda = {e["uid"]: e for e in parse_with_icaljs(folder / "agenda.ics")["events"]}
    assert agenda["2027-03-copil@sante.example.org"]["start"] == "2027-03-18T13:00:00.000Z"
    assert agenda["2027-04-atelier@sante.example.org"]["status"] == "CANCELLED"
    assert agenda["2027-06-pleniere@sante.example.org"]["start"] == "2027-06-24"
    assert agenda["2027-03-gt-logement@sante.example.org"]["occurrences"] == [
        "2027-03-04T08:00:00.000Z", "2027-04-01T07:00:00.000Z", "2027-05-06T07:00:00.000Z",
        "2027-06-03T07:00:00.000Z", "2027-07-01T07:00:00.000Z", "2027-08-05T07:00:00.000Z"]


def test_uids_are_stable_across_runs(tmp_path):
    first = write_feeds(sample_project(), tmp_path / "one", revisions=ledger(tmp_path / "one"))
    second = write_feeds(sample_project(), tmp_path / "two", revisions=ledger(tmp_path / "two"))
    for a, b in zip(first, second, strict=True):
        assert uids(a) == uids(b)
    assert all(uids(a) for a in first if a.stem != "comite-technique")


def test_rewrite_replaces_each_file_atomically(written, tmp_path):
    project, folder, _paths = written
    agenda = folder / "agenda.ics"
    with agenda.open("rb") as reader:  # a web server sending the old feed meanwhile
        old = agenda.read_bytes()
        later = write_feeds(project, tmp_path,
                            revisions=ledger(tmp_path / "x", STAMP + timedelta(days=1)))
        assert reader.read() == old  # the open file is untouched: a new file replaced it
    assert agenda.read_bytes() != old and b"DTSTAMP:20270111T083000Z" in agenda.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in later)


def test_feed_urls_for_the_newsletter():
    urls = feed_urls(sample_project())
    assert urls["Agenda santé de Val-de-Lisière"] == (
        "https://sante.example.org/lettre/calendars/agenda.ics")
    assert urls["Agenda du CLSM — Val-de-Lisière"] == (
        "https://sante.example.org/lettre/calendars/clsm.ics")
    assert urls["Groupe logement et santé mentale — Val-de-Lisière"] == (
        "https://sante.example.org/lettre/calendars/gt-logement.ics")
    assert len(urls) == len(feeds(sample_project())) == 9


def test_scheme_feeds_exist_even_when_empty(tmp_path):
    project = make_project(events=())
    paths = write_feeds(project, tmp_path, revisions=ledger(tmp_path))
    assert [p.name for p in paths] == ["agenda.ics", "asv.ics", "cls.ics", "clsm.ics",
                                       "copil.ics"]
    read = parse_with_icaljs(paths[3])
    assert read["events"] == [] and read["name"] == "Agenda du CLSM — Val-de-Lisière"


def test_feed_of_an_instance_no_longer_declared_is_removed(written):
    project, folder, _paths = written
    (folder / "ancienne-instance.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    write_feeds(project, folder.parent, revisions=ledger(folder.parent))
    assert not (folder / "ancienne-instance.ics").exists()
    assert (folder / "comite-technique.ics").exists()
