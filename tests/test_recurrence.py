"""The `repeat:` block: what it accepts, what it refuses and why, and the dates it gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from factories import PARIS, make_event, make_repeat

from comms.calendar.recurrence import Occurrence, occurrences, parse_repeat

THU_0304 = datetime(2027, 3, 4, 9, 0, tzinfo=PARIS)  # first Thursday of March 2027


class Reports:
    def __init__(self):
        self.items: list[tuple[str, str, str]] = []

    def __call__(self, field: str, message: str, hint: str) -> None:
        self.items.append((field, message, hint))

    @property
    def fields(self) -> list[str]:
        return [f for f, _, _ in self.items]


def parse(raw: dict, start=THU_0304):
    reports = Reports()
    return parse_repeat(raw, start, reports), reports


# --- accepted ---------------------------------------------------------------------------------

def test_first_thursday_until_gives_rrule_until_in_utc_at_end_of_local_day():
    repeat, reports = parse({"every": "month", "on": "first thursday", "until": "2027-06-30",
                             "except": ["2027-04-01"]})
    assert reports.items == []
    assert repeat.rrule == {"FREQ": "MONTHLY", "BYDAY": "1TH",
                            "UNTIL": datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC)}
    assert repeat.exceptions == (date(2027, 4, 1),)
    assert repeat.text == ("le premier jeudi de chaque mois, jusqu’au 30 juin 2027, "
                           "sauf le 1er avril 2027")


def test_until_in_winter_is_23_59_59_cet():
    repeat, _ = parse({"every": "month", "on": "first thursday", "until": "2027-12-31"})
    assert repeat.rrule["UNTIL"] == datetime(2027, 12, 31, 22, 59, 59, tzinfo=UTC)


def test_all_day_series_has_a_date_until():
    repeat, reports = parse({"every": "year", "until": "2030-03-04"}, start=date(2027, 3, 4))
    assert reports.items == []
    assert repeat.rrule == {"FREQ": "YEARLY", "UNTIL": date(2030, 3, 4)}
    assert type(repeat.rrule["UNTIL"]) is date
    assert repeat.text == "chaque année, le 4 mars, jusqu’au 4 mars 2030"


@pytest.mark.parametrize(("every", "freq", "interval"), [
    ("week", "WEEKLY", 1), ("2 weeks", "WEEKLY", 2), ("Month", "MONTHLY", 1),
    ("2 months", "MONTHLY", 2), ("year", "YEARLY", 1), ("semaine", "WEEKLY", 1),
    ("2 semaines", "WEEKLY", 2), ("mois", "MONTHLY", 1), ("2 MOIS", "MONTHLY", 2),
    ("an", "YEARLY", 1), ("année", "YEARLY", 1), ("annee", "YEARLY", 1),
])
def test_every_in_english_or_french(every, freq, interval):
    repeat, reports = parse({"every": every, "count": 3})
    assert reports.items == []
    assert repeat.rrule["FREQ"] == freq
    assert repeat.rrule.get("INTERVAL", 1) == interval
    assert repeat.rrule["COUNT"] == 3


@pytest.mark.parametrize(("on", "byday", "start"), [
    ("first thursday", "1TH", date(2027, 3, 4)),
    ("Premier Jeudi", "1TH", date(2027, 3, 4)),
    ("second tuesday", "2TU", date(2027, 3, 9)),
    ("deuxième mardi", "2TU", date(2027, 3, 9)),
    ("third monday", "3MO", date(2027, 3, 15)),
    ("troisième lundi", "3MO", date(2027, 3, 15)),
    ("fourth friday", "4FR", date(2027, 3, 26)),
    ("quatrième vendredi", "4FR", date(2027, 3, 26)),
    ("last wednesday", "-1WE", date(2027, 3, 31)),
    ("dernier mercredi", "-1WE", date(2027, 3, 31)),
])
def test_on_in_english_or_french(on, byday, start):
    repeat, reports = parse({"every": "month", "on": on, "count": 2}, start=start)
    assert reports.items == []
    assert repeat.rrule["BYDAY"] == byday


@pytest.mark.parametrize(("raw", "start", "text"), [
    ({"every": "week", "count": 4}, THU_0304, "chaque jeudi, 4 fois"),
    ({"every": "2 weeks", "count": 4}, THU_0304, "un jeudi sur deux, 4 fois"),
    ({"every": "month", "until": "2027-12-31"}, date(2027, 3, 1),
     "le 1er de chaque mois, jusqu’au 31 décembre 2027"),
    ({"every": "2 months", "on": "last friday", "count": 3}, date(2027, 3, 26),
     "le dernier vendredi du mois, tous les 2 mois, 3 fois"),
    ({"every": "month", "on": "first thursday", "count": 5,
      "except": ["2027-05-06", "2027-04-01"]}, THU_0304,
     "le premier jeudi de chaque mois, 5 fois, sauf les 1er avril 2027 et 6 mai 2027"),
])
def test_french_description(raw, start, text):
    repeat, reports = parse(raw, start)
    assert reports.items == []
    assert repeat.text == text


def test_yaml_1_1_on_key_read_as_true_still_counts_as_on():
    repeat, reports = parse({"every": "month", True: "first thursday", "count": 2})
    assert reports.items == []
    assert repeat.rrule["BYDAY"] == "1TH"


# --- refused ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "start", "field", "message", "hint"), [
    ({"every": "month", "count": 2, "excpt": ["2027-04-01"]}, THU_0304,
     "repeat.excpt", "champ inconnu", "« except »"),
    ({"every": "month", "count": 2, "untill": "2027-06-30"}, THU_0304, "repeat.untill",
     "champ inconnu", "« until »"),
    ({"every": "daily", "count": 2}, THU_0304, "repeat.every",
     "« daily » n’est pas une fréquence reconnue", "2 weeks"),
    ({"every": "0 weeks", "count": 2}, THU_0304, "repeat.every", "au moins 1", "week"),
    ({"count": 2}, THU_0304, "repeat.every", "champ obligatoire manquant", "every: month"),
    # Dates some periods lack: the clients disagree (RFC 5545 skips, Outlook moves).
    ({"every": "month", "on": "fifth thursday", "count": 2}, THU_0304, "repeat.on",
     "«\u00a0fifth thursday\u00a0» n’existe pas tous les mois", "«\u00a0last thursday\u00a0»"),
    ({"every": "month", "on": "fifth thursday", "count": 2}, THU_0304, "repeat.on",
     "n’existe pas tous les mois", "«\u00a0dernier jeudi\u00a0»"),
    ({"every": "mois", "on": "5e jeudi", "count": 2}, THU_0304, "repeat.on",
     "n’existe pas tous les mois", "«\u00a0dernier jeudi\u00a0»"),
    ({"every": "month", "count": 4}, datetime(2027, 1, 31, 9, 0, tzinfo=PARIS),
     "repeat.every", "le 31 n’existe pas tous les mois", "«\u00a0on: dernier dimanche\u00a0»"),
    ({"every": "2 months", "count": 4}, date(2027, 3, 29), "repeat.every",
     "le 29 n’existe pas tous les mois", "du 1er au 28"),
    ({"every": "year", "count": 4}, date(2028, 2, 29), "repeat.every",
     "le 29 février n’existe que les années bissextiles", "28 février"),
    # One session moved: it must be a date of the series, and not also excepted.
    ({"every": "month", "on": "first thursday", "count": 3,
      "moved": {"2027-04-08": "2027-04-09"}}, THU_0304, "repeat.moved",
     "le 8 avril 2027 n’est pas une date de la série", "jeudi 1er avril 2027"),
    ({"every": "month", "on": "first thursday", "count": 3, "except": ["2027-04-01"],
      "moved": {"2027-04-01": "2027-04-02"}}, THU_0304, "repeat.moved",
     "est aussi dans «\u00a0except\u00a0»", "l’un des deux"),
    ({"every": "month", "on": "first thursday", "count": 3, "moved": "2027-04-02"},
     THU_0304, "repeat.moved", "on attend une ou plusieurs lignes", "2027-05-06: 2027-05-12"),
    ({"every": "month", "on": "first thursday", "count": 3,
      "moved": {"2027-04-01": "12 avril"}}, THU_0304, "repeat.moved", "n’est pas une date",
     "AAAA-MM-JJ"),
    ({"every": "month", "on": "first thursdy", "count": 2}, THU_0304, "repeat.on",
     "n’est pas un jour de la semaine", "« thursday »"),
    ({"every": "week", "on": "first thursday", "count": 2}, THU_0304, "repeat.on",
     "« on » ne s’utilise qu’avec une répétition mensuelle", "supprimez « on »"),
    ({"every": "year", "on": "first thursday", "count": 2}, THU_0304, "repeat.on",
     "mensuelle", "every: month"),
    ({"every": "month", "until": "2027-06-30", "count": 3}, THU_0304, "repeat",
     "« until » et « count » ne peuvent pas être donnés ensemble", "gardez l’un des deux"),
    ({"every": "month"}, THU_0304, "repeat", "la fin de la répétition manque", "count: 6"),
    ({"every": "month", "until": "2027-02-28"}, THU_0304, "repeat.until",
     "la fin de la répétition (28 février 2027) est avant la première date (4 mars 2027)",
     "postérieure"),
    ({"every": "month", "until": "30 juin"}, THU_0304, "repeat.until",
     "n’est pas une date", "AAAA-MM-JJ"),
    ({"every": "month", "count": "six"}, THU_0304, "repeat.count",
     "n’est pas un nombre entier", "nombre"),
    ({"every": "month", "count": 0}, THU_0304, "repeat.count", "aucune date", "au moins 1"),
    ({"every": "month", "on": "first thursday", "until": "2027-06-30",
      "except": ["2027-04-08"]}, THU_0304, "repeat.except",
     "le 8 avril 2027 n’est pas une date de la série",
     "jeudi 1er avril 2027 et jeudi 6 mai 2027"),
    ({"every": "month", "count": 2, "except": ["2027-13-01"]}, THU_0304, "repeat.except",
     "n’existe pas", "AAAA-MM-JJ"),
    ({"every": "month", "on": "first thursday", "count": 3},
     datetime(2027, 3, 16, 9, 0, tzinfo=PARIS), "repeat.on",
     "la première date (mardi 16 mars 2027) n’est pas le premier jeudi du mois",
     "le premier jeudi de mars 2027 est le jeudi 4 mars 2027"),
    ({"every": "month", "on": "last friday", "count": 3}, date(2027, 3, 19), "repeat.on",
     "n’est pas le dernier vendredi du mois", "le vendredi 26 mars 2027"),
    ({"every": "week", "count": 2, "except": ["2027-03-04", "2027-03-11"]}, THU_0304,
     "repeat.except", "toutes les dates de la série sont dans « except »",
     "retirez des dates"),
    ({"every": "week", "until": "2207-03-04"}, THU_0304, "repeat.until",
     "plus de 1000 dates", "année de fin"),
])
def test_errors_say_what_is_wrong_and_what_to_write(raw, start, field, message, hint):
    repeat, reports = parse(raw, start)
    assert repeat is None
    assert len(reports.items) == 1, reports.items
    got_field, got_message, got_hint = reports.items[0]
    assert got_field == field
    assert message in got_message
    assert hint in got_hint


def test_misspelt_every_is_unknown_and_every_missing():
    repeat, reports = parse({"evry": "month", "count": 2})
    assert repeat is None
    assert reports.fields == ["repeat.evry", "repeat.every"]
    assert "« every »" in reports.items[0][2]


def test_on_may_start_with_an_article():
    repeat, reports = parse({"every": "month", "on": "le premier jeudi", "count": 2})
    assert reports.items == [] and repeat.rrule["BYDAY"] == "1TH"


def test_not_a_mapping():
    repeat, reports = parse("monthly")  # type: ignore[arg-type]
    assert repeat is None and reports.fields == ["repeat"]


def test_every_problem_is_reported_not_only_the_first():
    repeat, reports = parse({"every": "fortnightly", "on": "first thursday", "counts": 2})
    assert repeat is None
    assert sorted(reports.fields) == ["repeat", "repeat.counts", "repeat.every"]


# --- occurrences ------------------------------------------------------------------------------

def first_thursdays():
    repeat, reports = parse({"every": "month", "on": "first thursday", "until": "2027-12-31",
                             "except": ["2027-04-01"]})
    assert reports.items == []
    return make_event("partenaires", start=THU_0304,
                      end=THU_0304 + timedelta(hours=2, minutes=30), repeat=repeat)


def test_monthly_first_thursday_keeps_nine_o_clock_across_the_clock_change():
    found = occurrences(first_thursdays(), date(2027, 1, 1), date(2027, 12, 31))
    assert [o.start.date() for o in found] == [
        date(2027, 3, 4), date(2027, 4, 1), date(2027, 5, 6), date(2027, 6, 3),
        date(2027, 7, 1), date(2027, 8, 5), date(2027, 9, 2), date(2027, 10, 7),
        date(2027, 11, 4), date(2027, 12, 2)]
    assert {(o.start.hour, o.start.minute) for o in found} == {(9, 0)}
    assert {(o.end.hour, o.end.minute) for o in found} == {(11, 30)}
    assert all(o.start.tzinfo is PARIS for o in found)
    utc_hours = [o.start.astimezone(UTC).hour for o in found]
    assert utc_hours == [8, 7, 7, 7, 7, 7, 7, 7, 8, 8]
    assert [o.cancelled for o in found] == [d == date(2027, 4, 1) for d in
                                            (o.start.date() for o in found)]


def test_occurrences_within_the_window_only():
    found = occurrences(first_thursdays(), date(2027, 5, 6), date(2027, 7, 1))
    assert [o.start.date() for o in found] == [date(2027, 5, 6), date(2027, 6, 3),
                                               date(2027, 7, 1)]
    assert all(isinstance(o, Occurrence) for o in found)


def test_count_limits_the_series():
    repeat, _ = parse({"every": "2 weeks", "count": 3})
    event = make_event(start=THU_0304, repeat=repeat)
    found = occurrences(event, date(2027, 1, 1), date(2028, 1, 1))
    assert [o.start.date() for o in found] == [date(2027, 3, 4), date(2027, 3, 18),
                                               date(2027, 4, 1)]


def test_single_event_yields_at_most_one():
    event = make_event(start=datetime(2027, 3, 18, 14, 0, tzinfo=PARIS))
    assert occurrences(event, date(2027, 3, 19), date(2027, 3, 31)) == []
    (only,) = occurrences(event, date(2027, 3, 18), date(2027, 3, 18))
    assert (only.start, only.end, only.cancelled) == (event.start, event.end, False)


def test_multi_day_event_overlapping_the_window_start():
    event = make_event("journee", start=date(2027, 3, 17), end=date(2027, 3, 19))
    (only,) = occurrences(event, date(2027, 3, 19), date(2027, 3, 31))
    assert (only.start, only.end) == (date(2027, 3, 17), date(2027, 3, 19))
    assert (only.first_day, only.last_day) == (date(2027, 3, 17), date(2027, 3, 19))


def test_all_day_weekly_series_gives_dates():
    repeat, reports = parse({"every": "week", "count": 3, "except": ["2027-05-10"]},
                            start=date(2027, 5, 3))
    assert reports.items == []
    event = make_event("permanence", start=date(2027, 5, 3), end=date(2027, 5, 4),
                       repeat=repeat)
    found = occurrences(event, date(2027, 5, 5), date(2027, 12, 31))
    assert [(o.start, o.end, o.cancelled) for o in found] == [
        (date(2027, 5, 10), date(2027, 5, 11), True),
        (date(2027, 5, 17), date(2027, 5, 18), False),
    ]


def test_cancelled_event_makes_every_occurrence_cancelled():
    event = first_thursdays()
    event = make_event("x", start=event.start, end=event.end, repeat=event.repeat,
                       status="cancelled")
    assert all(o.cancelled for o in occurrences(event, date(2027, 1, 1), date(2027, 12, 31)))


def test_hand_written_repeat_with_a_date_until_on_a_timed_event_includes_that_day():
    repeat = make_repeat({"FREQ": "WEEKLY", "UNTIL": date(2027, 3, 18)})
    found = occurrences(make_event(start=THU_0304, repeat=repeat),
                        date(2027, 1, 1), date(2027, 12, 31))
    assert [o.start.day for o in found] == [4, 11, 18]


def test_a_moved_session_keeps_its_place_in_the_series():
    raw = {"every": "month", "on": "first thursday", "count": 3,
           "moved": {"2027-04-01": "2027-04-02 10:00", "2027-05-06": "2027-05-12"}}
    repeat, reports = parse(raw, THU_0304)
    assert reports.items == []
    assert repeat.moves == (
        (date(2027, 4, 1), datetime(2027, 4, 2, 10, 0, tzinfo=PARIS)),
        (date(2027, 5, 6), datetime(2027, 5, 12, THU_0304.hour, THU_0304.minute,
                                    tzinfo=PARIS)))
    assert "la séance du 1er avril 2027 a lieu le vendredi 2 avril 2027" in repeat.text
    event = make_event(start=THU_0304, repeat=repeat)
    starts = [o.start for o in occurrences(event, date(2027, 1, 1), date(2027, 12, 31))]
    assert starts[1] == datetime(2027, 4, 2, 10, 0, tzinfo=PARIS)
    assert starts[2].date() == date(2027, 5, 12)
