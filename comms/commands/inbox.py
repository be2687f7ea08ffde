"""Commands of the return loop: inbox (read the mailboxes), rsvp (who answered what).

Heavy modules (imapclient, icalendar, flufl.bounce) are imported inside the commands.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms.commands.common import NBSP, friendly, print_problems, root_option
from comms.errors import ConfigError, ContentError
from comms.french import agree, count

if TYPE_CHECKING:
    from comms.inbox.process import Events, InboxSummary
    from comms.model import Project
    from comms.send.journal import Journal


def _project(root: Path) -> Project:
    from comms import content
    from comms.send.newsletter import refuse_on_content_errors

    try:
        return content.load_project(root)
    except ContentError as exc:
        raise refuse_on_content_errors(exc) from None


def events_of(project: Project, journal: Journal) -> Events:
    """UID -> event id from the journal's versions and the content's events."""
    from comms.calendar.ics import event_uid
    from comms.inbox.process import Events, journal_uids

    by_uid = journal_uids(journal)
    for event in project.events:
        by_uid.setdefault(event_uid(event, project.site.domain), event.id)
    return Events(by_uid, frozenset(e.id for e in project.events),
                  {i.id: i.name for i in project.instances.values()},
                  project.site.timezone.key)


# --------------------------------------------------------------------------- inbox


@click.command()
@click.option("--dry-run", is_flag=True,
              help="Lit et classe les messages sans rien enregistrer ni marquer.")
@click.option("--if-configured", is_flag=True,
              help="Ne fait rien (sans erreur) si aucune boîte n’est réglée dans .env "
                   "(utilisé par « make daily »).")
@root_option
@friendly
def inbox(dry_run: bool, if_configured: bool, root: Path) -> None:
    """Lit les boîtes aux lettres (IMAP)\u00a0: réponses aux invitations d’agenda,
    demandes de désinscription, avis de non-remise. Les messages traités sont marqués
    (ou déplacés dans IMAP_DONE_FOLDER)\u00a0; les autres restent non lus pour vous.

    Relancée, ou reprise après une interruption, la commande ne compte jamais deux fois
    le même message.
    """
    from comms.inbox.process import read_mailboxes
    from comms.inbox.settings import is_configured, load_inbox_settings
    from comms.send.journal import Journal
    from comms.settings import load_settings

    settings = load_settings(root)
    brevo = settings.transport == "brevo"
    if if_configured and not is_configured(root) and not brevo:
        click.echo("Aucune boîte aux lettres réglée (IMAP_HOST)\u00a0: rien à lire.")
        return
    if settings.warnings:
        print_problems(ConfigError("", settings.warnings), root)
    imap = not brevo or is_configured(root)
    inbox_settings = load_inbox_settings(root) if imap else None
    secret = settings.require_secret()
    project = _project(root)

    def announce(account, new: int) -> None:
        click.echo(f"Boîte {account.label}, dossier {account.folder}{NBSP}: "
                   f"{count(new, 'nouveau message', 'nouveaux messages')}")

    with Journal.open(root) as journal:
        if brevo:
            from comms.inbox.brevo_events import pull_brevo_events

            pulled = pull_brevo_events(settings, journal, dry_run=dry_run)
            click.echo(f"Brevo{NBSP}: {count(pulled.events, 'évènement lu', 'évènements lus')}"
                       " (échecs définitifs et désinscriptions des 30 derniers jours)")
            if pulled.hard_bounces:
                click.echo(f"  Adresses en échec définitif chez Brevo, écartées{NBSP}: "
                           + ", ".join(pulled.hard_bounces))
            if pulled.unsubscribed:
                click.echo(f"  Désinscriptions enregistrées par Brevo{NBSP}: "
                           + ", ".join(pulled.unsubscribed))
        if inbox_settings is None:
            return
        summary = read_mailboxes(inbox_settings, journal, events_of(project, journal), secret,
                                 dry_run=dry_run, on_account=announce)
    print_inbox_summary(summary)
    if dry_run:
        click.secho("Simulation\u00a0: rien n’a été enregistré ni marqué.", fg="yellow")


def print_inbox_summary(summary: InboxSummary) -> None:
    from comms.inbox import classify as kinds
    from comms.inbox.rsvp import LABELS, ORDER

    if summary.answers:
        click.echo(f"Réponses aux invitations{NBSP}:")
        events = sorted({event for event, _ in summary.answers})
        for event in events:
            parts = [f"{summary.answers[(event, s)]} {LABELS[s]}" for s in ORDER
                     if summary.answers[(event, s)]]
            click.echo(f"  {event}{NBSP}: " + ", ".join(parts))
    for line in summary.older:
        click.echo(f"  {line}")
    if summary.unsubscribed:
        click.echo(f"Désinscriptions{NBSP}: {len(summary.unsubscribed)} ("
                   + ", ".join(summary.unsubscribed) + ")")
    if summary.hard_bounces:
        click.echo(f"Adresses en échec définitif, écartées de tout envoi{NBSP}: "
                   + ", ".join(dict.fromkeys(summary.hard_bounces)))
    if summary.soft_bounces:
        click.echo(f"Échecs temporaires{NBSP}: " + ", ".join(dict.fromkeys(summary.soft_bounces)))
    if summary.suppressed_soft:
        click.echo(f"Écartées après plusieurs échecs temporaires{NBSP}: "
                   + ", ".join(dict.fromkeys(summary.suppressed_soft)))
    auto = summary.handled[kinds.AUTO_REPLY]
    if auto:
        click.echo(f"Réponses automatiques (absences) ignorées{NBSP}: {auto}")
    for line in summary.counters:
        click.secho(f"Contre-proposition{NBSP}: {line}", fg="yellow")
    for line in summary.unknown:
        click.secho(f"Non reconnu{NBSP}: {line}", fg="yellow")
    for line in summary.problems:
        click.secho(f"À vérifier{NBSP}: {line}", fg="yellow")
    if summary.duplicates:
        click.echo(f"{count(summary.duplicates, 'message déjà traité', 'messages déjà traités')}"
                   " sous un autre numéro (copie ou déplacement)\u00a0: pas compté deux fois.")
    if summary.finished:
        click.echo(f"{count(summary.finished, 'message enregistré', 'messages enregistrés')} "
                   f"lors d’une lecture interrompue, "
                   f"{agree(summary.finished, 'marqué')} maintenant.")
    handled = sum(summary.handled.values())
    colour = "green" if not (summary.unknown or summary.problems) else "yellow"
    click.secho(f"Bilan{NBSP}: {count(summary.read, 'message lu', 'messages lus')}, "
                f"{count(handled, 'traité')}, "
                f"{count(summary.left, 'laissé non lu', 'laissés non lus')} pour vous.",
                fg=colour)


# --------------------------------------------------------------------------- rsvp


def _select(project: Project, event_id: str):
    from comms.errors import CommsError, closest

    event_id = Path(event_id).stem
    event = project.event(event_id)
    if event is None:
        guess = closest(event_id, [e.id for e in project.events])
        raise CommsError(f"L’évènement «\u00a0{event_id}\u00a0» n’existe pas"
                         + (f"\u00a0; vouliez-vous écrire «\u00a0{guess}\u00a0»\u00a0?" if guess
                            else ".")
                         + " Les évènements sont les fichiers de calendars/events/, sans "
                         "«\u00a0.md\u00a0».")
    return event


def _journal_for_reading(root: Path) -> Journal:
    from comms.send.journal import JOURNAL_FILE, Journal

    path = root.resolve() / JOURNAL_FILE
    return Journal(path if path.is_file() else Path(":memory:"))


def _directory(project: Project, root: Path):
    from comms.directory import load_partners
    from comms.settings import load_settings

    try:
        return load_partners(project, load_settings(root).partners)
    except ContentError:
        return None  # names are a comfort here; addresses come from the journal


@click.command()
@click.argument("event_id", required=False, metavar="[ÉVÈNEMENT]")
@click.option("--csv", "as_csv", is_flag=True,
              help="Écrit le tableau en CSV (séparateur «\u00a0;\u00a0», pour Excel) sur la "
                   "sortie standard.")
@root_option
@friendly
def rsvp(event_id: str | None, as_csv: bool, root: Path) -> None:
    """Réponses aux invitations\u00a0: pour chaque réunion (par défaut\u00a0: toutes celles
    qui ont été envoyées), qui a accepté, refusé, répondu «\u00a0peut-être\u00a0», et qui
    n’a pas encore répondu, avec les adresses. Pour une réunion répétée, par date."""
    from comms.dates import format_day
    from comms.inbox.rsvp import LABELS, ORDER, invited_events, rsvp_tables

    project = _project(root)
    directory = _directory(project, root)
    with _journal_for_reading(root) as journal:
        events = [_select(project, event_id)] if event_id else invited_events(project, journal)
        tables = [t for e in events for t in rsvp_tables(project, journal, e, directory)]
    if as_csv:
        out = sys.stdout
        out.write("\ufeff")  # UTF-8 BOM: Excel then reads the accents right
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(["évènement", "date", "nom", "organisation", "adresse", "réponse",
                         "remarque", "commentaire"])
        for table in tables:
            day = _day(table.when)
            for line in table.lines:
                writer.writerow([table.event.id, day, *map(
                    spreadsheet_text, (line.name, line.organisation, line.email, line.label,
                                       line.note, line.comment))])
        out.flush()
        return
    if not tables:
        click.echo("Aucune invitation envoyée pour l’instant.")
        return
    for table in tables:
        counts = table.counts
        when = format_day(_as_day(table.when))
        click.secho(f"{table.event.title} — {when} ({table.event.id})", bold=True)
        click.echo("  " + " · ".join(f"{LABELS[s]}{NBSP}: {counts[s]}" for s in ORDER
                                     if counts[s] or s != "DELEGATED"))
        for line in table.lines:
            who = f"{line.name} <{line.email}>" if line.name else line.email
            extra = "".join(f" — {x}" for x in (line.note, line.comment) if x)
            click.echo(f"    {line.label:<19} {who}{extra}")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """A cell Excel or LibreOffice shows as text: what a partner wrote (the COMMENT of her
    answer) starting like a formula (« =HYPERLINK(…) ») gets a leading apostrophe, so
    opening the CSV never runs it (OWASP's advice on CSV injection)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _as_day(value):
    from datetime import datetime

    return value.date() if isinstance(value, datetime) else value


def _day(value) -> str:
    return _as_day(value).isoformat()


@click.command()
@click.argument("event_id", metavar="ÉVÈNEMENT")
@click.option("--date", "day_text", default=None, metavar="AAAA-MM-JJ",
              help="Pour une réunion répétée : la date de la séance (par défaut : la "
                   "prochaine).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier HTML à écrire (par défaut : ROOT/build/emargement/…).")
@root_option
@friendly
def emargement(event_id: str, day_text: str | None, out: Path | None, root: Path) -> None:
    """Feuille d’émargement d’une réunion, à imprimer : titre, date, lieu, puis une
    ligne par participant attendu (nom, organisation, signature), ceux qui ont accepté
    d’abord. Les réponses sont celles lues par « comms inbox »."""
    from comms.inbox.emargement import render_sheet, sheet_path
    from comms.write import atomic_write

    day = None
    if day_text:
        from comms.content.fields import Invalid
        from comms.content.fields import day as read_day

        try:
            day = read_day(day_text)
        except Invalid as exc:
            raise click.BadParameter(f"{exc.message} — {exc.hint}",
                                     param_hint="--date") from None
    project = _project(root)
    event = _select(project, event_id)
    directory = _directory(project, root)
    with _journal_for_reading(root) as journal:
        html, table = render_sheet(project, journal, event, directory, day)
    path = out or sheet_path(root.resolve(), event, table)
    atomic_write(path, html)
    rows = html.count('<td class="who">') - html.count('<td class="who"></td>')
    expected = count(rows, "personne attendue", "personnes attendues")
    click.secho(f"Feuille d’émargement écrite ({expected}){NBSP}: {path}", fg="green")
    click.echo("Ouvrez-la dans un navigateur et imprimez-la (ou « Enregistrer en PDF »).")


COMMANDS = [inbox, rsvp, emargement]
