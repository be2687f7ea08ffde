"""The public site: what may be put online, rendered into a folder.

Only public files go out: the archive index, the page of every published issue with its
images and « Ajouter à mon agenda » files, and the agenda feeds. Never the directory, the
journal (`var/`), `.env`, drafts, the preview `.eml` nor an issue not yet published. Pages use
relative links, so the site works wherever it is copied (and in `comms preview`); the email
keeps absolute ones. Outputs are byte-stable: the same content gives the same bytes (calendar
files carry each event's revision from `comms.calendar.revisions`, not the time of the
build).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from comms.build import render_checked
from comms.calendar.feeds import FEEDS_DIR, PublishedEvents, write_feeds
from comms.calendar.revisions import Revisions
from comms.model import Issue, Project
from comms.render.archive import MAX_HEADLINES, IssueEntry
from comms.render.markdown import french_spacing
from comms.render.newsletter import assets, contact_views, context, feed_views, issue_url
from comms.render.templates import render, theme_for
from comms.selection import news_of, select
from comms.write import atomic_write

INDEX = "index.html"


@dataclass(frozen=True)
class PublicSite:
    """What a public site holds: its folder, the issues put online, and every file written
    (paths relative to the folder, sorted)."""

    folder: Path
    issues: tuple[Issue, ...]
    files: tuple[str, ...]


def published_issues(project: Project, today: date, sent: Iterable[str] = ()) -> list[Issue]:
    """Issues whose publication date has come (`today`, local date of the territory), or
    already sent (campaign ids in `sent`, e.g. `newsletter-2027-1`), oldest first."""
    sent = set(sent)
    return [i for i in project.issues
            if i.publish_on <= today or f"newsletter-{i.id}" in sent]


def with_base(project: Project, base: str) -> Project:
    """The same project with every web link built on `base` ("../", "./" or an absolute URL)."""
    return replace(project, site=replace(project.site, web_base_url=base))


def issue_page(project: Project, issue_id: str) -> str:
    """ISSUE/index.html with links relative to the issue's folder; the canonical link stays
    absolute."""
    local = with_base(project, "../")
    ctx = context(local, select(local, issue_id), personal=None)
    ctx["issue_url"] = issue_url(project, issue_id)
    ctx["feeds"] = feed_views(project)  # calendar applications need the full address
    return render(project.site.root, "archive_issue.html.j2", **ctx)


def archive_index(project: Project, issues: Iterable[Issue]) -> str:
    """index.html with relative links to the issues; feeds keep their full address."""
    local = with_base(project, "./")
    site = local.site
    entries = [IssueEntry(
        url=issue_url(local, issue.id),
        number_line=f"N°\u00a0{issue.number}" + (f" · {issue.period}" if issue.period else ""),
        title=french_spacing(issue.title),
        publish_on=issue.publish_on,
        headlines=tuple(french_spacing(n.title) for n in news_of(local, issue)[:MAX_HEADLINES]),
    ) for issue in sorted(issues, key=lambda i: i.publish_on, reverse=True)]
    return render(site.root, "archive_index.html.j2", site=site, theme=theme_for(site),
                  title=french_spacing(site.newsletter_title), archive_url="./",
                  issues=entries, feeds=feed_views(project),
                  coordinators=contact_views(project))


def write_site(project: Project, out: Path, issues: Iterable[Issue]) -> PublicSite:
    """Render every page and file first (errors raise before anything is written), then write
    them into `out`, which must be empty or absent (see `comms.web.publish`)."""
    issues = tuple(issues)
    revisions = Revisions.load(project.site.root)
    published = PublishedEvents(project.site, revisions)
    pages: dict[str, bytes] = {}
    copies: dict[str, Path | bytes] = {}  # the source to copy, or the resized image
    for issue in issues:
        rendered = render_checked(project, issue.id)  # refuses what the email would refuse
        pages[f"{issue.id}/{INDEX}"] = issue_page(project, issue.id).encode("utf-8")
        for occ in rendered.content.agenda:
            pages[f"{issue.id}/agenda/{occ.event.id}.ics"] = published.event_ics(occ.event)
        for source, relative, data in assets(project, rendered.content):
            copies[relative] = source if data is None else data
    pages[INDEX] = archive_index(project, issues).encode("utf-8")

    out.mkdir(parents=True, exist_ok=True)
    for relative, data in pages.items():
        atomic_write(out / relative, data)
    for relative, source in copies.items():
        dest = out / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            atomic_write(dest, source)
        else:
            shutil.copyfile(source, dest)
        dest.chmod(0o644)
    write_feeds(project, out, revisions=revisions, published=published)
    revisions.save()
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return PublicSite(out, issues, files)


__all__ = ["FEEDS_DIR", "INDEX", "PublicSite", "published_issues", "with_base", "write_site"]
