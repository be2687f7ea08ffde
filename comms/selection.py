"""What goes into an issue: its news, grouped, and the agenda window.

Rules (docs/redaction.md): an issue holds the items pinned to it plus the unpinned, non-draft
items dated after the previous issue's publish date and up to its own; an item never appears
in two issues. The agenda lists what happens from the publish date until the next issue's
publish date (four months when there is none); cancelled events stay, marked as cancelled.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from comms.calendar.recurrence import Occurrence, occurrences
from comms.model import COMMON, DISPOSITIFS, SECTIONS, Event, Issue, NewsItem, Project

AGENDA_WITHOUT_NEXT = timedelta(days=122)  # about four months


class IssueContent(NamedTuple):
    issue: Issue
    previous: Issue | None
    next: Issue | None
    news: tuple[NewsItem, ...]  # every item of the issue, by date
    sections: dict[str, tuple[NewsItem, ...]]  # SECTIONS key -> items, in SECTIONS order
    progress: dict[str, tuple[NewsItem, ...]]  # "ASV" | "CLS" | "CLSM" | COMMON -> items
    agenda: tuple[Occurrence, ...]
    agenda_from: date
    agenda_until: date  # inclusive


class _Index:
    """What every issue's selection needs, computed in one pass over the project: each
    issue's position, its news, and the events by start day (so that an issue's agenda
    looks only at the events near its window). `check` and `build --all` select every
    issue: this keeps them linear in the size of the content."""

    def __init__(self, project: Project):
        self.project = project
        issues = project.issues
        self.position = {id(issue): n for n, issue in enumerate(issues)}
        by_id = {issue.id: issue for issue in issues}
        dates = [issue.publish_on for issue in issues]
        first_after = scheduled_before(project, issues[0].publish_on) if issues else None
        news: dict[str, list[NewsItem]] = {issue.id: [] for issue in issues}
        for item in project.news:  # sorted by date and id: each list stays sorted
            if item.draft:
                continue
            if item.issue is not None:
                if item.issue in by_id:
                    news[item.issue].append(item)
                continue
            k = bisect_left(dates, item.date)  # the first issue published on or after it
            if k < len(issues) and (k > 0 or first_after < item.date):
                news[issues[k].id].append(item)
        self.news = {key: tuple(items) for key, items in news.items()}
        self.single: list[tuple[date, Event]] = []  # one-off events by start day
        self.longest = timedelta(0)
        self.repeating: list[Event] = []
        for event in project.events:
            if event.repeat is None:
                start, end = _day(event.start), _day(event.end)
                self.single.append((start, event))
                self.longest = max(self.longest, end - start)
            else:
                self.repeating.append(event)
        self.single.sort(key=lambda pair: pair[0])
        self.single_days = [day for day, _ in self.single]

    def events_near(self, since: date, until: date) -> list[Event]:
        """Events that may have an occurrence in [since, until] (the agenda sorts them)."""
        low = bisect_left(self.single_days, since - self.longest - timedelta(days=1))
        high = bisect_right(self.single_days, until + timedelta(days=1))
        return [e for _, e in self.single[low:high]] + self.repeating


_last: _Index | None = None


def _index(project: Project) -> _Index:
    """The index of `project`, kept for the last project seen (a run reads one project)."""
    global _last
    if _last is None or _last.project is not project:
        _last = _Index(project)
    return _last


def _day(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def neighbours(project: Project, issue: Issue) -> tuple[Issue | None, Issue | None]:
    index = _index(project).position.get(id(issue))
    if index is None:
        index = project.issues.index(issue)
    previous = project.issues[index - 1] if index > 0 else None
    following = project.issues[index + 1] if index + 1 < len(project.issues) else None
    return previous, following


def scheduled_before(project: Project, day: date) -> date:
    """The last yearly publish date (comms.yaml `issue_dates`) strictly before `day`."""
    candidates = [date(year, month, dom) for year in (day.year - 1, day.year)
                  for month, dom in project.site.issue_dates]
    earlier = [d for d in candidates if d < day]
    return max(earlier) if earlier else date(day.year - 1, day.month, min(day.day, 28))


def news_of(project: Project, issue: Issue) -> tuple[NewsItem, ...]:
    """The issue's items, by date: those pinned to it (`issue:`) and the unpinned, non-draft
    items dated after the previous issue's publish date and up to its own (the first issue
    of a root starts where the schedule's previous issue would have ended)."""
    return _index(project).news.get(issue.id, ())


def progress_group(item: NewsItem) -> str:
    """An item about one scheme goes under it; joint or common items go under COMMON."""
    schemes = [d for d in item.dispositifs if d in DISPOSITIFS]
    return schemes[0] if len(schemes) == 1 else COMMON


def agenda_window(project: Project, issue: Issue) -> tuple[date, date]:
    _, following = neighbours(project, issue)
    start = issue.publish_on
    end = (following.publish_on - timedelta(days=1)) if following else start + AGENDA_WITHOUT_NEXT
    return start, end


def _chronological(occ: Occurrence) -> tuple:
    """All-day entries first on their day, then by start time."""
    if isinstance(occ.start, datetime):
        return (occ.start.date(), 1, occ.start.time(), occ.event.id)
    return (occ.start, 0, time.min, occ.event.id)


def select(project: Project, issue_id: str) -> IssueContent:
    issue = project.issue(issue_id)
    if issue is None:
        raise KeyError(issue_id)
    previous, following = neighbours(project, issue)
    items = news_of(project, issue)
    sections = {key: tuple(n for n in items if n.section == key) for key in SECTIONS}
    progress = {
        group: tuple(n for n in sections["progress"] if progress_group(n) == group)
        for group in (*DISPOSITIFS, COMMON)
    }
    since, until = agenda_window(project, issue)
    agenda = sorted(
        (occ for event in _index(project).events_near(since, until)
         for occ in occurrences(event, since, until)),
        key=_chronological,
    )
    return IssueContent(issue, previous, following, items, sections, progress, tuple(agenda),
                        since, until)


def issue_of_item(project: Project, item: NewsItem) -> Issue | None:
    """The issue an item lands in, if any (used by `check` to warn about orphans)."""
    for issue in project.issues:
        if item in news_of(project, issue):
            return issue
    return None
