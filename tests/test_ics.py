"""Our .ics as icalendar and ical.js (Thunderbird) read them: same instants, same dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil.rrule import rrulestr
from factories import PARIS, make_event, make_site
from icaljs import parse_with_icaljs

from comms.calendar.ics import calendar, event_ics, event_uid, to_bytes, vevent
from comms.calendar.recurrence import occurrences, parse_repeat
from comms.model import Coordinator

SITE = make_site()
STAMP = datetime(2027, 1, 10, 8, 30, tzinfo=UTC)


def z(when: datetime) -> str:
    """An instant as ical.js prints it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write(tmp_path: Path, data: bytes, name: str = "cal.ics") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_both(tmp_path: Path, data: bytes) -> tuple[icalendar.Calendar, dict]:
    """The calendar as icalendar parses it, and as ical.js does."""
    return icalendar.Calendar.from_ical(data), parse_with_icaljs(write(tmp_path, data))


def one_event_calendar(event, **kwargs) -> bytes:
    return to_bytes(calendar([vevent(event, SITE, dtstamp=STAMP, **kwargs)], SITE))


def first_thursdays():
    start = datetime(2027, 3, 4, 9, 0, tzinfo=PARIS)
    problems = []
    repeat = parse_repeat({"every": "month", "on": "first thursday", "until": "2027-12-31",
                           "except": ["2027-04-01"]}, start,
                          lambda *p: problems.append(p))
    assert problems == []
    return make_event("2027-03-petit-dejeuner", start=start, end=start + timedelta(hours=2),
                      title="Petit-déjeuner des partenaires", repeat=repeat)


# --- identity -------------------------------------------------------------------------------

def test_uid_is_derived_from_event_and_domain_never_random():
    event = make_event("2027-03-copil")
    assert event_uid(event, "sante.example.org") == "2027-03-copil@sante.example.org"
    first = vevent(event, SITE, dtstamp=STAMP)
    again = vevent(event, SITE, dtstamp=STAMP + timedelta(days=30), sequence=2)
    assert first["UID"] == again["UID"] == "2027-03-copil@sante.example.org"
    assert vevent(make_event("2027-04-copil"), SITE)["UID"] != first["UID"]


def test_calendar_header():
    cal = icalendar.Calendar.from_ical(one_event_calendar(make_event()))
    assert cal["PRODID"] == "-//comms//Val-de-Lisière//FR"
    assert cal["VERSION"] == "2.0"
    assert cal["CALSCALE"] == "GREGORIAN"
    assert cal["METHOD"] == "PUBLISH"
    assert "NAME" not in cal and "X-WR-CALNAME" not in cal


def test_named_calendar_names_itself_and_its_zone():
    cal = icalendar.Calendar.from_ical(to_bytes(calendar(
        [vevent(make_event(), SITE)], SITE, method="request", name="Agenda du CLSM")))
    assert cal["METHOD"] == "REQUEST"
    assert cal["NAME"] == cal["X-WR-CALNAME"] == "Agenda du CLSM"
    assert cal["X-WR-TIMEZONE"] == "Europe/Paris"


# --- times ----------------------------------------------------------------------------------

def test_timed_event_is_written_with_tzid_and_one_rrule_vtimezone(tmp_path):
    events = [vevent(make_event(f"e{i}", start=datetime(2027, m, 18, 14, tzinfo=PARIS)),
                     SITE, dtstamp=STAMP) for i, m in enumerate((3, 7, 11))]
    data = to_bytes(calendar(events, SITE))
    assert b"DTSTART;TZID=Europe/Paris:20270318T140000\r\n" in data
    assert b"DTEND;TZID=Europe/Paris:20270318T160000\r\n" in data
    assert b"RDATE" not in data  # the form ical.js misreads (see test_summer_time_...)
    cal, js = read_both(tmp_path, data)
    (tz,) = cal.walk("VTIMEZONE")
    assert tz["TZID"] == "Europe/Paris"
    assert {c.name for c in tz.subcomponents} == {"STANDARD", "DAYLIGHT"}
    assert js["timezones"] == ["Europe/Paris"]
    assert [e["tzid"] for e in js["events"]] == ["Europe/Paris"] * 3


