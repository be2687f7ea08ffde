"""Commands of the content area: check, build, new, plan, status."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms import content as reader
from comms.build import build_all, build_issue, upcoming_issue
from comms.commands.common import YEAR, fail, friendly, print_problems, root_option
from comms.content.config import of_territory
from comms.content.fields import Invalid, day
from comms.content.fields import email as email_field
from comms.content.fields import https_url as https_url_field
from comms.content.fields import line as line_field
from comms.errors import CommsError, ContentError
from comms.french import agree, count, territory_of
from comms.model import Coordinator
from comms.send import JOURNAL_FILE

if TYPE_CHECKING:
    from comms.init import Answers

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
    from comms import review

    project, problems = reader.inspect(root)
    if project is not None and not any(p.is_error for p in problems):
        problems += review.rendered_problems(project)
    if project is not None and not project.unreadable:  # lists come from the instances
        problems += review.directory_problems(project)
    if project is not None:
        problems += review.signing_problems(project)
    problems += review.ledger_problems(root)
    print_problems(ContentError(problems), root)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    if errors:
        fail(f"{count(errors, 'erreur')}, {count(warnings, 'avertissement')}. Rien n’a été "
             "construit ni envoyé.")
    from comms.render.newsletter import kb

    for issue_id, n, total in review.image_report(project):
        if n:
            click.echo(f"Images de la lettre {issue_id}\u00a0: {count(n, 'image')}, "
                       f"{kb(total)} une fois {agree(n, 'réduite', 'réduites')}.")
    click.secho(f"Contenu valide\u00a0: {count(len(project.issues), 'lettre')}, "
                f"{count(len(project.news), 'actualité')}, "
                f"{count(len(project.events), 'évènement')}"
                + (f", {count(warnings, 'avertissement')}." if warnings else "."), fg="green")


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
    from comms.send.newsletter import campaign_id
    from comms.settings import load_settings

    project = reader.load_project(root)
    delivered = set() if force else _delivered(project.site.root)
    sent = {i.id for i in project.issues if campaign_id(i.id) in delivered}
    went_out = _items_sent(project.site.root, sent)
    out = out or project.site.root / "build"
    # The preview .eml carries a signed unsubscribe link like partners' copies when the
    # secret is set (.env); a build never needs it.
    try:
        secret = load_settings(root).unsubscribe_secret
    except CommsError:
        secret = ""  # a wrong setting is for `send` to report; the build does not need it
    if all_issues:
        built = build_all(project, out, secret, sent, went_out)
        for b in built:
            click.echo(f"Lettre {b.issue.id}\u00a0: {b.folder}")
        click.secho(f"{count(len(built), 'lettre construite')}, index\u00a0: "
                    f"{out / 'index.html'}",
                    fg="green")
        return
    if issue_id is None:
        issue_id = upcoming_issue(project, _today(today)).id
    elif project.issue(issue_id) is None:
        known = ", ".join(i.id for i in project.issues) or "aucune"
        fail(f"La lettre « {issue_id} » n’existe pas (lettres prévues\u00a0: {known}).")
    built = build_issue(project, issue_id, out, secret, sent, went_out)
    click.secho(f"Lettre {issue_id} construite dans {built.folder}", fg="green")
    for name in ("newsletter.html", "newsletter.txt", "index.html", "newsletter.eml"):
        click.echo(f"  {built.folder / name}")
    agenda = [f for f in built.files if f.parent.name == "agenda"]
    if agenda:
        click.echo(f"  {built.folder / 'agenda'} ({count(len(agenda), 'fichier')} .ics)")
    click.echo(f"HTML\u00a0: {built.html_bytes / 1024:.0f} Ko.")


def _delivered(root: Path) -> set[str]:
    """Ids of the campaigns the journal records as delivered; a root that never sent has no
    journal, and its build does not load the journal's code."""
    if not (root / JOURNAL_FILE).is_file():
        return set()
    from comms.send.journal import sent_campaigns

    return sent_campaigns(root)


