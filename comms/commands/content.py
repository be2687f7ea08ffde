"""Commands of the content area: check, build, new, plan, status."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from comms import content as reader
from comms import review, scaffold
from comms.build import build_all, build_issue, upcoming_issue
from comms.commands.common import YEAR, fail, friendly, print_problems, root_option
from comms.content.fields import Invalid, day
from comms.errors import CommsError, ContentError

ROADMAP_ISSUES_PER_YEAR = 3


def _today(value: str | None) -> date:
    if not value:
        return date.today()
    try:
        return day(value)
    except Invalid as exc:
        raise click.BadParameter(f"{exc.message} — {exc.hint}") from None


today_option = click.option("--today", "today", hidden=True, help="Date du jour (tests).")


@click.command()
@root_option
@friendly
def check(root: Path) -> None:
    """Vérifie tout le contenu et liste chaque problème (fichier, ligne, champ)."""
    project, problems = reader.inspect(root)
    if project is not None and not any(p.is_error for p in problems):
        problems += review.rendered_problems(project)
    problems += review.directory_problems(project) if project else []
    problems += review.ledger_problems(root)
    print_problems(ContentError(problems), root)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    if errors:
        fail(f"{errors} erreur(s), {warnings} avertissement(s). Rien n’a été construit ni envoyé.")
    click.secho(f"Contenu valide\u00a0: {len(project.issues)} lettre(s), {len(project.news)} "
                f"actualité(s), {len(project.events)} évènement(s)"
                + (f", {warnings} avertissement(s)." if warnings else "."), fg="green")


@click.command()
@click.argument("issue_id", required=False, metavar="[NUMÉRO]")
@click.option("--all", "all_issues", is_flag=True, help="Construit toutes les lettres et l’index.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Dossier de sortie (par défaut : ROOT/build).")
@click.option("--force", is_flag=True,
              help="Réécrit aussi l’archive web d’une lettre déjà partie.")
@root_option
@today_option
@friendly
def build(issue_id: str | None, all_issues: bool, out: Path | None, force: bool, root: Path,
          today: str | None) -> None:
    """Construit une lettre (par défaut, la prochaine à paraître) : e-mail, texte, archive web,
    aperçu .eml et fichiers d’agenda. L’archive web d’une lettre déjà partie n’est réécrite
    qu’avec --force."""
    from comms.send.journal import sent_campaigns
    from comms.send.newsletter import campaign_id
    from comms.settings import load_settings

    project = reader.load_project(root)
    delivered = set() if force else sent_campaigns(project.site.root)
    sent = {i.id for i in project.issues if campaign_id(i.id) in delivered}
    out = out or project.site.root / "build"
    # The preview .eml carries a signed unsubscribe link like partners' copies when the
    # secret is set (.env); a build never needs it.
    try:
        secret = load_settings(root).unsubscribe_secret
    except CommsError:
        secret = ""  # a wrong setting is for `send` to report; the build does not need it
    if all_issues:
        built = build_all(project, out, secret, sent)
        for b in built:
            click.echo(f"Lettre {b.issue.id}\u00a0: {b.folder}")
        click.secho(f"{len(built)} lettre(s) construite(s), index\u00a0: {out / 'index.html'}",
                    fg="green")
        return
    if issue_id is None:
        issue_id = upcoming_issue(project, _today(today)).id
    elif project.issue(issue_id) is None:
        known = ", ".join(i.id for i in project.issues) or "aucune"
        fail(f"La lettre « {issue_id} » n’existe pas (lettres prévues\u00a0: {known}).")
    built = build_issue(project, issue_id, out, secret, sent)
    click.secho(f"Lettre {issue_id} construite dans {built.folder}", fg="green")
    for name in ("newsletter.html", "newsletter.txt", "index.html", "newsletter.eml"):
        click.echo(f"  {built.folder / name}")
    agenda = [f for f in built.files if f.parent.name == "agenda"]
    if agenda:
        click.echo(f"  {built.folder / 'agenda'} ({len(agenda)} fichier(s) .ics)")
    click.echo(f"HTML\u00a0: {built.html_bytes / 1024:.0f} Ko.")


@click.group()
def new() -> None:
    """Crée un fichier d’actualité ou d’évènement avec les bons champs."""


@new.command("news")
@click.argument("title", metavar="TITRE")
@click.option("--date", "on", help="Date de l’actualité (AAAA-MM-JJ, par défaut aujourd’hui).")
@click.option("--dispositif", default="commun", show_default=True,
              help="ASV, CLS, CLSM ou commun.")
@click.option("--section", default="news", show_default=True,
              help="news (actualités), progress (avancée des travaux) ou resources.")
@root_option
@friendly
def new_news(title: str, on: str | None, dispositif: str, section: str, root: Path) -> None:
    """Crée content/news/AAAA-MM-JJ-titre.md."""
    path = scaffold.new_news(root, title, _today(on), dispositif, section)
    click.secho(f"Créé\u00a0: {path}", fg="green")


@new.command("event")
@click.argument("instance", metavar="INSTANCE")
@click.argument("when", metavar="DATE")
@click.option("--title", default="", help="Titre (par défaut : le nom de l’instance).")
@click.option("--start", "start", default="14:00", show_default=True, help="Heure de début.")
@click.option("--end", "end", default="16:00", show_default=True, help="Heure de fin.")
@click.option("--all-day", is_flag=True, help="Évènement sur la journée entière.")
@root_option
@friendly
def new_event(instance: str, when: str, title: str, start: str, end: str, all_day: bool,
              root: Path) -> None:
    """Crée calendars/events/AAAA-MM-JJ-instance.md."""
    path = scaffold.new_event(root, instance, _today(when), title, start, end, all_day)
    click.secho(f"Créé\u00a0: {path}", fg="green")


@click.command()
@click.argument("year", type=YEAR, metavar="ANNÉE")
@root_option
@friendly
def plan(year: int, root: Path) -> None:
    """Crée les trois lettres de l’année (sans écraser celles qui existent)."""
    created, kept = scaffold.plan_year(root, year)
    for path in created:
        click.secho(f"Créé\u00a0: {path}", fg="green")
    for path in kept:
        click.echo(f"Existe déjà, inchangé\u00a0: {path}")


@click.command()
@click.argument("year", type=YEAR, required=False, metavar="[ANNÉE]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Dossier de sortie des lettres (par défaut : ROOT/build).")
@root_option
@today_option
@friendly
def status(year: int | None, out: Path | None, root: Path, today: str | None) -> None:
    """Lettres prévues, construites et publiées dans l’année, face aux trois de la feuille de
    route."""
    project = reader.load_project(root)
    now = _today(today)
    year = year or now.year
    report = scaffold.year_status(project, year, out or project.site.root / "build", now)
    for line in report.lines:
        click.echo(line)
    colour = "green" if report.published >= ROADMAP_ISSUES_PER_YEAR else "yellow"
    click.secho(f"{year}\u00a0: {report.planned} prévue(s), {report.built} construite(s), "
                f"{report.published} publiée(s) — objectif de la feuille de route\u00a0: "
                f"{ROADMAP_ISSUES_PER_YEAR} par an.", fg=colour)


COMMANDS = [check, build, new, plan, status]
