"""One revision per event: invitations, feeds and the newsletter's calendar files carry the
same SEQUENCE for the same content, on any machine, and unchanged content gives the same
bytes. Built from the handed cases feed-sequence, feed-cancelled and uninvite."""

from __future__ import annotations

import html
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import icalendar
from cli_runner import cli
from conftest import write
from factories import make_event
from icaljs import parse_with_icaljs
from smtp_servers import smtp_env, take

from comms.calendar.revisions import LEDGER, Revisions
from comms.send.journal import Journal

CASES = Path(__file__).parent / "cases"  # the inputs of the handed cases
EVENT = "2027-03-gt-logement"
EVENT_FILE = f"calendars/events/{EVENT}.md"
TODAY = "2027-01-10"
NBSP = "\u00a0"




def invitation_events(msg) -> tuple[str, list[icalendar.Event]]:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return str(cal["METHOD"]), list(cal.walk("VEVENT"))


def published(path: Path, uid: str, tmp_path: Path) -> list[dict]:
    """The VEVENTs of `uid` in an .ics file, as icalendar and ical.js both read them."""
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    ours = [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]
    js = [e for e in parse_with_icaljs(path)["events"] if e["uid"] == uid]
    assert len(ours) == len(js)
    out = []
    for mine, theirs in zip(ours, js, strict=True):
        assert int(mine["SEQUENCE"]) == theirs["sequence"]
        assert str(mine["SUMMARY"]) == theirs["summary"]
        assert mine.get("STATUS") == theirs["status"]
        assert mine["DTSTAMP"].dt == mine["LAST-MODIFIED"].dt  # both: when it last changed
        out.append({"sequence": theirs["sequence"], "summary": theirs["summary"],
                    "status": theirs["status"], "modified": mine["LAST-MODIFIED"].dt,
                    "start": theirs["start"]})
    return out


def published_files(root: Path) -> list[Path]:
    """Every feed holding the event, and the issue's « Ajouter à mon agenda » file."""
    feeds = [root / "build/calendars" / name for name in ("agenda.ics", "clsm.ics",
                                                          "gt-logement.ics")]
    return [*feeds, root / "build/2027-1/agenda" / f"{EVENT}.ics"]


def publish(root: Path) -> None:
    assert cli("calendar", "--root", str(root)).exit_code == 0
    result = cli("build", "2027-1", "--root", str(root))
    assert result.exit_code == 0, result.output


def sequences_published(root: Path, uid: str, tmp_path: Path) -> set[tuple]:
    return {(e["sequence"], e["summary"], e["status"]) for path in published_files(root)
            for e in published(path, uid, tmp_path)}