@pytest.mark.parametrize(("local", "utc"), [
    (datetime(2027, 3, 28, 10, 0), datetime(2027, 3, 28, 8, 0)),    # clocks go forward
    (datetime(2027, 10, 31, 10, 0), datetime(2027, 10, 31, 9, 0)),  # clocks go back
    (datetime(2027, 7, 1, 10, 0), datetime(2027, 7, 1, 8, 0)),      # read 1 h late with RDATE
    (datetime(2027, 1, 15, 10, 0), datetime(2027, 1, 15, 9, 0)),
    (datetime(2027, 3, 28, 3, 0), datetime(2027, 3, 28, 1, 0)),     # first hour of summer
    (datetime(2027, 10, 31, 3, 0), datetime(2027, 10, 31, 2, 0)),   # first hour of winter
])
def test_summer_time_and_change_days_keep_the_utc_instant_in_both_parsers(local, utc, tmp_path):
    start = local.replace(tzinfo=PARIS)
    cal, js = read_both(tmp_path, one_event_calendar(make_event(start=start)))
    (ev,) = cal.walk("VEVENT")
    assert ev["DTSTART"].dt.astimezone(UTC) == utc.replace(tzinfo=UTC)
    assert ev["DTEND"].dt.astimezone(UTC) == utc.replace(tzinfo=UTC) + timedelta(hours=2)
    (read,) = js["events"]
    assert read["start"] == z(utc.replace(tzinfo=UTC))
    assert read["end"] == z(utc.replace(tzinfo=UTC) + timedelta(hours=2))


def test_time_in_the_repeated_autumn_hour(tmp_path):
    # 31 October 2027, 02:30 happens twice in Paris; fold=0 is the first one (CEST, 00:30Z),
    # which is what RFC 5545 says a local time in that hour means.
    start = datetime(2027, 10, 31, 2, 30, tzinfo=PARIS, fold=0)
    assert start.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    event = make_event(start=start, end=datetime(2027, 10, 31, 4, 0, tzinfo=PARIS))
    data = one_event_calendar(event)
    assert b"DTSTART;TZID=Europe/Paris:20271031T023000" in data
    cal, js = read_both(tmp_path, data)
    (ev,) = cal.walk("VEVENT")
    assert ev["DTSTART"].dt.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    # ical.js (Thunderbird) takes the second 02:30 (CET): one hour later than we meant.
    # Nothing in a TZID time can say otherwise; this records what Thunderbird shows.
    (read,) = js["events"]
    assert read["start"] == "2027-10-31T01:30:00.000Z"
    assert read["end"] == "2027-10-31T03:00:00.000Z"  # 04:00 is not ambiguous


def test_other_site_zone(tmp_path):
    site = make_site(timezone=ZoneInfo("America/New_York"))
    start = datetime(2027, 7, 1, 10, 0, tzinfo=site.timezone)
    data = to_bytes(calendar([vevent(make_event(start=start), site)], site))
    assert b"DTSTART;TZID=America/New_York:20270701T100000" in data
    cal, js = read_both(tmp_path, data)
    (tz,) = cal.walk("VTIMEZONE")
    assert tz["TZID"] == "America/New_York"
    assert js["events"][0]["start"] == "2027-07-01T14:00:00.000Z"


def test_start_in_another_zone_is_written_in_the_site_zone():
    start = datetime(2027, 7, 1, 8, 0, tzinfo=UTC)
    ev = vevent(make_event(start=start, end=start + timedelta(hours=1)), SITE)
    assert ev["DTSTART"].to_ical() == b"20270701T100000"
    assert ev["DTSTART"].params["TZID"] == "Europe/Paris"


# --- all-day ----------------------------------------------------------------------------------

def test_all_day_event_has_dates_and_an_exclusive_end(tmp_path):
    event = make_event("sism", start=date(2027, 10, 12))
    data = one_event_calendar(event)
    assert b"DTSTART;VALUE=DATE:20271012\r\n" in data
    assert b"DTEND;VALUE=DATE:20271013\r\n" in data
    cal, js = read_both(tmp_path, data)
    assert not cal.walk("VTIMEZONE")  # no time, no zone needed
    (ev,) = cal.walk("VEVENT")
    assert ev["TRANSP"] == "TRANSPARENT"
    assert (ev["DTSTART"].dt, ev["DTEND"].dt) == (date(2027, 10, 12), date(2027, 10, 13))
    (read,) = js["events"]
    assert read["isDate"] is True
    assert (read["start"], read["end"]) == ("2027-10-12", "2027-10-13")