def _items_sent(root: Path, sent: set[str]) -> dict[str, set[str]]:
    """Issue id -> the news item ids that went out with it, for the issues in `sent`."""
    if not sent:
        return {}
    from comms.send.journal import JOURNAL_FILE, Journal
    from comms.send.newsletter import campaign_id

    with Journal(root / JOURNAL_FILE) as journal:
        return {issue_id: journal.items(campaign_id(issue_id)) for issue_id in sent}


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
    from comms import scaffold

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
    try:
        on = day(when)
    except Invalid as exc:
        raise click.BadParameter(f"{exc.message} — {exc.hint}",
                                 param_hint="«\u00a0DATE\u00a0»") from None
    from comms import scaffold

    path = scaffold.new_event(root, instance, on, title, start, end, all_day)
    click.secho(f"Créé\u00a0: {path}", fg="green")


@click.command()
@click.argument("year", type=YEAR, metavar="ANNÉE")
@root_option
@friendly
def plan(year: int, root: Path) -> None:
    """Crée les trois lettres de l’année (sans écraser celles qui existent)."""
    from comms import scaffold

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
    if year is None:  # the year being prepared: the next issue's
        year = upcoming_issue(project, now).year if project.issues else now.year
    from comms import scaffold

    report = scaffold.year_status(project, year, out or project.site.root / "build", now)
    for line in report.lines:
        click.echo(line)
    colour = "green" if report.published >= ROADMAP_ISSUES_PER_YEAR else "yellow"
    click.secho(f"{year}\u00a0: {report.planned} {agree(report.planned, 'prévue')}, "
                f"{report.built} {agree(report.built, 'construite')}, "
                f"{report.published} {agree(report.published, 'publiée')} — objectif de la "
                "feuille de route\u00a0: "
                f"{ROADMAP_ISSUES_PER_YEAR} par an.", fg=colour)


COORDINATOR_HINT = "« --coordinator »"


def _coordinator(value: str) -> Coordinator:
    """« Prénom Nom <adresse> » or « Prénom Nom, adresse »."""
    m = re.fullmatch(r"\s*(?P<name>[^<>,]+?)\s*(?:<(?P<a>[^<>]+)>|,\s*(?P<b>\S+))\s*", value)
    if not m:
        raise click.BadParameter(f"« {value} » : écrivez « Prénom Nom <adresse> », par "
                                 "exemple « Claire Martin <claire.martin@mairie.fr> »",
                                 param_hint=COORDINATOR_HINT)
    address = (m.group("a") or m.group("b")).strip()
    try:
        address = email_field(address)
    except Invalid as exc:
        raise click.BadParameter(f"{exc.message} — {exc.hint}",
                                 param_hint=COORDINATOR_HINT) from None
    return Coordinator(_one_line(m.group("name"), "--coordinator"), "Coordination", address)


def _one_line(value: str, option: str) -> str:
    """A name given as an option, written into comms.yaml: one line, not empty."""
    try:
        text = line_field(value)
    except Invalid as exc:
        raise click.BadParameter(f"{exc.message} — {exc.hint}",
                                 param_hint=f"« {option} »") from None
    if not text:
        raise click.BadParameter("la valeur est vide — écrivez un nom, par exemple "
                                 "« Haut-Bugey »", param_hint=f"« {option} »")
    return text


def _prompt(text: str, default: str, value_proc: Callable[[str], str] | None = None) -> str:
    """A question, French style: « Question [valeur proposée] : »."""
    return click.prompt(text, default=default, value_proc=value_proc,
                        prompt_suffix="\u00a0: ")


def _ask(answers: Answers) -> Answers:
    """The questions of an interactive `init`; Enter keeps the value shown in brackets."""
    territory = _prompt("Nom du territoire", answers.territory)
    of = _prompt("On écrit « la lettre… »", answers.territory_of or territory_of(territory),
                 _of_prompt)
    people = []
    for n, default in enumerate(answers.coordinators, 1):
        name = _prompt(f"Coordination {n}, prénom et nom", default.name, _name_prompt)
        if "@" in name:  # « Claire Martin <claire.martin@mairie.fr> » answered at once
            given = _coordinator_prompt(name)
            people.append(Coordinator(given.name, default.role, given.email))
            continue
        address = _prompt(f"Coordination {n}, adresse électronique", default.email,
                          _email_prompt)
        people.append(Coordinator(name, default.role, address))
    sender = _prompt("Adresse d’expédition de la lettre", answers.sender_email, _email_prompt)
    web = _prompt("Adresse web où la lettre sera publiée", answers.web_base_url, _url_prompt)
    return replace(answers, territory=territory, territory_of=of, coordinators=tuple(people),
                   sender_email=sender, web_base_url=web)