def test_feeds_and_newsletter_files_follow_the_invitations_sequence(sample, smtp_server,
                                                                     tmp_path):
    """feed-sequence and uninvite: request, update, uninvite, cancellation; the published
    SEQUENCE is the one the invited partners hold at every step, also on a machine with no
    journal."""
    env = smtp_env(smtp_server)
    uid = f"{EVENT}@{_domain(sample)}"
    title = _title(sample)

    def invite():
        result = cli("invite", EVENT, "--confirm", "--root", str(sample), "--today", TODAY,
                     env=env)
        assert result.exit_code == 0, result.output
        return take(smtp_server)

    first = invite()
    assert {(m, e[0]["SEQUENCE"]) for m, e in map(invitation_events, first)} == {("REQUEST", 0)}
    publish(sample)
    assert sequences_published(sample, uid, tmp_path) == {(0, title, "CONFIRMED")}

    shutil.copy(CASES / "feed-sequence/step2-moved.md", sample / EVENT_FILE)
    updates = invite()
    assert len(updates) == len(first)
    assert {(m, e[0]["SEQUENCE"]) for m, e in map(invitation_events, updates)} == {("REQUEST", 1)}
    for kind in ("plain", "html"):  # what changed is said, with what it replaces
        body = html.unescape(updates[0].get_body((kind,)).get_content())
        text = re.sub(r"[ \t\r\n]+", " ", body)
        assert (f"Nouvel horaire{NBSP}: vendredi 12 mars 2027 de 14{NBSP}h à 16{NBSP}h{NBSP}30 "
                f"(au lieu de jeudi 11 mars 2027 de 9{NBSP}h{NBSP}30 à 12{NBSP}h)") in text
    publish(sample)
    assert sequences_published(sample, uid, tmp_path) == {(1, title, "CONFIRMED")}

    # uninvite: a withdrawal is not a new revision of the meeting.
    shutil.copy(CASES / "uninvite/partners.csv", sample / "content/partners.csv")
    (withdrawn,) = invite()
    method, (vevent,) = invitation_events(withdrawn)
    assert (method, vevent["SEQUENCE"], vevent.get("STATUS")) == ("CANCEL", 1, None)
    assert withdrawn["Subject"].startswith(f"Invitation retirée{NBSP}: ")
    publish(sample)
    assert sequences_published(sample, uid, tmp_path) == {(1, title, "CONFIRMED")}

    shutil.copy(CASES / "feed-sequence/step3-cancelled.md", sample / EVENT_FILE)
    cancels = invite()
    assert len(cancels) == len(first) - 1
    assert {(m, e[0]["SEQUENCE"], e[0]["STATUS"]) for m, e in map(invitation_events, cancels)} \
        == {("CANCEL", 2, "CANCELLED")}
    publish(sample)
    assert sequences_published(sample, uid, tmp_path) == {
        (2, f"Annulé{NBSP}: {title}", "CANCELLED")}

    # A fresh machine: the repository without var/ (no journal) publishes the same thing.
    fresh = tmp_path / "fresh"
    shutil.copytree(sample, fresh, ignore=shutil.ignore_patterns("var", "build"))
    publish(fresh)
    for ours, theirs in zip(published_files(sample), published_files(fresh), strict=True):
        assert ours.read_bytes() == theirs.read_bytes()


def _domain(root: Path) -> str:
    from comms.content import load_project

    return load_project(root).site.domain


def _title(root: Path) -> str:
    from comms.content import load_project

    return next(e.title for e in load_project(root).events if e.id == EVENT)


def test_building_twice_gives_the_same_ics_bytes(sample, tmp_path):
    """Byte-stable: DTSTAMP and LAST-MODIFIED move only when an event changes."""
    def build(out: Path) -> dict[str, bytes]:
        result = cli("build", "--all", "--root", str(sample), "--out", str(out))
        assert result.exit_code == 0, result.output
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.ics"))}

    first = build(tmp_path / "one")
    assert len(first) > 10
    again = build(tmp_path / "two")
    assert again == first
    # A text-only change moves LAST-MODIFIED of that event only, never its SEQUENCE.
    path = sample / EVENT_FILE
    path.write_text(path.read_text(encoding="utf-8") + "\nNote ajoutée.\n", encoding="utf-8")
    ledger = json.loads((sample / LEDGER).read_text(encoding="utf-8"))
    before = ledger[EVENT][-1]
    changed = build(tmp_path / "three")
    after = json.loads((sample / LEDGER).read_text(encoding="utf-8"))[EVENT][-1]
    assert after["sequence"] == before["sequence"]
    assert after["modified"] >= before["modified"] and after["content"] != before["content"]
    differing = {name for name in first if first[name] != changed[name]}
    assert f"calendars/{EVENT.split('-', 2)[2]}.ics" in differing
    for name in differing:  # only the files that hold the event
        assert EVENT.encode() in changed[name]