def test_multi_day_event_ends_the_day_after_its_last_day(tmp_path):
    event = make_event("semaine", start=date(2027, 10, 11), end=date(2027, 10, 15))
    cal, js = read_both(tmp_path, one_event_calendar(event))
    (ev,) = cal.walk("VEVENT")
    assert ev["DTEND"].dt == date(2027, 10, 16)
    assert (js["events"][0]["start"], js["events"][0]["end"]) == ("2027-10-11", "2027-10-16")


def test_timed_event_is_opaque():
    assert vevent(make_event(), SITE)["TRANSP"] == "OPAQUE"


# --- recurrence -------------------------------------------------------------------------------

def test_monthly_first_thursday_with_one_exception_in_three_readers(tmp_path):
    event = first_thursdays()
    data = one_event_calendar(event)
    assert b"RRULE:FREQ=MONTHLY;UNTIL=20271231T225959Z;BYDAY=1TH\r\n" in data
    assert b"EXDATE;TZID=Europe/Paris:20270401T090000\r\n" in data
    expected = [datetime(2027, m, d, 9, 0, tzinfo=PARIS) for m, d in (
        (3, 4), (5, 6), (6, 3), (7, 1), (8, 5), (9, 2), (10, 7), (11, 4), (12, 2))]

    # 1. dateutil, through occurrences()
    ours = [o.start for o in occurrences(event, date(2027, 1, 1), date(2028, 12, 31))
            if not o.cancelled]
    assert ours == expected

    # 2. icalendar: the fields read back, expanded from what was parsed
    cal, js = read_both(tmp_path, data)
    (ev,) = cal.walk("VEVENT")
    dtstart = ev["DTSTART"].dt
    rule = rrulestr(ev["RRULE"].to_ical().decode(), dtstart=dtstart)
    excluded = {d.dt for d in ev["EXDATE"].dts}
    parsed = [d for d in rule if d not in excluded]
    assert [d.astimezone(UTC) for d in parsed] == [d.astimezone(UTC) for d in expected]
    assert excluded == {datetime(2027, 4, 1, 9, 0, tzinfo=PARIS)}

    # 3. ical.js, its own iterator with its own reading of the VTIMEZONE
    (read,) = js["events"]
    assert read["recurring"] is True
    assert read["occurrences"] == [z(d) for d in expected]

    # 09:00 in Paris on both sides of both clock changes
    assert [d.astimezone(UTC).hour for d in expected] == [8, 7, 7, 7, 7, 7, 7, 8, 8]


def test_all_day_weekly_series_excludes_a_date(tmp_path):
    start = date(2027, 5, 3)
    repeat = parse_repeat({"every": "week", "count": 4, "except": ["2027-05-10"]}, start,
                          lambda *p: pytest.fail(str(p)))
    event = make_event("permanence", start=start, repeat=repeat)
    data = one_event_calendar(event)
    assert b"EXDATE;VALUE=DATE:20270510\r\n" in data
    _cal, js = read_both(tmp_path, data)
    assert js["events"][0]["occurrences"] == ["2027-05-03", "2027-05-17", "2027-05-24"]


# --- the rest of the VEVENT -----------------------------------------------------------------

def test_invitation_fields_organizer_attendees_alarm(tmp_path):
    organizer = Coordinator("Claire Martin", "Coordinatrice", "claire.martin@sante.example.org")
    ev = vevent(make_event(), SITE, sequence=3, dtstamp=STAMP, method="REQUEST",
                organizer=organizer, alarm=timedelta(days=1),
                attendees=[("Jean Dupont, CCAS", "jean.dupont@ccas.example.org"),
                           ("", "accueil@cmp.example.org")])
    data = to_bytes(calendar([ev], SITE, method="REQUEST"))
    cal, js = read_both(tmp_path, data)
    (parsed,) = cal.walk("VEVENT")
    assert parsed["SEQUENCE"] == 3
    assert parsed["ORGANIZER"] == "mailto:claire.martin@sante.example.org"
    assert parsed["ORGANIZER"].params["CN"] == "Claire Martin"
    first, second = parsed["ATTENDEE"]
    assert first == "mailto:jean.dupont@ccas.example.org"
    assert first.params["CN"] == "Jean Dupont, CCAS"
    for attendee in (first, second):
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "TRUE"
        assert attendee.params["CUTYPE"] == "INDIVIDUAL"
    assert "CN" not in second.params
    (alarm,) = parsed.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["TRIGGER"].dt == timedelta(days=-1)
    assert b"TRIGGER:-P1D\r\n" in data
    assert alarm["DESCRIPTION"] == "Rappel\u00a0: Comité de pilotage"
    (read,) = js["events"]
    assert (read["attendees"], read["organizer"], read["alarms"], read["sequence"]) == (
        2, True, 1, 3)


