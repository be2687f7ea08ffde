"""Build an issue's files: content -> model -> render -> write, all checked before writing."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from comms.calendar.feeds import PublishedEvents, write_feeds
from comms.calendar.revisions import Revisions
from comms.errors import CommsError, ContentError, Problem
from comms.model import Issue, Project
from comms.render.archive import render_archive_index, render_archive_page
from comms.render.newsletter import RenderedIssue, assets, render_issue, size_problem
from comms.send.newsletter import preview_message
from comms.write import atomic_directory, atomic_write


@dataclass(frozen=True)
class Built:
    issue: Issue
    folder: Path
    html_bytes: int
    files: tuple[Path, ...]


def upcoming_issue(project: Project, today: date) -> Issue:
    """The first issue published today or later, else the latest one."""
    if not project.issues:
        raise ContentError([Problem(project.site.root / "content/issues", None, None,
                                    "aucune lettre n’est prévue",
                                    "créez les lettres de l’année avec « comms plan ANNÉE »")])
    for issue in project.issues:
        if issue.publish_on >= today:
            return issue
    return project.issues[-1]


def size_problems(rendered: RenderedIssue) -> list[Problem]:
    """An error naming the longest items when the HTML would be clipped by Gmail."""
    message = size_problem(rendered)
    if message is None:
        return []
    return [Problem(rendered.content.issue.source, None, None, message)]


def render_checked(project: Project, issue_id: str) -> RenderedIssue:
    rendered = render_issue(project, issue_id)
    problems = size_problems(rendered)
    if problems:
        raise ContentError(problems)
    return rendered


@dataclass(frozen=True)
class _Prepared:
    """Everything an issue's folder will hold, rendered and checked, nothing written yet."""

    rendered: RenderedIssue
    archive: str
    eml: bytes
    calendars: dict[str, bytes]
    copies: list[tuple[Path, str, bytes | None]]  # source, destination, resized bytes


def _prepare(project: Project, issue_id: str, published: PublishedEvents,
             secret: str) -> _Prepared:
    rendered = render_checked(project, issue_id)
    return _Prepared(
        rendered=rendered,
        archive=render_archive_page(project, rendered),
        eml=preview_message(project, rendered, secret),
        calendars={occ.event.id: published.event_ics(occ.event)
                   for occ in rendered.content.agenda},
        copies=list(assets(project, rendered.content)),
    )


def _write(prepared: _Prepared, out: Path) -> Built:
    rendered = prepared.rendered
    issue = rendered.content.issue
    with atomic_directory(out / issue.id) as folder:
        (folder / "newsletter.mjml").write_text(rendered.mjml, encoding="utf-8")
        (folder / "newsletter.html").write_text(rendered.html, encoding="utf-8")
        (folder / "newsletter.txt").write_text(rendered.text, encoding="utf-8")
        (folder / "index.html").write_text(prepared.archive, encoding="utf-8")
        (folder / "newsletter.eml").write_bytes(prepared.eml)
        for event_id, ics in prepared.calendars.items():
            (folder / "agenda").mkdir(exist_ok=True)
            (folder / "agenda" / f"{event_id}.ics").write_bytes(ics)
        for source, relative, data in prepared.copies:  # relative to OUT: "ISSUE/images/x"
            dest = folder / Path(relative).relative_to(issue.id)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if data is None:
                shutil.copyfile(source, dest)
            else:
                dest.write_bytes(data)
        # Listed before the swap: a build sharing OUT may replace the folder right after it.
        final = (out / issue.id).resolve()
        files = tuple(sorted(final / p.relative_to(folder) for p in folder.rglob("*")
                             if p.is_file()))
    return Built(issue, final, len(rendered.html.encode("utf-8")), files)


def _refuse_changed_archives(prepared: list[_Prepared], out: Path, sent: Collection[str],
                             went_out: Mapping[str, Collection[str]]) -> None:
    """CommsError, before anything is written, when the web archive (OUT/<issue>/index.html)
    of an issue in `sent` (ids of issues already delivered) would change: it differs from
    the page on disk or, without one, its news items differ from those that went out
    (`went_out`: issue id -> news item ids, when known)."""
    changed = []
    for p in prepared:
        issue = p.rendered.content.issue
        if issue.id not in sent:
            continue
        page = out / issue.id / "index.html"
        if page.is_file():
            if page.read_text(encoding="utf-8") != p.archive:
                changed.append(issue.id)
        elif went_out.get(issue.id) and \
                {item.id for item in p.rendered.content.news} != set(went_out[issue.id]):
            changed.append(issue.id)
    if changed:
        names = ", ".join(changed)
        raise CommsError(
            f"Construction refusée\u00a0: l’archive web de la lettre {names} changerait, "
            "alors que la lettre est déjà partie (ses lecteurs doivent y retrouver ce "
            "qu’ils ont reçu). Une actualité ajoutée depuis se place dans la lettre "
            "suivante (comms check le signale)\u00a0; pour une correction voulue, relancez "
            "avec --force. Rien n’a été construit.")


def build_issue(project: Project, issue_id: str, out: Path, secret: str = "",
                sent: Collection[str] = (),
                went_out: Mapping[str, Collection[str]] | None = None) -> Built:
    """Render everything first, then write OUT/<issue>/ in one swap, and the agenda feeds;
    the events' revisions (calendars/revisions.json) are saved last. `sent`: ids of the
    issues already delivered, whose web archive must not change (CommsError, nothing
    written); empty to rewrite it anyway. `went_out`: the news item ids that went out with
    each of them, checked when their archive is not on disk."""
    revisions = Revisions.load(project.site.root)
    published = PublishedEvents(project.site, revisions)
    prepared = _prepare(project, issue_id, published, secret)
    _refuse_changed_archives([prepared], out, sent, went_out or {})
    built = _write(prepared, out)
    write_feeds(project, out, revisions=revisions, published=published)
    revisions.save()
    return built


def build_all(project: Project, out: Path, secret: str = "", sent: Collection[str] = (),
              went_out: Mapping[str, Collection[str]] | None = None) -> list[Built]:
    """Every issue, then the feeds and the archive index that lists them; `sent` and
    `went_out` as for `build_issue`."""
    revisions = Revisions.load(project.site.root)
    published = PublishedEvents(project.site, revisions)
    prepared = [_prepare(project, issue.id, published, secret) for issue in project.issues]
    _refuse_changed_archives(prepared, out, sent, went_out or {})
    built = [_write(p, out) for p in prepared]
    write_feeds(project, out, revisions=revisions, published=published)
    revisions.save()
    atomic_write(out / "index.html", render_archive_index(project, [b.issue for b in built]))
    return built