def test_a_significant_change_raises_the_sequence_and_a_revert_too(tmp_path):
    clock = iter(datetime(2027, 1, d, 9, 0, tzinfo=UTC) for d in range(1, 10))
    ledger = Revisions(tmp_path / "r.json", {}, now=lambda: next(clock))
    base = make_event()
    moved = make_event(start=base.start.replace(hour=15))
    texts = make_event(body_md="Autre ordre du jour")
    steps = [ledger.of(e) for e in (base, base, texts, moved, base)]
    assert [r.sequence for r in steps] == [0, 0, 0, 1, 2]
    assert steps[0].modified == steps[1].modified < steps[2].modified < steps[3].modified
    assert ledger.save() and not ledger.save()  # written once, only when changed
    reread = Revisions.load_file(tmp_path / "r.json")
    assert [r.sequence for r in reread.history(base.id)] == [0, 1, 2]
    assert reread.of(base).modified == steps[4].modified
    # A journal ahead of a lost ledger: the revision rises to what was sent.
    assert Revisions(tmp_path / "lost.json", {}).of(base, floor=3).sequence == 3


def test_a_damaged_ledger_is_a_french_error_and_nothing_is_written(root):
    write(root, str(LEDGER), "{pas du json")
    result = cli("build", "2027-1", "--root", str(root))
    assert result.exit_code == 1
    assert "revisions.json" in result.output and "git checkout" in result.output
    assert "Traceback" not in result.output
    assert not (root / "build").exists()


def test_check_reports_a_damaged_ledger(root):
    """check lists every problem: a ledger that build, calendar and invite refuse is one."""
    write(root, str(LEDGER), '{"2027-03-gt-logement": [{"sequence": "x"}]}')
    result = cli("check", "--root", str(root))
    assert result.exit_code == 1
    assert "calendars/revisions.json" in result.output and "git checkout" in result.output
    assert "Contenu valide" not in result.output
    assert "Traceback" not in result.output


def test_a_cancelled_meeting_says_so_in_every_feed(sample, tmp_path):
    """feed-cancelled: STATUS:CANCELLED is kept and the SUMMARY begins with « Annulé : »
    (Outlook ignores STATUS in subscriptions)."""
    shutil.copy(CASES / "feed-cancelled/2027-09-gt-cohesion.md",
                sample / "calendars/events/2027-09-gt-cohesion.md")
    assert cli("calendar", "--root", str(sample)).exit_code == 0
    uid = f"2027-09-gt-cohesion@{_domain(sample)}"
    seen = 0
    for path in sorted((sample / "build/calendars").glob("*.ics")):
        for event in published(path, uid, tmp_path):
            seen += 1
            assert event["status"] == "CANCELLED"
            assert event["summary"].startswith(f"Annulé{NBSP}: ")
    assert seen == 3  # agenda, clsm, gt-cohesion
    other = f"2027-11-gt-cohesion@{_domain(sample)}"
    assert not published(sample / "build/calendars/gt-cohesion.ics", other, tmp_path)[0][
        "summary"].startswith("Annulé")