def test_cancel_method_cancels_and_has_no_alarm():
    ev = vevent(make_event(), SITE, method="CANCEL", sequence=4, alarm=timedelta(days=1))
    assert ev["STATUS"] == "CANCELLED"
    assert not ev.walk("VALARM")


@pytest.mark.parametrize(("status", "written"), [("confirmed", "CONFIRMED"),
                                                 ("cancelled", "CANCELLED")])
def test_status(status, written):
    assert vevent(make_event(status=status), SITE)["STATUS"] == written


def test_publish_without_organizer_or_attendees_has_none():
    data = one_event_calendar(make_event(attendees=("secret@example.org",)))
    assert b"ATTENDEE" not in data and b"ORGANIZER" not in data and b"mailto:" not in data


def test_description_url_location_class_dtstamp():
    event = make_event(registration_url="https://sante.example.org/inscription",
                       online_url="https://visio.example.org/copil")
    ev = vevent(event, SITE, dtstamp=datetime(2027, 1, 10, 9, 30, tzinfo=PARIS))
    assert ev["DESCRIPTION"] == (
        "1. Bilan de l’année\n2. Programme\n\n"
        "Inscription\u00a0: https://sante.example.org/inscription\n"
        "Visio\u00a0: https://visio.example.org/copil")
    assert ev["URL"] == "https://visio.example.org/copil"  # online first
    assert ev["LOCATION"] == "Salle du conseil, mairie de Lisière"
    assert ev["CLASS"] == "PUBLIC"
    assert ev["DTSTAMP"].to_ical() == b"20270110T083000Z"
    only_registration = vevent(make_event(registration_url="https://a.example.org/r"), SITE)
    assert only_registration["URL"] == "https://a.example.org/r"
    custom = vevent(event, SITE, description="Ordre du jour en pièce jointe.")
    assert custom["DESCRIPTION"] == "Ordre du jour en pièce jointe."
    bare = vevent(make_event(location="", body_md=""), SITE)
    assert "LOCATION" not in bare and "URL" not in bare and "DESCRIPTION" not in bare


def test_default_dtstamp_is_now_in_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = vevent(make_event(), SITE)["DTSTAMP"].dt
    assert stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= datetime.now(UTC)


def test_event_ics_is_a_one_event_publish_calendar(tmp_path):
    data = event_ics(make_event(start=datetime(2027, 6, 10, 18, 0, tzinfo=PARIS)), SITE,
                     sequence=2, modified=STAMP)
    cal, js = read_both(tmp_path, data)
    assert cal["METHOD"] == "PUBLISH"
    assert len(cal.walk("VEVENT")) == 1 and len(cal.walk("VTIMEZONE")) == 1
    assert js["method"] == "PUBLISH"
    assert js["events"][0]["start"] == "2027-06-10T16:00:00.000Z"
    assert js["events"][0]["uid"] == "2027-03-copil@sante.example.org"
    assert js["events"][0]["sequence"] == 2
    (event,) = cal.walk("VEVENT")
    assert event["DTSTAMP"].dt == event["LAST-MODIFIED"].dt == STAMP


def test_bytes_are_crlf_and_folded():
    long_title = "Groupe de travail logement et santé mentale — " * 4
    data = one_event_calendar(make_event(title=long_title.strip()))
    lines = data.split(b"\r\n")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 75
    (ev,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert ev["SUMMARY"] == long_title.strip()


def test_missing_icaljs_fails_and_says_how_to_install(tmp_path, monkeypatch):
    import icaljs

    monkeypatch.setattr(icaljs, "JS_DIR", tmp_path)
    with pytest.raises(pytest.fail.Exception, match="run `make test`"):
        icaljs.parse_with_icaljs(write(tmp_path, one_event_calendar(make_event())))
