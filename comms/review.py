"""Checks of `comms check` beyond the files' syntax: what the content becomes once rendered,
and what only the partners directory can tell."""

from __future__ import annotations

from pathlib import Path

from comms.build import size_problems
from comms.content.source import key_path
from comms.errors import WARNING, Problem
from comms.french import agree
from comms.model import Project
from comms.render.links import bad_links
from comms.render.markdown import vague_links
from comms.render.newsletter import image_weight, kb, render_issue
from comms.render.templates import contrast_warnings
from comms.selection import select


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
    problems += placeholder_problems(project)
    problems += config_placeholders(project)
    problems += image_problems(project)
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


def signing_problems(project: Project) -> list[Problem]:
    """DKIM as the next send will meet it: a wrong DKIM_ setting or key, a From address (the
    newsletter's sender, an instance's organizer) not aligned with DKIM_DOMAIN (errors), or
    one-click unsubscribe announced on messages that nobody will sign (a warning). Other
    settings are for the sending commands to report."""
    from comms.errors import ConfigError
    from comms.invitations.imip import organizer_of
    from comms.send.signing_setup import prepare_signer, unsigned_one_click
    from comms.send.transports import transport_class
    from comms.settings import load_settings

    site = project.site
    used = {event.instance for event in project.events}
    senders = [site.sender.email] + [organizer_of(site, instance).email
                                     for instance in project.instances.values()
                                     if instance.id in used]
    try:
        settings = load_settings(site.root)
        sends_raw = transport_class(None, settings).sends_raw
        signer = prepare_signer(settings, sends_raw, senders)
    except ConfigError as exc:
        return [p for p in exc.problems if (p.field or "").startswith("DKIM_")]
    warning = unsigned_one_click(settings, site.unsubscribe_one_click, sends_raw, signer)
    return [warning] if warning is not None else []


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


# Text the scaffolds write for coordinators to replace, compared without case.
PLACEHOLDERS = ("Votre éditorial ici", "Votre texte ici", "Une actualité d’exemple",
                "Lorem ipsum", "À compléter", "Texte à venir")
# Images heavier than this in one issue slow the email down on phones (most partners read
# on a mobile connection at least once); the figure is a warning, not a limit.
IMAGE_BUDGET = 800 * 1024


def _line_of(path, needle: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").lower().split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return next((n for n, text in enumerate(lines, 1) if needle.lower() in text), None)


def placeholder_problems(project: Project) -> list[Problem]:
    """Scaffold text left in what partners would read (« Votre éditorial ici »)."""
    problems = []
    texts = [(i.source, i.editorial_md, "éditorial") for i in project.issues]
    texts += [(n.source, f"{n.summary}\n{n.body_md}", "actualité") for n in project.news
              if not n.draft]
    for source, text, what in texts:
        folded = text.lower().replace("'", "’")
        for placeholder in PLACEHOLDERS:
            if placeholder.lower() in folded:
                problems.append(Problem(
                    source, _line_of(source, placeholder), None,
                    f"le texte d’exemple « {placeholder} » est encore là ({what})",
                    "remplacez-le par votre texte avant la parution", level=WARNING))
                break
    return problems


# What `comms init` writes when nobody answers its questions (comms/init.py).
CONFIG_PLACEHOLDERS = ("@example.org", "//example.org/", "Prénom Nom", "Mon territoire")


def config_placeholders(project: Project) -> list[Problem]:
    """Example values of `comms init` still in comms.yaml, one warning per line."""
    path = project.site.root / "comms.yaml"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return []
    found = []
    for number, text in enumerate(lines, 1):
        value = text.split(" #", 1)[0]
        if text.lstrip().startswith("#"):
            continue
        hit = next((p for p in CONFIG_PLACEHOLDERS if p in value), None)
        if hit:
            shown = value.split(":", 1)[-1].strip().strip('"')
            found.append(Problem(path, number,
                                 key_path(lines, number - 1) or text.split(":", 1)[0].strip(" -"),
                                 f"valeur d’exemple «\u00a0{shown}\u00a0» laissée par comms init",
                                 "remplacez-la par la vraie valeur du territoire",
                                 level=WARNING))
    return found


def image_report(project: Project) -> list[tuple[str, int, int]]:
    """(issue id, number of images, bytes the build writes for them) per issue."""
    out = []
    for issue in project.issues:
        count, total = image_weight(project, select(project, issue.id))
        out.append((issue.id, count, total))
    return out


def image_problems(project: Project) -> list[Problem]:
    """A warning per issue whose images, once resized, still weigh more than IMAGE_BUDGET."""
    sources = {i.id: i.source for i in project.issues}
    return [Problem(sources[issue_id], None, None,
                    f"{'l’image' if n == 1 else f'les {n} images'} de la lettre {issue_id} "
                    f"{agree(n, 'pèse', 'pèsent')} {kb(total)} une fois "
                    f"{agree(n, 'réduite', 'réduites')}, au-delà de {kb(IMAGE_BUDGET)}",
                    "retirez une image ou préférez des photos moins détaillées", level=WARNING)
            for issue_id, n, total in image_report(project) if total > IMAGE_BUDGET]