def test_the_sample_keeps_its_ledger_current(sample, tmp_path):
    """The repository's sample carries calendars/revisions.json: building it on a fresh
    clone changes nothing, so its published files are the same on every machine."""
    before = (sample / LEDGER).read_bytes()
    result = cli("build", "--all", "--root", str(sample), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (sample / LEDGER).read_bytes() == before


SERIES = """\
---
instance: copil
title: Réunion mensuelle
start: 2027-03-04 14:00
end: 2027-03-04 16:00
location: Mairie
repeat:
  every: month
  on: first thursday
  count: 4
{more}---
Ordre du jour.
"""


def test_one_session_cancelled_then_moved_in_invitations_and_feeds(root, smtp_server,
                                                                   tmp_path):
    """Cancelling one session sends a CANCEL for its RECURRENCE-ID only (what Google sends),
    moving one sends that session's override only; the feed carries the same SEQUENCE, the
    EXDATE and the override; a newcomer gets the whole series as it now is."""
    env = smtp_env(smtp_server)
    path = "calendars/events/2027-03-serie.md"
    uid = f"2027-03-serie@{_domain(root)}"

    def invite():
        result = cli("invite", "2027-03-serie", "--confirm", "--root", str(root),
                     "--today", TODAY, env=env)
        assert result.exit_code == 0, result.output
        return take(smtp_server)

    def feed() -> list[dict]:
        assert cli("calendar", "--root", str(root)).exit_code == 0
        feed_path = root / "build/calendars/copil.ics"
        events = [e for e in parse_with_icaljs(feed_path)["events"] if e["uid"] == uid]
        published(feed_path, uid, tmp_path)  # icalendar agrees
        return events

    write(root, path, SERIES.format(more=""))
    first = invite()
    people = sorted(m["To"].addresses[0].addr_spec for m in first)
    assert len(people) == 2
    assert {(m, e[0]["SEQUENCE"], "RRULE" in e[0]) for m, e in map(invitation_events, first)} \
        == {("REQUEST", 0, True)}

    # One session cancelled: a CANCEL of that session, nothing else.
    write(root, path, SERIES.format(more="  except: [2027-04-01]\n"))
    cancels = invite()
    assert sorted(m["To"].addresses[0].addr_spec for m in cancels) == people
    for msg in cancels:
        method, (event,) = invitation_events(msg)
        assert (method, event["SEQUENCE"], event["STATUS"]) == ("CANCEL", 1, "CANCELLED")
        assert "RRULE" not in event
        assert event["RECURRENCE-ID"].dt == datetime(2027, 4, 1, 12, 0, tzinfo=UTC)
        assert msg["Subject"].startswith(f"Séance annulée{NBSP}: ")
        path_ics = tmp_path / "cancel.ics"
        part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
        path_ics.write_bytes(part.get_payload(decode=True))
        (read,) = parse_with_icaljs(path_ics)["events"]
        assert read["recurrenceId"] == "2027-04-01T12:00:00.000Z" and read["sequence"] == 1
    text = " ".join(cancels[0].get_body(("plain",)).get_content().split())
    assert "Séance annulée" in text and "1er avril 2027" in text
    (master,) = feed()
    assert master["sequence"] == 1 and master["exdates"] == ["2027-04-01T12:00:00.000Z"]

    # One session moved: a REQUEST holding that session's override only.
    write(root, path, SERIES.format(more="  except: [2027-04-01]\n  moved:\n"
                                         "    2027-05-06: 2027-05-12 15:00\n"))
    moves = invite()
    assert len(moves) == 2
    for msg in moves:
        method, (event,) = invitation_events(msg)
        assert (method, event["SEQUENCE"]) == ("REQUEST", 2) and "RRULE" not in event
        assert event["RECURRENCE-ID"].dt == datetime(2027, 5, 6, 12, 0, tzinfo=UTC)
        assert event["DTSTART"].dt == datetime(2027, 5, 12, 13, 0, tzinfo=UTC)
        assert msg["Subject"].startswith(f"Séance déplacée{NBSP}: ")
    master, moved = feed()
    assert (master["sequence"], moved["sequence"]) == (2, 2)
    assert moved["recurrenceId"] == "2027-05-06T12:00:00.000Z"
    assert moved["start"] == "2027-05-12T13:00:00.000Z"
    assert invite() == []  # nothing more to send

    # A newcomer gets the whole series as it is now: EXDATE and the override, SEQUENCE 2.
    directory = root / "content/partners.csv"
    directory.write_text(directory.read_text(encoding="utf-8")
                         + "nina@example.org;Nina;Petit;MDA;Psy;copil;2026-01-10;\n",
                         encoding="utf-8")
    (joined,) = invite()
    method, events = invitation_events(joined)
    assert method == "REQUEST" and [e["SEQUENCE"] for e in events] == [2, 2]
    assert "RRULE" in events[0] and "EXDATE" in events[0] and "RECURRENCE-ID" in events[1]
    with Journal.open(root) as journal:
        states = {r["status"] for r in journal.db.execute("SELECT status FROM invitation_state")}
    assert states == {"invited"}  # a cancelled session is not a cancelled invitation
