"""What goes into an issue: its news, grouped, and the agenda window.

Rules (docs/redaction.md): an issue holds the items pinned to it plus the unpinned, non-draft
items dated after the previous issue's publish date and up to its own; an item never appears
in two issues. The agenda lists what happens from the publish date until the next issue's
publish date (four months when there is none); cancelled events stay, marked as cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from comms.calendar.recurrence import Occurrence, occurrences
from comms.model import COMMON, DISPOSITIFS, SECTIONS, Issue, NewsItem, Project

AGENDA_WITHOUT_NEXT = timedelta(days=122)  # about four months


@dataclass(frozen=True)
class IssueContent:
    issue: Issue
    previous: Issue | None
    next: Issue | None
    news: tuple[NewsItem, ...]  # every item of the issue, by date
    sections: dict[str, tuple[NewsItem, ...]]  # SECTIONS key -> items, in SECTIONS order
    progress: dict[str, tuple[NewsItem, ...]]  # "ASV" | "CLS" | "CLSM" | COMMON -> items
    agenda: tuple[Occurrence, ...]
    agenda_from: date
    agenda_until: date  # inclusive


def neighbours(project: Project, issue: Issue) -> tuple[Issue | None, Issue | None]:
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
    previous, _ = neighbours(project, issue)
    # The first issue of a root starts where the schedule's previous issue would have ended.
    after = previous.publish_on if previous else scheduled_before(project, issue.publish_on)
    picked = [
        n for n in project.news
        if not n.draft and (
            n.issue == issue.id
            or (n.issue is None and after < n.date <= issue.publish_on)
        )
    ]
    return tuple(sorted(picked, key=lambda n: (n.date, n.id)))


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
        (occ for event in project.events for occ in occurrences(event, since, until)),
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
