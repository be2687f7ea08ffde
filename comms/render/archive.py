"""The web archive: one page per issue (ISSUE/index.html) and the list of every issue.

The issue page shows the same content as the email, from the same views, as an ordinary
HTML5 page: full agenda texts, « Ajouter à mon agenda » links, no greeting and no
unsubscribe link (the page is public and the same for everyone).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from comms.model import Issue, Project
from comms.render.markdown import french_spacing
from comms.render.newsletter import (
    RenderedIssue,
    contact_views,
    context,
    editorial_views,
    feed_views,
    issue_url,
)
from comms.render.templates import render, theme_for
from comms.selection import news_of

MAX_HEADLINES = 6


class IssueEntry(NamedTuple):
    url: str
    number_line: str
    title: str
    publish_on: date
    headlines: tuple[str, ...]


def render_archive_page(project: Project, rendered: RenderedIssue) -> str:
    """ISSUE/index.html: the issue as a web page."""
    if rendered.context is not None:  # the email's context, without its greeting
        # The page keeps the editorial's own greeting, which the email replaces by a
        # personal one.
        editorial = editorial_views(project, rendered.content.issue.editorial_md,
                                    rendered.context["theme"])
        ctx = {**rendered.context, "personal": None, **editorial}
    else:
        ctx = context(project, rendered.content, personal=None)
    return render(project.site.root, "archive_issue.html.j2", **ctx)


def render_archive_index(project: Project, issues_built: Iterable[Issue]) -> str:
    """index.html at the archive's root: the issues built, newest first, with headlines."""
    site = project.site
    entries = []
    for issue in sorted(issues_built, key=lambda i: i.publish_on, reverse=True):
        entries.append(IssueEntry(
            url=issue_url(project, issue.id),
            number_line=f"N°\u00a0{issue.number}" + (f" · {issue.period}" if issue.period
                                                     else ""),
            title=french_spacing(issue.title),
            publish_on=issue.publish_on,
            headlines=tuple(french_spacing(n.title)
                            for n in news_of(project, issue)[:MAX_HEADLINES]),
        ))
    return render(site.root, "archive_index.html.j2", site=site, theme=theme_for(site),
                  title=french_spacing(site.newsletter_title), archive_url=site.web_base_url,
                  issues=entries, feeds=feed_views(project), coordinators=contact_views(project))