def _checked(field: Callable[[str], str]) -> Callable[[str], str]:
    """A prompt's value check: `field`'s French refusal becomes click's usage error, and
    the question is asked again."""
    def check(value: str) -> str:
        try:
            return field(value)
        except Invalid as exc:
            raise click.UsageError(f"{exc.message} — {exc.hint}") from None
    return check


_of_prompt = _checked(of_territory)
_email_prompt = _checked(email_field)
_url_prompt = _checked(https_url_field)  # https: the unsubscribe page beside it must be


def _coordinator_prompt(value: str) -> Coordinator:
    try:
        return _coordinator(value)
    except click.BadParameter as exc:
        raise click.UsageError(exc.message) from None


def _name_prompt(value: str) -> str:
    """A name, or a name and an address (« Claire Martin <claire.martin@mairie.fr> »)."""
    if "@" in value:
        _coordinator_prompt(value)
    return value.strip()




def interactive() -> bool:
    """Questions only when someone types the answers (not under cron, a pipe or a script)."""
    return sys.stdin.isatty()


@click.command("init")
@click.argument("folder", required=False, default=".", metavar="[DOSSIER]",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--territory", metavar="NOM", help="Nom du territoire, par exemple Haut-Bugey.")
@click.option("--territory-of", metavar="TEXTE",
              help="« de » et le nom : « du Haut-Bugey », « d’Oyonnax » (par défaut : « de "
                   "NOM » ou « d’NOM »).")
@click.option("--coordinator", "coordinators", multiple=True, metavar="\"NOM <ADRESSE>\"",
              help="Une coordinatrice ou un coordinateur (option répétable).")
@click.option("--sender-name", metavar="NOM", help="Nom d’expéditeur de la lettre.")
@click.option("--sender-email", metavar="ADRESSE", help="Adresse d’expédition de la lettre.")
@click.option("--web-base-url", metavar="URL", help="Adresse web où la lettre est publiée.")
@today_option
@friendly
def init(folder: Path, territory: str | None, territory_of: str | None,
         coordinators: tuple[str, ...], sender_name: str | None, sender_email: str | None,
         web_base_url: str | None, today: str | None) -> None:
    """Crée un nouveau territoire prêt à l’emploi : comms.yaml commenté, instances,
    annuaire, une actualité, un évènement, les lettres de l’année, .gitignore et .env.

    Sans option, pose quelques questions (sauf si l’entrée n’est pas un terminal : des
    valeurs d’exemple sont alors utilisées, à remplacer ensuite)."""
    from comms.init import Answers, init_territory

    answers = Answers()
    given = {}
    if territory is not None:
        given["territory"] = _one_line(territory, "--territory")
    if territory_of:
        try:
            given["territory_of"] = of_territory(territory_of)
        except Invalid as exc:
            raise click.BadParameter(f"{exc.message} — {exc.hint}",
                                     param_hint="« --territory-of »") from None
    if coordinators:
        people = [_coordinator(c) for c in coordinators]
        roles = [c.role for c in answers.coordinators]
        given["coordinators"] = tuple(replace(p, role=roles[i] if i < len(roles) else p.role)
                                      for i, p in enumerate(people))
    if sender_name is not None:
        given["sender_name"] = _one_line(sender_name, "--sender-name")
    for key, value, check in (("sender_email", sender_email, _email_prompt),
                              ("web_base_url", web_base_url, _url_prompt)):
        if value:
            try:
                given[key] = check(value)
            except click.UsageError as exc:
                raise click.BadParameter(
                    exc.message, param_hint=f"« --{key.replace('_', '-')} »") from None
    answers = replace(answers, **given)
    if not given and interactive():
        answers = _ask(answers)
    written = init_territory(folder, answers, _today(today))
    for path, created in written:
        click.echo(f"{'Créé' if created else 'Complété'}\u00a0: {path}")
    click.secho(f"Territoire {answers.territory} prêt dans {folder.resolve()}.", fg="green")
    where = "" if folder == Path(".") else f" --root {folder}"
    click.echo(f"Étapes suivantes : remplacez les valeurs d’exemple de comms.yaml, puis "
               f"« comms check{where} » et « comms build{where} ».")


COMMANDS = [init, check, build, new, plan, status]
