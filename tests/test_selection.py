"""Which news and events go into an issue."""

from __future__ import annotations

from datetime import date, datetime

from factories import PARIS, make_event, make_issue, make_news, make_project

from comms.selection import agenda_window, select

ISSUES = (
    make_issue("2027-1", date(2027, 2, 15)),
    make_issue("2027-2", date(2027, 6, 15)),
    make_issue("2027-3", date(2027, 10, 15)),
)


def ids(items):
    return [i.id for i in items]


def test_news_window_pins_and_drafts():
    news = [
        make_news("too-early", date(2026, 10, 15)),  # the schedule's previous issue
        make_news("early", date(2026, 10, 16)),
        make_news("on-publish-day", date(2027, 2, 15)),
        make_news("day-after", date(2027, 2, 16)),
        make_news("pinned-later", date(2027, 1, 20), issue="2027-2"),
        make_news("draft", date(2027, 3, 1), draft=True),
        make_news("pinned-draft", date(2027, 3, 2), draft=True, issue="2027-2"),
        make_news("after-last", date(2027, 11, 1)),
    ]
    project = make_project(issues=ISSUES, news=news)
    first, second, third = (select(project, i.id) for i in ISSUES)
    assert ids(first.news) == ["early", "on-publish-day"]
    assert ids(second.news) == ["pinned-later", "day-after"]
    assert ids(third.news) == []
    assert "too-early" not in ids(first.news)
    everywhere = ids(first.news) + ids(second.news) + ids(third.news)
    assert len(everywhere) == len(set(everywhere))  # never in two issues


def test_sections_and_progress_groups():
    news = [
        make_news("n1", date(2027, 1, 1), section="news"),
        make_news("p-asv", date(2027, 1, 2), section="progress", dispositifs=("ASV",)),
        make_news("p-clsm", date(2027, 1, 3), section="progress", dispositifs=("CLSM",)),
        make_news("p-joint", date(2027, 1, 4), section="progress", dispositifs=("CLS", "CLSM")),
        make_news("p-common", date(2027, 1, 5), section="progress", dispositifs=("commun",)),
        make_news("r1", date(2027, 1, 6), section="resources"),
    ]
    content = select(make_project(issues=ISSUES, news=news), "2027-1")
    assert list(content.sections) == ["news", "progress", "resources"]
    assert ids(content.sections["news"]) == ["n1"]
    assert ids(content.sections["resources"]) == ["r1"]
    assert ids(content.progress["ASV"]) == ["p-asv"]
    assert ids(content.progress["CLS"]) == []
    assert ids(content.progress["CLSM"]) == ["p-clsm"]
    assert ids(content.progress["commun"]) == ["p-joint", "p-common"]


def test_agenda_window_until_next_issue_or_four_months():
    project = make_project(issues=ISSUES)
    assert agenda_window(project, ISSUES[0]) == (date(2027, 2, 15), date(2027, 6, 14))
    since, until = agenda_window(project, ISSUES[2])
    assert since == date(2027, 10, 15)
    assert date(2028, 2, 10) <= until <= date(2028, 2, 16)


def test_agenda_lists_window_events_in_order_with_cancelled_ones():
    events = [
        make_event("before", datetime(2027, 2, 14, 10, tzinfo=PARIS)),
        make_event("first-day", datetime(2027, 2, 15, 9, tzinfo=PARIS)),
        make_event("all-day", date(2027, 3, 18)),
        make_event("afternoon", datetime(2027, 3, 18, 14, tzinfo=PARIS)),
        make_event("cancelled", datetime(2027, 4, 1, 14, tzinfo=PARIS), status="cancelled"),
        make_event("next-issue", datetime(2027, 6, 15, 14, tzinfo=PARIS)),
        make_event("multi", date(2027, 2, 10), date(2027, 2, 16)),
    ]
    content = select(make_project(issues=ISSUES, events=events), "2027-1")
    agenda = [(o.event.id, o.cancelled) for o in content.agenda]
    assert agenda == [
        ("multi", False),  # started before the window, still running on publish day
        ("first-day", False),
        ("all-day", False),
        ("afternoon", False),
        ("cancelled", True),
    ]
