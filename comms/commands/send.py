"""Commands of the send area: send, unsubscribe, report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms.commands.common import (
    NBSP,
    YEAR,
    friendly,
    print_outbox_note,
    print_problems,
    print_summary,
    reasons,
    root_option,
    sigterm_as_interrupt,
)
from comms.errors import CommsError, ConfigError, ContentError, Problem
from comms.french import count, plural
from comms.settings import Settings, load_settings

if TYPE_CHECKING:
    from comms.model import Issue, Project
    from comms.send.campaign import Plan, Progress
    from comms.send.signing import Signer

PROGRESS_FROM = 20  # recipients; shorter sends finish before a bar is worth drawing


def print_dkim(settings: Settings, one_click: bool, sends_raw: bool,
               signer: Signer | None) -> None:
    """What a dry run says about DKIM: the signing domain, or a warning when one-click
    unsubscribe is announced (List-Unsubscribe-Post) on messages nobody signs."""
    from comms.send.signing_setup import one_click_line, signing_line, unsigned_one_click

    if signer is not None:
        click.echo(signing_line(signer))
    warning = unsigned_one_click(settings, one_click, sends_raw, signer)
    if warning is not None:
        click.secho(one_click_line(warning), fg="yellow")


def _print_placeholders(project: Project, issue: Issue, root: Path) -> None:
    """Example text of `comms init` or `comms new` still in the issue or its news (« Votre
    éditorial ici »): the same warnings as `comms check`, before anything goes out."""
    from comms import review
    from comms.selection import news_of

    sources = {issue.source} | {item.source for item in news_of(project, issue)}
    left = [p for p in review.placeholder_problems(project) if p.path in sources]
    if left:
        print_problems(ContentError(left), root)


def _settings(root: Path) -> Settings:
    settings = load_settings(root)
    if settings.warnings:
        print_problems(ConfigError("", settings.warnings), root)
    return settings


@contextmanager
def _progress(total: int) -> Iterator[Progress | None]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    console = Console(stderr=True)
    if total < PROGRESS_FROM or not console.is_terminal:
        yield None
        return
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task("Envoi", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


@click.command()
@click.argument("issue_id", metavar="NUMÉRO")
@click.option("--list", "list_name", default="newsletter", show_default=True,
              help="Liste de l’annuaire des partenaires à qui envoyer.")
@click.option("--transport", "transport_name", default=None,
              help="outbox, smtp ou brevo (par défaut\u00a0: COMMS_TRANSPORT dans .env, "
                   "sinon outbox).")
@click.option("--test", "test_address", default=None, metavar="ADRESSE",
              help="Envoie un seul exemplaire, marqué [TEST], à cette adresse.")
@click.option("--confirm", is_flag=True,
              help="Envoie vraiment (sans cette option, simple simulation).")
@click.option("--now", is_flag=True,
              help="Envoie vraiment un numéro avant sa date de parution (publish_on).")
@click.option("--first-time", "first_time", is_flag=True,
              help="Confirme qu’un numéro déjà paru, inconnu du journal d’envoi, n’a encore "
                   "jamais été envoyé.")
@click.option("--resend-maybe-delivered", "resend_maybe", is_flag=True,
              help="Renvoie aussi les messages «\u00a0peut-être remis\u00a0» (transmis en "
                   "entier sans réponse finale du serveur) d’un envoi précédent.")
@click.option("--skip-online-check", "skip_online_check", is_flag=True,
              help="N’exige pas que la page de la lettre et ses images soient en ligne.")
@root_option
@friendly
def send(issue_id: str, list_name: str, transport_name: str | None, test_address: str | None,
         confirm: bool, now: bool, first_time: bool, resend_maybe: bool,
         skip_online_check: bool, root: Path) -> None:
    """Envoie une lettre aux partenaires d’une liste, personnalisée pour chacun.

    Sans --confirm, affiche seulement qui la recevrait et qui est écarté. Une commande
    interrompue (Ctrl-C, coupure, panne du serveur) se relance telle quelle\u00a0: seuls les
    messages non envoyés partent.
    """
    from comms import content
    from comms.directory import load_partners
    from comms.send import campaign as campaigns
    from comms.send import newsletter
    from comms.send.journal import Journal
    from comms.send.signing_setup import prepare_signer
    from comms.send.tokens import NEWSLETTER as NEWSLETTER_SCOPE
    from comms.send.transports import get_transport

    settings = _settings(root)
    try:
        project = content.load_project(root)
    except ContentError as exc:
        raise newsletter.refuse_on_content_errors(exc) from None
    issue = newsletter.find_issue(project, issue_id)
    transport = get_transport(transport_name, settings, root)
    signer = prepare_signer(settings, transport.sends_raw, [project.site.sender.email])
    secret = settings.require_secret()
    template = newsletter.render_template(project, issue.id, list_name)

    if test_address:
        address = newsletter.check_address(test_address, "l’adresse de test")
        try:
            directory = load_partners(project, settings.partners)
        except ContentError:
            directory = None  # a proof copy does not need a valid directory
        with Journal.open(root) as journal:
            if journal.is_suppressed(address, NEWSLETTER_SCOPE):
                raise CommsError(f"{address} est dans la liste des désinscrits\u00a0: aucun "
                                 "message ne lui est envoyé, même de test.")
        message = newsletter.proof_message(project.site, template, secret, address, directory)
        campaigns.send_one(transport, message, settings)
        if not transport.delivers:
            click.secho(f"Exemplaire de test déposé dans var/outbox{NBSP}: rien n’est parti "
                        f"vers {address} (transport outbox).", fg="yellow")
            return
        click.secho(f"Exemplaire de test envoyé à {address} ({transport.name}), objet{NBSP}: "
                    f"{message.subject}", fg="green")
        return

    directory = load_partners(project, settings.partners)
    if directory.warnings:
        print_problems(ContentError(directory.warnings), root)
    audience = newsletter.audience(project, issue, list_name, directory, template.subject)
    with Journal.open(root) as journal:
        plan = campaigns.plan(journal, audience.campaign, audience.recipients, audience.skipped,
                              delivers=transport.delivers,
                              resend_maybe_delivered=resend_maybe)
        click.echo(f"Lettre {issue.id}{NBSP}: « {template.subject} »")
        click.echo(f"Liste {list_name} · transport {transport.name} · "
                   f"{count(len(plan.to_send) + len(plan.skipped), 'inscrit')}")
        early = _early(issue.publish_on, date.today())
        if early and confirm and transport.delivers and not now:
            raise CommsError(f"Envoi refusé{NBSP}: {early}. Ajoutez --now pour l’envoyer "
                             "vraiment dès maintenant. Rien n’a été envoyé.")
        if early:
            click.secho(f"Attention{NBSP}: {early}" + (" — envoyée dès maintenant (--now)."
                                                    if now and confirm else "."), fg="yellow")
        unknown = newsletter.unknown_published(journal, issue, date.today())
        if unknown and not first_time:
            if confirm:
                raise CommsError(newsletter.unknown_published_message(issue))
            click.secho(newsletter.unknown_published_message(issue), fg="yellow", err=True)
        _print_placeholders(project, issue, root)
        if transport.name != "outbox" and settings.online_check and not skip_online_check:
            _online_check(project, issue.id, refuse=confirm)
        if not confirm:
            _print_plan(plan)
            print_dkim(settings, project.site.unsubscribe_one_click, transport.sends_raw,
                       signer)
            click.secho("Simulation\u00a0: rien n’a été envoyé. Ajoutez --confirm pour envoyer.",
                        fg="yellow")
            if not transport.delivers:
                print_outbox_note(done=False)
            return
        with sigterm_as_interrupt(), _progress(len(plan.to_send)) as progress:
            summary = newsletter.send_issue(project, directory, journal, issue, list_name,
                                            transport, settings, progress, template,
                                            resend_maybe_delivered=resend_maybe)
    print_summary("Bilan", summary)
    if not summary.ok:
        raise SystemExit(1)


def _early(publish_on: date, today: date) -> str:
    """« parution prévue le lundi 15 février 2027 (dans 77 jours) », or "" once the day
    has come."""
    from comms.dates import format_day

    days = (publish_on - today).days
    if days <= 0:
        return ""
    return (f"parution prévue le {format_day(publish_on)} (dans {days} "
            f"jour{'s' if days > 1 else ''})")


def online_problems(project: Project, issue_id: str) -> CommsError | None:
    """HEAD the issue's page and images at their public URLs (`comms.web.online`); None when
    all answer, else an error (French) saying how many do not, each URL a problem."""
    from comms.web.online import check_online, public_urls

    missing = check_online(public_urls(project, issue_id))
    if not missing:
        return None
    problems = [Problem(None, None, m.url, m.reason,
                        "publiez le site avec « comms publish » (ou attendez qu’il soit en "
                        "ligne), ou ajoutez --skip-online-check") for m in missing]
    count = (f"{len(missing)} adresses de la lettre ne répondent pas" if len(missing) > 1
             else "1 adresse de la lettre ne répond pas")
    return CommsError(f"{count} en ligne\u00a0: les partenaires verraient des images cassées.",
                      problems)


def _online_check(project: Project, issue_id: str, refuse: bool) -> None:
    """HEAD the issue's page and images at their public URLs; a real send is refused when one
    is missing, the dry run says what would be refused."""
    error = online_problems(project, issue_id)
    if error is None:
        click.echo(f"  Page et images de la lettre en ligne{NBSP}: vérifiées.")
        return
    message = error.message
    if refuse:
        raise CommsError(f"Envoi refusé{NBSP}: {message} Rien n’a été envoyé.", error.problems)
    print_problems(error, None)
    click.secho(f"  Avec --confirm, l’envoi serait refusé{NBSP}: {message}", fg="yellow")


def _print_plan(plan: Plan) -> None:
    n = len(plan.to_send)
    click.echo(f"  {count(n, 'destinataire')} la {plural(n, 'recevrait', 'recevraient')}.")
    if plan.skipped:
        click.echo(f"  {count(len(plan.skipped), 'écarté')}{NBSP}: {reasons(plan.skip_counts())}.")
    if plan.deposited_before:
        n = plan.deposited_before
        click.echo(f"  {n} d’entre eux {plural(n, 'n’a', 'n’ont')} reçu qu’un essai déposé "
                   f"dans var/outbox{NBSP}: {plural(n, 'il recevra', 'ils recevront')} cette "
                   "fois le vrai message.")
    if plan.in_flight:
        n = plan.in_flight
        click.echo(f"  {count(n, 'message')} {plural(n, 'était', 'étaient')} en cours d’envoi "
                   f"lors d’une interruption\u00a0: "
                   f"{plural(n, 'il sera renvoyé', 'ils seront renvoyés')} avec le même "
                   "Message-ID.")
    if plan.resend_maybe_delivered:
        n = plan.resend_maybe_delivered
        click.echo(f"  {count(n, 'message peut-être remis')} lors d’un envoi précédent "
                   f"{plural(n, 'sera renvoyé', 'seront renvoyés')}, à votre demande.")




@click.command()
@click.argument("email", required=False, metavar="ADRESSE")
@click.option("--token", default=None, metavar="JETON",
              help="Lien de désinscription entier, ou son jeton (ce qui suit «\u00a0t=\u00a0»), ou "
                   "l’objet du message «\u00a0desinscription\u00a0…\u00a0» reçu.")
@root_option
@friendly
def unsubscribe(email: str | None, token: str | None, root: Path) -> None:
    """Désinscrit une adresse, à la main (de tout) ou d’après un lien de désinscription (de
    ce que le lien désigne : la lettre, les invitations d’une instance, ou tout) ;
    c’est définitif, quoi que dise l’annuaire ensuite."""
    from comms import content
    from comms.directory import load_partners
    from comms.send import newsletter
    from comms.send.journal import UNSUBSCRIBE, Journal
    from comms.send.tokens import ALL, read_token
    from comms.send.unsubscribe import (
        SOURCE_COMMAND,
        SOURCE_LINK,
        apply_unsubscribe,
        of_scope,
    )

    if bool(email) == bool(token):
        raise click.UsageError("indiquez soit une adresse, soit --token JETON.")
    project, _problems = content.inspect(root)
    names = {i.id: i.name for i in project.instances.values()} if project else {}
    if token:
        secret = _settings(root).require_secret()
        read = read_token(secret, token)
        address, scope = read.email, read.scope
        with Journal.open(root) as journal:
            previous = journal.suppression(address, scope)
            apply_unsubscribe(journal, secret, token, SOURCE_LINK)
        if previous is not None:
            click.echo(f"{address} était déjà écarté {of_scope(scope, names)} (depuis "
                       f"le {_since(previous.created_at)}).")
            return
    else:
        address, scope = newsletter.check_address(email or ""), ALL
        directory = None
        if project is not None:
            try:
                directory = load_partners(project, _settings(root).partners)
            except CommsError:
                directory = None
        with Journal.open(root) as journal:
            previous = journal.suppression(address, ALL)
            if previous is not None and previous.scope == ALL:
                click.echo(f"{address} était déjà désinscrit (depuis le "
                           f"{_since(previous.created_at)}).")
                return
            journal.suppress(address, UNSUBSCRIBE, SOURCE_COMMAND, scope=ALL)
        # Only once recorded: a journal that refuses the write must not be contradicted.
        if directory is not None and directory.find(address) is None:
            click.secho(f"Attention{NBSP}: {address} n’est pas dans l’annuaire "
                        f"{directory.path}{NBSP}; vérifiez l’orthographe. L’adresse est "
                        "tout de même désinscrite.", fg="yellow", err=True)
    click.secho(f"{address} est désinscrit {of_scope(scope, names)} : "
                "plus rien de cela ne lui sera envoyé.", fg="green")


def _since(recorded_at: str) -> str:
    """« 30 novembre 2026 » for a journal timestamp (ISO date first)."""
    from comms.dates import format_day

    try:
        return format_day(date.fromisoformat(recorded_at[:10]), weekday=False)
    except ValueError:
        return recorded_at


@click.command()
@click.argument("email", metavar="ADRESSE")
@click.option("--reason", "why", required=True, metavar="MOTIF",
              help="Pourquoi l’adresse peut de nouveau recevoir des messages (conservé dans "
                   "le journal).")
@root_option
@friendly
def unsuppress(email: str, why: str, root: Path) -> None:
    """Lève l’exclusion d’une adresse (désinscription ou échec définitif) : elle pourra
    de nouveau recevoir les envois. Le motif est conservé dans le journal."""
    from comms.send import newsletter
    from comms.send.journal import Journal

    address = newsletter.check_address(email)
    why = " ".join(why.split())
    if not why:
        raise click.UsageError("indiquez le motif avec --reason « … ».")
    with Journal.open(root) as journal:
        lifted = journal.lift_suppression(address, why)
    if not lifted:
        click.echo(f"{address} n’était pas exclu des envois : rien à faire.")
        return
    what = ", ".join(f"{_REASONS.get(s.reason, s.reason)} depuis le {s.created_at[:10]}"
                     for s in lifted)
    click.secho(f"{address} peut de nouveau recevoir les envois (exclusion levée : {what}).",
                fg="green")


_REASONS = {"unsubscribe": "désinscription", "bounce": "échec définitif"}


@click.command()
@click.argument("year", type=YEAR, required=False, metavar="[ANNÉE]")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Fichier CSV (par défaut\u00a0: ROOT/build/rapport-ANNÉE.csv).")
@root_option
@friendly
def report(year: int | None, csv_path: Path | None, root: Path) -> None:
    """Indicateurs de l’année pour la feuille de route (par défaut, l’année en cours)\u00a0:
    lettres envoyées face aux trois prévues, destinataires, invitations par instance, échecs,
    désinscriptions."""
    year = year or date.today().year
    from rich.console import Console
    from rich.table import Table

    from comms import content
    from comms.send.report import write_csv, yearly_report

    project, _problems = content.inspect(root)
    indicators = yearly_report(root.resolve(), year, project)
    table = Table(title=f"Indicateurs {year}")
    for column in ("Rubrique", "Indicateur", "Valeur", "Objectif", "Détail"):
        table.add_column(column, justify="right" if column in ("Valeur", "Objectif") else "left")
    for i in indicators:
        table.add_row(i.section, i.label, str(i.value), "" if i.target is None else str(i.target),
                      i.detail)
    Console().print(table)
    path = write_csv(indicators, csv_path or root.resolve() / "build" / f"rapport-{year}.csv")
    click.echo(f"Tableau enregistré dans {path}")


COMMANDS = [send, unsubscribe, unsuppress, report]
