"""Read a territory's content root into a validated `Project`.

`inspect` returns the project with every problem found (errors and warnings) so that `check`
can print them all at once; `load_project` is what every other command uses: it refuses to
return a project that has errors.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from comms.content.calendars import read_event, read_instances
from comms.content.config import read_site
from comms.content.fields import invisible_character
from comms.content.newsletter import read_issue, read_news
from comms.content.source import key_line
from comms.errors import ContentError, Problem, Problems
from comms.model import SECTIONS, Event, Project

ISSUES_DIR = Path("content/issues")
NEWS_DIR = Path("content/news")
INSTANCES_FILE = Path("calendars/instances.yaml")
EVENTS_DIR = Path("calendars/events")
STALE_AFTER = timedelta(days=183)


def _markdown_files(folder: Path, root: Path, sink: list[Problem]) -> list[Path]:
    """The folder's `.md` files, except those refused here: a name holding a line break or
    another invisible character, a file (or symbolic link) leading outside `root`."""
    if not folder.is_dir():
        return []
    kept = []
    real_folder = folder.resolve()  # once: a file that is not a link is where its folder is
    for path in sorted(folder.glob("*.md")):
        if invisible_character(path.name) or "\n" in path.name or "\r" in path.name:
            shown = "".join(c if c.isprintable() else "\ufffd" for c in path.name)
            sink.append(Problem(folder, None, None,
                                f"nom de fichier «\u00a0{shown}\u00a0» avec un retour à la "
                                "ligne ou un caractère invisible",
                                "renommez le fichier sur une seule ligne, par exemple "
                                "2027-03-12-titre.md"))
        elif not (path.resolve() if path.is_symlink() else real_folder / path.name) \
                .is_relative_to(root):
            sink.append(Problem(path, None, None,
                                f"le fichier mène hors du dossier du territoire "
                                f"({path.resolve()})",
                                "copiez le fichier lui-même dans ce dossier au lieu d’un lien "
                                "symbolique"))
        else:
            kept.append(path)
    return kept


def _event_order(event: Event) -> tuple:
    if isinstance(event.start, datetime):
        return (event.start.date(), 1, event.start.time(), event.id)
    return (event.start, 0, time.min, event.id)


def inspect(root: Path) -> tuple[Project | None, list[Problem]]:
    """Read everything under `root`; never raises for bad content."""
    root = root.resolve()
    sink: list[Problem] = []
    site, _lists = read_site(root, sink)
    if site is None:
        return None, sink
    issues = [i for p in _markdown_files(root / ISSUES_DIR, root, sink)
              if (i := read_issue(p, sink))]
    news = [n for p in _markdown_files(root / NEWS_DIR, root, sink)
            if (n := read_news(p, root, sink))]
    before = len(sink)
    instances = read_instances(root / INSTANCES_FILE, site, sink)
    # A file that cannot be read at all gives one error; what depends on it is not checked.
    instances_read = bool(instances) or not any(p.is_error for p in sink[before:])
    events = [e for p in _markdown_files(root / EVENTS_DIR, root, sink)
              if (e := read_event(p, site, instances, sink, instances_read))]
    project = Project(
        site=site,
        issues=tuple(sorted(issues, key=lambda i: (i.publish_on, i.id))),
        news=tuple(sorted(news, key=lambda n: (n.date, n.id))),
        instances=instances,
        events=tuple(sorted(events, key=_event_order)),
        unreadable=() if instances_read else (root / INSTANCES_FILE,),
    )
    _cross_checks(project, sink)
    return project, sink


def _cross_checks(project: Project, sink: list[Problem]) -> None:
    seen: dict[tuple[int, int], str] = {}
    for issue in project.issues:
        report = Problems(issue.source, sink)
        key = (issue.year, issue.number)
        if key in seen:
            report.error(key_line(issue.source, "number"), "number",
                         f"le numéro {issue.number} est déjà celui de la lettre {seen[key]}",
                         "donnez à chaque lettre de l’année un numéro différent")
        seen.setdefault(key, issue.id)
        if issue.publish_on.year != issue.year:
            report.warning(None, "publish_on", f"la lettre {issue.id} paraît en "
                           f"{issue.publish_on.year}", "vérifiez l’année de publish_on")
    ids = {i.id for i in project.issues}
    if not project.issues:
        sink.append(Problem(project.site.root / ISSUES_DIR, None, None,
                            "aucune lettre n’est prévue",
                            "créez les lettres de l’année avec « comms plan ANNÉE »",
                            level="avertissement"))
        return
    from comms.selection import news_of  # here: selection needs a whole project

    placed: set[str] = set()
    for issue in project.issues:
        items = news_of(project, issue)
        placed.update(n.id for n in items)
        if not items:
            Problems(issue.source, sink).warning(
                None, None, f"la lettre {issue.id} ne contient aucune actualité",
                "ajoutez des actualités datées d’avant sa parution (comms new news \"Titre\")")
        else:
            for key, label in SECTIONS.items():
                if not any(n.section == key for n in items):
                    Problems(issue.source, sink).warning(
                        None, None, f"la rubrique « {label} » de la lettre {issue.id} est vide",
                        f"ajoutez une actualité avec « section: {key} », ou laissez-la vide")
        for item in items:
            if item.date < issue.publish_on - STALE_AFTER:
                Problems(item.source, sink).warning(
                    None, "date", f"actualité de plus de six mois dans la lettre {issue.id}",
                    "vérifiez qu’elle est toujours d’actualité, ou passez-la en draft: true")
    for item in project.news:
        report = Problems(item.source, sink)
        if item.issue and item.issue not in ids:
            known = ", ".join(i.id for i in project.issues)
            report.error(key_line(item.source, "issue"), "issue",
                         f"la lettre « {item.issue} » n’existe pas",
                         f"indiquez l’une des lettres prévues ({known}) ou retirez le champ issue")
        elif not item.draft and item.id not in placed:
            report.warning(None, "date", "cette actualité n’entre dans aucune lettre prévue",
                           "planifiez la lettre suivante (comms plan ANNÉE) ou épinglez-la avec "
                           "« issue: »")


def load_project(root: Path) -> Project:
    """The validated project; ContentError (with every problem) when anything is wrong."""
    project, problems = inspect(root)
    if project is None or any(p.is_error for p in problems):
        raise ContentError(problems)
    return project
