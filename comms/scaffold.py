"""Files coordinators start from (`new`, `plan`) and the year's progress (`status`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from slugify import slugify

from comms.content import EVENTS_DIR, INSTANCES_FILE, ISSUES_DIR, NEWS_DIR
from comms.content.calendars import read_instances
from comms.content.config import CONFIG_FILE, read_site
from comms.content.fields import Invalid, naive_datetime, one_of
from comms.content.fields import section as section_field
from comms.errors import CommsError, ContentError, Problem, closest
from comms.model import COMMON, DISPOSITIFS, Project

SEASONS = {12: "Hiver", 1: "Hiver", 2: "Hiver", 3: "Printemps", 4: "Printemps", 5: "Printemps",
           6: "Été", 7: "Été", 8: "Été", 9: "Automne", 10: "Automne", 11: "Automne"}


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (titles may hold « : » or « # »)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _create(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise CommsError(f"{path} existe déjà\u00a0: rien n’a été modifié. Choisissez un autre "
                         "titre ou modifiez le fichier existant.") from None
    return path


def _choice(value: str, *choices: str, label: str) -> str:
    try:
        return one_of(*choices, label=label)(value)
    except Invalid as exc:
        raise CommsError(f"{exc.message} — {exc.hint}") from None


def require_territory(root: Path) -> None:
    """CommsError pointing to `comms init` when `root` holds no comms.yaml."""
    if not (root / CONFIG_FILE).is_file():
        raise CommsError(f"{root.resolve()} n’est pas le dossier d’un territoire (pas de "
                         f"{CONFIG_FILE}) : placez-vous dans ce dossier ou indiquez-le avec "
                         "--root, ou créez un nouveau territoire avec « comms init DOSSIER ».")


def new_news(root: Path, title: str, on: date, dispositif: str, section: str) -> Path:
    require_territory(root)
    scheme = _choice(dispositif, *DISPOSITIFS, COMMON, label="un dispositif")
    try:
        section = section_field(section)
    except Invalid as exc:
        raise CommsError(f"--section\u00a0: {exc.message} — {exc.hint}") from None
    slug = slugify(title, max_length=60, word_boundary=True) or "actualite"
    path = root / NEWS_DIR / f"{on.isoformat()}-{slug}.md"
    return _create(path, f"""---
title: {_quote(title)}
date: {on.isoformat()}
dispositif: {scheme}          # ASV, CLS, CLSM ou commun (ou une liste : [CLS, CLSM])
section: {section}            # news, progress ou resources
summary: ""                 # une ou deux phrases pour l’aperçu
# link: https://…           # lien « En savoir plus »
# image: content/images/photo.png
# image_alt: "Description de l’image"
# issue: {on.year}-1           # pour épingler l’actualité à une lettre
draft: true                 # passez à false quand le texte est prêt
---
Votre texte ici, en Markdown.
""")


def new_event(root: Path, instance: str, on: date, title: str, start: str, end: str,
              all_day: bool) -> Path:
    require_territory(root)
    sink: list[Problem] = []
    site, _ = read_site(root.resolve(), sink)
    instances = read_instances(root / INSTANCES_FILE, site, sink)
    if instance not in instances:
        guess = closest(instance, instances)
        known = ", ".join(instances) or "aucune"
        raise CommsError(f"instance « {instance} » inconnue"
                         + (f" — vouliez-vous écrire « {guess} »\u00a0?" if guess else "")
                         + f" (instances de {INSTANCES_FILE}\u00a0: {known})")
    if all_day:
        when = f"date: {on.isoformat()}"
    else:
        try:
            first = naive_datetime(f"{on.isoformat()} {start}")
            last = naive_datetime(f"{on.isoformat()} {end}")
        except Invalid as exc:
            raise CommsError(f"--start, --end\u00a0: {exc.message} — {exc.hint}") from None
        if last <= first:
            raise CommsError("l’heure de fin doit suivre l’heure de début (--start, --end)")
        when = f"start: {first:%Y-%m-%d %H:%M}\nend: {last:%Y-%m-%d %H:%M}"
    suffix = f"-{slugify(title, max_length=40, word_boundary=True)}" if title else ""
    path = root / EVENTS_DIR / f"{on.isoformat()}-{instance}{suffix}.md"
    title_line = f"title: {_quote(title)}\n" if title else ""
    return _create(path, f"""---
instance: {instance}
{title_line}{when}
location: ""                # adresse complète
# online_url: https://…     # lien de visioconférence
# registration_url: https://…
status: confirmed           # cancelled pour annuler (les invités reçoivent l’annulation)
---
Ordre du jour\u00a0:

1. …
""")


# The editorial's opening words: the email already greets each partner by name (« Bonjour
# Prénom, »), so the scaffold has no greeting of its own; `check` flags this text left as is.
EDITORIAL_PLACEHOLDER = "Votre éditorial ici."


def issue_text(number: int, publish_on: date, period: str, editorial_by: str) -> str:
    """The front matter and placeholder editorial of a new issue file."""
    return f"""---
number: {number}
publish_on: {publish_on.isoformat()}
period: {period}
editorial_by: {_quote(editorial_by)}
---
{EDITORIAL_PLACEHOLDER}
"""


def plan_year(root: Path, year: int) -> tuple[list[Path], list[Path]]:
    """Create YEAR-1..n from comms.yaml `issue_dates`; existing files are left as they are."""
    sink: list[Problem] = []
    site, _ = read_site(root.resolve(), sink)
    if site is None:
        raise ContentError(sink)
    created, kept = [], []
    for number, (month, day_) in enumerate(site.issue_dates, 1):
        path = root / ISSUES_DIR / f"{year}-{number}.md"
        if path.exists():
            kept.append(path)
            continue
        publish_on = date(year, month, day_)
        created.append(_create(path, issue_text(number, publish_on, f"{SEASONS[month]} {year}",
                                                site.coordinators[0].name
                                                if site.coordinators else "")))
    return created, kept


@dataclass
class YearStatus:
    planned: int = 0
    built: int = 0
    published: int = 0
    lines: list[str] = field(default_factory=list)


def year_status(project: Project, year: int, out: Path, today: date) -> YearStatus:
    from comms.send.journal import sent_campaigns  # the journal says what was really sent

    sent = sent_campaigns(project.site.root)
    status = YearStatus()
    for issue in (i for i in project.issues if i.year == year):
        status.planned += 1
        built = (out / issue.id / "newsletter.html").is_file()
        published = f"newsletter-{issue.id}" in sent
        status.built += built
        status.published += published
        state = ("envoyée" if published else "construite" if built else "à construire")
        late = " (date de parution dépassée)" if not published and issue.publish_on < today else ""
        status.lines.append(f"  {issue.id} — parution le {issue.publish_on:%d/%m/%Y}\u00a0: "
                            f"{state}{late}")
    return status
