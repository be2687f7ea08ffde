"""Dates and hours written in French, right on both sides of a clock change."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from factories import make_event, make_repeat

from comms.calendar.recurrence import occurrences
from comms.dates import badge, format_day, format_time, format_when, month_year

PARIS = ZoneInfo("Europe/Paris")
NB = "\u00a0"


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=PARIS)


def test_format_day():
    assert format_day(date(2027, 3, 4)) == "jeudi 4 mars 2027"
    assert format_day(date(2027, 10, 1)) == "vendredi 1er octobre 2027"
    assert format_day(date(2027, 8, 15)) == "dimanche 15 août 2027"
    assert format_day(date(2027, 2, 1), weekday=False) == "1er février 2027"
    assert format_day(date(2027, 12, 25), year=False) == "samedi 25 décembre"


def test_format_time():
    assert format_time(time(9, 0)) == f"9{NB}h"
    assert format_time(time(14, 30)) == f"14{NB}h{NB}30"
    assert format_time(time(8, 5)) == f"8{NB}h{NB}05"
    assert format_time(time(0, 0)) == f"0{NB}h"


def test_timed_same_day_and_single_time():
    assert format_when((at(2027, 3, 4, 14), at(2027, 3, 4, 16, 30), False)) == \
        f"jeudi 4 mars 2027 de 14{NB}h à 16{NB}h{NB}30"
    assert format_when((at(2027, 3, 18, 14), at(2027, 3, 18, 14), False)) == \
        f"jeudi 18 mars 2027 à 14{NB}h"
    assert format_when((at(2027, 6, 5, 20), at(2027, 6, 6, 0), False)) == \
        f"samedi 5 juin 2027 de 20{NB}h à minuit"


def test_timed_over_several_days():
    assert format_when((at(2027, 10, 4, 9), at(2027, 10, 5, 17), False)) == \
        f"du lundi 4 octobre 2027 à 9{NB}h au mardi 5 octobre 2027 à 17{NB}h"


def test_all_day():
    assert format_when((date(2027, 10, 7), date(2027, 10, 7), True)) == "jeudi 7 octobre 2027"
    assert format_when((date(2027, 10, 4), date(2027, 10, 17), True)) == \
        "du lundi 4 au dimanche 17 octobre 2027"
    assert format_when((date(2027, 9, 27), date(2027, 10, 3), True)) == \
        "du lundi 27 septembre au dimanche 3 octobre 2027"
    assert format_when((date(2027, 12, 30), date(2028, 1, 2), True)) == \
        "du jeudi 30 décembre 2027 au dimanche 2 janvier 2028"
    assert format_when((date(2027, 5, 1), date(2027, 5, 2), True)) == \
        "du samedi 1er au dimanche 2 mai 2027"


def test_events_and_occurrences_are_accepted():
    event = make_event(start=date(2027, 10, 4), end=date(2027, 10, 17))
    assert format_when(event) == "du lundi 4 au dimanche 17 octobre 2027"
    timed = make_event(start=at(2027, 3, 18, 14), end=at(2027, 3, 18, 16, 30))
    (occ,) = occurrences(timed, date(2027, 3, 1), date(2027, 3, 31))
    assert format_when(occ) == f"jeudi 18 mars 2027 de 14{NB}h à 16{NB}h{NB}30"


def test_spring_forward_day():
    # 28 March 2027: clocks go from 2:00 to 3:00 in Paris.
    assert format_when((at(2027, 3, 28, 1, 30), at(2027, 3, 28, 3, 30), False)) == \
        f"dimanche 28 mars 2027 de 1{NB}h{NB}30 à 3{NB}h{NB}30"
    # The same instants given in UTC are shown in Paris time, one hour apart in offset.
    before = datetime(2027, 3, 27, 13, 0, tzinfo=UTC)  # 14:00 CET
    after = datetime(2027, 3, 28, 12, 0, tzinfo=UTC)  # 14:00 CEST
    assert format_when((before, before, False), PARIS) == f"samedi 27 mars 2027 à 14{NB}h"
    assert format_when((after, after, False), PARIS) == f"dimanche 28 mars 2027 à 14{NB}h"


def test_fall_back_day():
    # 31 October 2027: 2:30 happens twice in Paris (CEST then CET).
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    second = datetime(2027, 10, 31, 1, 30, tzinfo=UTC)
    assert format_when((first, first, False), PARIS) == f"dimanche 31 octobre 2027 à 2{NB}h{NB}30"
    assert format_when((second, second, False), PARIS) == \
        f"dimanche 31 octobre 2027 à 2{NB}h{NB}30"
    assert format_when((at(2027, 10, 30, 23), at(2027, 10, 31, 4), False)) == \
        f"du samedi 30 octobre 2027 à 23{NB}h au dimanche 31 octobre 2027 à 4{NB}h"


def test_series_across_a_clock_change_keeps_its_wall_time():
    event = make_event(start=at(2027, 3, 4, 9), end=at(2027, 3, 4, 11),
                       repeat=make_repeat({"FREQ": "MONTHLY", "BYDAY": "1TH",
                                           "UNTIL": date(2027, 4, 30)}))
    texts = [format_when(o, PARIS) for o in occurrences(event, date(2027, 3, 1),
                                                        date(2027, 4, 30))]
    assert texts == [f"jeudi 4 mars 2027 de 9{NB}h à 11{NB}h",
                     f"jeudi 1er avril 2027 de 9{NB}h à 11{NB}h"]


def test_badge_and_month():
    assert badge(date(2027, 3, 18)) == ("jeu.", "18", "mars")
    assert badge(date(2027, 2, 25)) == ("jeu.", "25", "févr.")
    assert month_year(date(2027, 2, 15)) == "février 2027"
