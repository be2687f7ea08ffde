"""Checks of `comms check` beyond the files' syntax: what the content becomes once rendered,
and what only the partners directory can tell."""

from __future__ import annotations

from pathlib import Path

from comms.build import size_problems
from comms.errors import WARNING, Problem
from comms.model import Project
from comms.render.links import bad_links
from comms.render.markdown import vague_links
from comms.render.newsletter import render_issue
from comms.render.templates import contrast_warnings


def rendered_problems(project: Project) -> list[Problem]:
    """Issues too heavy for Gmail (errors), a brand colour too light, links that say nothing."""
    problems: list[Problem] = []
    for issue in project.issues:
        problems += size_problems(render_issue(project, issue.id))
    config = project.site.root / "comms.yaml"
    problems += [Problem(config, None, "brand.color", text, level=WARNING)
                 for text in contrast_warnings(project.site)]
    for source, body in [(e.source, e.body_md) for e in project.events]:
        problems += link_problems(source, body)
    for source, body in [(n.source, n.body_md) for n in project.news] + [
            (i.source, i.editorial_md) for i in project.issues]:
        problems += link_problems(source, body)
        for text in vague_links(body):
            problems.append(Problem(
                source, None, None, f"le texte de lien « {text} » ne dit pas où il mène",
                "écrivez à la place ce que l’on trouve en suivant le lien, par exemple "
                "« [le programme de la journée](https://…) »", level=WARNING))
    return problems


def link_problems(source: Path, body: str) -> list[Problem]:
    """Link targets that cannot work in an email (`comms.render.links`), each with the line
    of its file (the body follows the front matter)."""
    found = bad_links(body)
    if not found:
        return []
    offset = _body_offset(source, body)
    return [Problem(source, offset + bad.line if offset is not None else None, "lien",
                    bad.message, bad.hint) for bad in found]


def _body_offset(source: Path, body: str) -> int | None:
    """Lines before the body in its file, or None when the file cannot be matched."""
    try:
        text = source.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    except OSError:
        return None
    first = next((line for line in body.splitlines() if line.strip()), "")
    lines = text.split("\n")
    closing = [i for i, line in enumerate(lines) if line.strip() == "---"]
    start = closing[1] + 1 if len(closing) >= 2 and closing[0] == 0 else 0
    for i in range(start, len(lines)):
        if lines[i] == first:
            return i - body.splitlines().index(first)
    return None


def ledger_problems(root: Path) -> list[Problem]:
    """Problems of calendars/revisions.json, which build, calendar and invite would refuse."""
    from comms.calendar.revisions import Revisions
    from comms.errors import ContentError

    try:
        Revisions.load(root)
    except ContentError as exc:
        return list(exc.problems)
    return []


def directory_problems(project: Project) -> list[Problem]:
    """Problems of the partners directory, when there is one (it may live outside the root),
    and of the invitations' audiences, which only the directory can tell."""
    from comms.directory import directory_for_check
    from comms.invitations.plan import check_audiences
    from comms.send.follow_up import departure_problems, late_news_problems

    directory, problems = directory_for_check(project)
    if directory is not None:
        problems += check_audiences(project, directory, project.events)
    problems += departure_problems(project, directory)
    problems += late_news_problems(project)
    return problems
