"""The public site: what may be put online, rendered into a folder.

Only public files go out: the archive index, the page of every published issue with its
images and « Ajouter à mon agenda » files, and the agenda feeds. Never the directory, the
journal (`var/`), `.env`, drafts, the preview `.eml` nor an issue not yet published. Pages use
relative links, so the site works wherever it is copied (and in `comms preview`); the email
keeps absolute ones. Outputs are byte-stable: the same content gives the same bytes (the
DTSTAMP of calendar files is the last change of their source, not the time of the build).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from comms.build import render_checked
from comms.calendar.feeds import FEEDS_DIR, write_feeds
from comms.calendar.ics import event_ics
from comms.model import Issue, Project
from comms.render.archive import render_archive_index
from comms.render.newsletter import assets, context, issue_url
from comms.render.templates import render
from comms.selection import select
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


def _mtime(paths: Iterable[Path]) -> datetime:
    """The latest change of `paths`, to the second, in UTC (the epoch when none exists)."""
    stamps = [int(p.stat().st_mtime) for p in paths if p.is_file()]
    return datetime.fromtimestamp(max(stamps, default=0), UTC)


def calendar_stamp(project: Project) -> datetime:
    """When the calendar information last changed: the newest event or instance file."""
    root = project.site.root
    sources = [e.source for e in project.events]
    sources += list((root / "calendars").glob("*.yaml"))
    return _mtime(sources)


def issue_page(project: Project, issue_id: str) -> str:
    """ISSUE/index.html with links relative to the issue's folder; the canonical link stays
    absolute."""
    local = with_base(project, "../")
    ctx = context(local, select(local, issue_id), personal=None)
    ctx["issue_url"] = issue_url(project, issue_id)
    return render(project.site.root, "archive_issue.html.j2", **ctx)


def write_site(project: Project, out: Path, issues: Iterable[Issue]) -> PublicSite:
    """Render every page and file first (errors raise before anything is written), then write
    them into `out`, which must be empty or absent (see `comms.web.publish`)."""
    issues = tuple(issues)
    pages: dict[str, bytes] = {}
    copies: dict[str, Path] = {}
    for issue in issues:
        rendered = render_checked(project, issue.id)  # refuses what the email would refuse
        pages[f"{issue.id}/{INDEX}"] = issue_page(project, issue.id).encode("utf-8")
        for occ in rendered.content.agenda:
            stamp = _mtime([occ.event.source])
            pages[f"{issue.id}/agenda/{occ.event.id}.ics"] = event_ics(
                occ.event, project.site, dtstamp=stamp)
        for source, relative in assets(project, rendered.content):
            copies[relative] = source
    pages[INDEX] = render_archive_index(with_base(project, "./"), issues).encode("utf-8")

    out.mkdir(parents=True, exist_ok=True)
    for relative, data in pages.items():
        atomic_write(out / relative, data)
    for relative, source in copies.items():
        dest = out / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        dest.chmod(0o644)
    write_feeds(project, out, dtstamp=calendar_stamp(project))
    files = tuple(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    return PublicSite(out, issues, files)


__all__ = ["FEEDS_DIR", "INDEX", "PublicSite", "published_issues", "with_base", "write_site"]
