"""VTIMEZONE in the RRULE form, derived from zoneinfo, read right by icalendar and ical.js."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from icaljs import parse_with_icaljs

from comms.calendar.timezone import transitions, vtimezone

PARIS = ZoneInfo("Europe/Paris")


def observances(tz: icalendar.Timezone) -> dict[str, list[icalendar.Component]]:
    out: dict[str, list] = {"STANDARD": [], "DAYLIGHT": []}
    for comp in tz.subcomponents:
        out[comp.name].append(comp)
    return out


def reparse(tz: icalendar.Timezone) -> icalendar.Timezone:
    cal = icalendar.Calendar()
    cal.add_component(tz)
    return icalendar.Calendar.from_ical(cal.to_ical()).walk("VTIMEZONE")[0]


def test_paris_is_the_usual_rrule_form():
    tz = reparse(vtimezone(PARIS, range(2027, 2028)))
    assert tz["TZID"] == "Europe/Paris"
    obs = observances(tz)
    assert len(obs["STANDARD"]) == 1 and len(obs["DAYLIGHT"]) == 1
    std, dst = obs["STANDARD"][0], obs["DAYLIGHT"][0]
    assert std["TZNAME"] == "CET" and dst["TZNAME"] == "CEST"
    assert std["TZOFFSETFROM"].td == timedelta(hours=2)
    assert std["TZOFFSETTO"].td == timedelta(hours=1)
    assert dst["TZOFFSETFROM"].td == timedelta(hours=1)
    assert dst["TZOFFSETTO"].td == timedelta(hours=2)
    assert std["DTSTART"].dt == datetime(1970, 10, 25, 3, 0)
    assert dst["DTSTART"].dt == datetime(1970, 3, 29, 2, 0)
    assert dict(std["RRULE"]) == {"FREQ": ["YEARLY"], "BYMONTH": [10], "BYDAY": ["-1SU"]}
    assert dict(dst["RRULE"]) == {"FREQ": ["YEARLY"], "BYMONTH": [3], "BYDAY": ["-1SU"]}
    assert b"RDATE" not in tz.to_ical()


def test_new_york_second_sunday_of_march_first_of_november():
    obs = observances(reparse(vtimezone(ZoneInfo("America/New_York"), range(2027, 2028))))
    std, dst = obs["STANDARD"][0], obs["DAYLIGHT"][0]
    assert (std["TZNAME"], dst["TZNAME"]) == ("EST", "EDT")
    assert std["TZOFFSETTO"].td == timedelta(hours=-5)
    assert dst["TZOFFSETTO"].td == timedelta(hours=-4)
    assert dst["RRULE"]["BYDAY"] == ["2SU"] and dst["RRULE"]["BYMONTH"] == [3]
    assert std["RRULE"]["BYDAY"] == ["1SU"] and std["RRULE"]["BYMONTH"] == [11]
    assert dst["DTSTART"].dt == datetime(1970, 3, 8, 2, 0)  # 2nd Sunday of March 1970
    assert std["DTSTART"].dt == datetime(1970, 11, 1, 2, 0)


def test_southern_hemisphere_summer_starts_in_october():
    obs = observances(reparse(vtimezone(ZoneInfo("Australia/Sydney"), range(2027, 2028))))
    assert obs["DAYLIGHT"][0]["RRULE"]["BYMONTH"] == [10]
    assert obs["STANDARD"][0]["RRULE"]["BYMONTH"] == [4]
    assert obs["DAYLIGHT"][0]["TZOFFSETTO"].td == timedelta(hours=11)


def test_tokyo_without_summer_time_has_one_standard():
    tz = reparse(vtimezone(ZoneInfo("Asia/Tokyo"), range(2027, 2028)))
    obs = observances(tz)
    assert obs["DAYLIGHT"] == [] and len(obs["STANDARD"]) == 1
    std = obs["STANDARD"][0]
    assert std["TZOFFSETFROM"].td == std["TZOFFSETTO"].td == timedelta(hours=9)
    assert std["TZNAME"] == "JST"
    assert "RRULE" not in std


def test_transitions_of_paris_2027():
    found = transitions(PARIS, 2027)
    assert [(t.at, t.wall, t.dst) for t in found] == [
        (datetime(2027, 3, 28, 1, 0, tzinfo=UTC), datetime(2027, 3, 28, 2, 0), True),
        (datetime(2027, 10, 31, 1, 0, tzinfo=UTC), datetime(2027, 10, 31, 3, 0), False),
    ]


def test_rule_that_byday_cannot_say_is_listed_transition_by_transition():
    # Israel changes on the Friday before the last Sunday of March: no BYDAY names that day.
    tz = reparse(vtimezone(ZoneInfo("Asia/Jerusalem"), range(2027, 2029)))
    text = tz.to_ical()
    assert b"RRULE" not in text and b"RDATE" not in text
    starts = {c["DTSTART"].dt for c in tz.subcomponents if c.name == "DAYLIGHT"}
    assert datetime(2027, 3, 26, 2, 0) in starts and datetime(2028, 3, 24, 2, 0) in starts


ZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney",
         "Asia/Jerusalem", "Europe/London"]


def sample_times(zone: ZoneInfo, year: int) -> list[datetime]:
    """10:00 on the 1st and 15th of each month, and the hour after each change."""
    times = [datetime(year, m, d, 10, 0, tzinfo=zone) for m in range(1, 13) for d in (1, 15)]
    for t in transitions(zone, year):
        times.append((t.at + timedelta(hours=1)).astimezone(zone))
        times.append((t.at - timedelta(hours=1)).astimezone(zone))
    return times


def ambiguous(when: datetime) -> bool:
    return when.replace(fold=0).utcoffset() != when.replace(fold=1).utcoffset()


@pytest.mark.parametrize("key", ZONES)
def test_icalendar_reads_our_vtimezone_like_zoneinfo(key):
    zone = ZoneInfo(key)
    tz = reparse(vtimezone(zone, range(2027, 2028))).to_tz()
    for when in sample_times(zone, 2027):
        wall = when.replace(tzinfo=None)
        assert wall.replace(tzinfo=tz).astimezone(UTC) == when.astimezone(UTC), wall


@pytest.mark.parametrize("key", ZONES)
def test_icaljs_reads_our_vtimezone_like_zoneinfo(key, tmp_path):
    zone = ZoneInfo(key)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//comms//test//FR")
    cal.add("version", "2.0")
    cal.add_component(vtimezone(zone, range(2027, 2028)))
    # ical.js reads a time of the repeated autumn hour as its second occurrence (tested in
    # test_ics.py); every other time must come out as zoneinfo says.
    times = [t for t in sample_times(zone, 2027) if not ambiguous(t)]
    for i, when in enumerate(times):
        ev = icalendar.Event()
        ev.add("uid", f"{i}@test")
        ev.add("dtstamp", datetime(2027, 1, 1, tzinfo=UTC))
        ev.add("dtstart", when)
        cal.add_component(ev)
    path = tmp_path / "zone.ics"
    path.write_bytes(cal.to_ical())
    read = parse_with_icaljs(path)
    assert read["timezones"] == [key]
    got = {e["uid"]: e["start"] for e in read["events"]}
    for i, when in enumerate(times):
        assert got[f"{i}@test"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"), when


def test_default_years_still_give_the_paris_rule():
    std = observances(vtimezone(PARIS))["STANDARD"][0]
    assert std["RRULE"]["BYDAY"] == "-1SU" or std["RRULE"]["BYDAY"] == ["-1SU"]
    assert std["DTSTART"].dt.date() == date(1970, 10, 25)
