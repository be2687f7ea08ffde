"""Commands of the calendar area: calendar (published feeds), invite (iMIP invitations),
due (what is to be sent today, and sending it).

Imported at every `comms` start: heavy modules (icalendar, MRML, the send loop) are imported
inside the commands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms.commands.common import (
    NBSP,
    friendly,
    print_outbox_note,
    print_problems,
    print_summary,
    reasons,
    root_option,
    sigterm_as_interrupt,
)
from comms.errors import CommsError, ConfigError, ContentError
from comms.french import count, plural

# « 2 mises à jour »: the delivery kinds' plurals where an s on each word would be wrong.
PLURAL_LABELS = {"mise à jour": "mises à jour"}
# « prévu » agrees with each step's label: « annonce … prévue », « remerciements … prévus ».
PLANNED = {"save_the_date": "prévue", "invitation": "prévue", "reminder": "prévu",
           "thanks": "prévus"}

if TYPE_CHECKING:
    from comms.directory import Directory
    from comms.due import Due
    from comms.invitations.plan import Attendee, EventPlan
    from comms.invitations.sequence import StepPlan
    from comms.model import Instance, Project
    from comms.send.journal import Journal
    from comms.settings import Settings

today_option = click.option("--today", "today", hidden=True,
                            help="Date du jour, AAAA-MM-JJ (essais).")
transport_option = click.option(
    "--transport", "transport_name", default=None,
    help="outbox, smtp ou brevo (par défaut\u00a0: COMMS_TRANSPORT dans .env, sinon outbox).")


def _day(value: str | None, option: str) -> date:
    if not value:
        return date.today()
    from comms.content.fields import Invalid, day

    try:
        return day(value)
    except Invalid as exc:
        raise click.BadParameter(f"{exc.message} — {exc.hint}", param_hint=option) from None


def _settings(root: Path) -> Settings:
    from comms.settings import load_settings

    settings = load_settings(root)
    if settings.warnings:
        print_problems(ConfigError("", settings.warnings), root)
    return settings


def _project(root: Path) -> Project:
    from comms import content
    from comms.send.newsletter import refuse_on_content_errors

    try:
        return content.load_project(root)
    except ContentError as exc:
        raise refuse_on_content_errors(exc) from None


def _directory(project: Project, settings: Settings, root: Path) -> Directory:
    from comms.directory import load_partners

    directory = load_partners(project, settings.partners)
    if directory.warnings:
        print_problems(ContentError(directory.warnings), root)
    return directory


def _journal(root: Path, confirm: bool) -> Journal:
    """The send journal; a simulation on a territory that never sent anything reads an
    empty one in memory rather than creating var/comms.sqlite."""
    from comms.send.journal import JOURNAL_FILE, Journal

    path = root.resolve() / JOURNAL_FILE
    if confirm or path.is_file():
        return Journal(path)
    return Journal(Path(":memory:"))


def _who(person: Attendee) -> str:
    return f"{person.name} <{person.email}>" if person.name else person.email


# --------------------------------------------------------------------------- calendar


@click.command("calendar")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Dossier de sortie (par défaut\u00a0: ROOT/build).")
@root_option
@friendly
def calendar_command(out: Path | None, root: Path) -> None:
    """Écrit les agendas à publier (.ics)\u00a0: l’agenda complet, un par dispositif et un
    par instance, sans aucune donnée personnelle."""
    from comms import content
    from comms.calendar.feeds import FEEDS_DIR, feeds, write_feeds

    project = content.load_project(root)
    out = out or project.site.root / "build"
    written = write_feeds(project, out)
    for feed, path in zip(feeds(project), written, strict=True):
        click.echo(f"{feed.name} ({count(len(feed.events), 'évènement')})")
        click.echo(f"  fichier{NBSP}: {path}")
        click.echo(f"  adresse{NBSP}: {project.site.url(f'{FEEDS_DIR}/{feed.filename}')}")
    click.secho(f"{count(len(written), 'agenda écrit')} dans {out / FEEDS_DIR}. Publiez ce dossier "
                f"à l’adresse {project.site.url(FEEDS_DIR + '/')}", fg="green")


# --------------------------------------------------------------------------- invite


def _heading(project: Project, plan: EventPlan) -> str:
    from comms.invitations.imip import subject_date, typo

    return (f"{typo(plan.event.title)} — {subject_date(plan.event, project.site)} "
            f"({plan.event.id})")


def _print_event_plan(project: Project, plan: EventPlan, names: bool = True) -> None:
    from comms.dates import format_day
    from comms.invitations.plan import LABELS, NOT_YET, PAST

    heading = _heading(project, plan)
    if plan.state == PAST:
        click.echo(f"{heading}{NBSP}: passé, rien n’est envoyé.")
        return
    if plan.state == NOT_YET:
        click.echo(f"{heading}{NBSP}: invitation prévue le {format_day(plan.invitation_day)} "
                   "(séquence de l’instance), rien n’est envoyé avant.")
        return
    if not plan.deliveries and plan.event.cancelled:
        done = ("l’annulation a été envoyée à chaque invité" if plan.holders else
                "l’invitation n’avait été envoyée à personne")
        click.echo(f"{heading}{NBSP}: annulé, {done} ; rien à envoyer.")
    elif not plan.deliveries:
        click.echo(f"{heading}{NBSP}: à jour, rien à envoyer.")
    else:
        click.echo(heading)
    for version in plan.versions:
        for kind in LABELS:
            people = [d.attendee for d in plan.deliveries
                      if d.version == version and d.kind == kind]
            if not people:
                continue
            click.echo(f"  {LABELS[kind]} (séquence {version.sequence}){NBSP}: "
                       f"{count(len(people), 'destinataire')}")
            if names:
                for person in people:
                    click.echo(f"    {_who(person)}")
    if plan.skipped:
        counts = Counter(reason for _, reason in plan.skipped)
        click.echo(f"  {plural(len(plan.skipped), 'écarté', 'écartés')}{NBSP}: {reasons(counts)}")
        if names:
            for person, reason in plan.skipped:
                click.echo(f"    {_who(person)} — {reason}")


def _select_events(project: Project, event_ids: tuple[str, ...]) -> list:
    from comms.errors import closest

    if not event_ids:
        return list(project.events)
    chosen = []
    for event_id in event_ids:
        event_id = Path(event_id).stem  # « calendars/events/2027-03-copil.md » works too
        event = project.event(event_id)
        if event is None:
            known = [e.id for e in project.events]
            guess = closest(event_id, known)
            raise CommsError(f"L’évènement «\u00a0{event_id}\u00a0» n’existe pas"
                             + (f"\u00a0; vouliez-vous écrire «\u00a0{guess}\u00a0»\u00a0?" if guess
                                else ".")
                             + " Les évènements sont les fichiers de calendars/events/, "
                             "sans «\u00a0.md\u00a0».")
        chosen.append(event)
    return chosen


@click.command()
@click.argument("event_ids", nargs=-1, metavar="[ÉVÈNEMENT]...")
@transport_option
@click.option("--confirm", is_flag=True,
              help="Envoie vraiment (sans cette option, simple simulation).")
@click.option("--resend-maybe-delivered", "resend_maybe", is_flag=True,
              help="Renvoie aussi les invitations «\u00a0peut-être remises\u00a0» (transmises "
                   "en entier sans réponse finale du serveur) d’un envoi précédent.")
@root_option
@today_option
@friendly
def invite(event_ids: tuple[str, ...], transport_name: str | None, confirm: bool,
           resend_maybe: bool, root: Path, today: str | None) -> None:
    """Envoie les invitations d’agenda (Accepter / Refuser), leurs mises à jour et leurs
    annulations, à l’audience de chaque évènement à venir (par défaut\u00a0: tous).

    Relancée, la commande n’envoie que ce qui a changé\u00a0: une mise à jour si la date,
    l’heure, le lieu, le titre, la répétition ou le statut ont changé, l’invitation aux
    nouveaux membres, une annulation à qui ne fait plus partie de l’audience. Sans
    --confirm, affiche seulement qui recevrait quoi.
    """
    from comms.invitations import plan as invitations
    from comms.send.newsletter import record_directory_unsubscribes
    from comms.send.transports import get_transport

    settings = _settings(root)
    project = _project(root)
    events = _select_events(project, event_ids)
    directory = _directory(project, settings, root)
    invitations.require_valid_audiences(project, directory, events)
    day = _day(today, "--today")
    transport = get_transport(transport_name, settings, root) if confirm else None
    if confirm:
        settings.require_secret()
    with _journal(root, confirm) as journal:
        plans = invitations.plan_invitations(
            project, directory, journal, day, events,
            delivers=not _deposits_only(transport_name, settings))
        for event_id in invitations.forgotten_events(project, journal):
            click.secho(f"Attention{NBSP}: {invitations.forgotten_warning(event_id)}.",
                        fg="yellow", err=True)
        # Before anything is recorded: a wrong DKIM setting or an organizer whose address
        # is not aligned with DKIM_DOMAIN stops every event, not the first one left over.
        signing = _signing(project, settings, transport_name,
                           [p.instance for p in plans if p.deliveries], newsletter=False)
        if not confirm:
            for plan in plans:
                _print_event_plan(project, plan)
            if any(p.deliveries for p in plans):
                signing()
            total = sum(len(p.deliveries) for p in plans)
            click.secho(f"Simulation\u00a0: rien n’a été envoyé ({count(total, 'message')} à "
                        "envoyer). Ajoutez --confirm pour envoyer.", fg="yellow")
            if _deposits_only(transport_name, settings):
                print_outbox_note(done=False)
            return
        for plan in plans:
            _print_event_plan(project, plan, names=False)
        record_directory_unsubscribes(journal, directory)
        assert transport is not None
        with sigterm_as_interrupt():
            run = None
            if resend_maybe:
                from functools import partial

                from comms.send.campaign import run as run_campaign

                run = partial(run_campaign, resend_maybe_delivered=True)
            results = invitations.send_plans(project, plans, journal, transport, settings,
                                             run=run)
    failed = False
    for plan, version, summary in results:
        kinds = sorted({d.kind for d in plan.deliveries if d.version == version})
        label = ", ".join(invitations.LABELS[k] for k in kinds)
        print_summary(f"{plan.event.id} · {label} (séquence {version.sequence})", summary)
        failed |= not summary.ok
    if not results:
        click.secho("Rien à envoyer\u00a0: toutes les invitations sont à jour.", fg="green")
    if failed:
        raise SystemExit(1)


# --------------------------------------------------------------------------- due


def _print_due(project: Project, due: Due) -> None:
    from comms.dates import format_day
    from comms.invitations import sequence
    from comms.invitations.plan import LABELS

    click.echo(f"À envoyer le {format_day(due.day)}{NBSP}:")
    if due.issue is not None:
        issue = due.issue.issue
        when = ("reprise d’un envoi interrompu" if due.issue.resume else
                f"en retard (parution prévue le {format_day(issue.publish_on)})"
                if due.issue.late else "parution aujourd’hui")
        click.echo(f"  Lettre {issue.id}{NBSP}: {when}, "
                   f"{count(len(due.issue.plan.to_send), 'destinataire')} de la liste newsletter")
    to_invite = due.invitations_to_send
    if to_invite:
        click.echo("  Invitations d’agenda" + NBSP + ":")
        for plan in to_invite:
            counts = Counter(d.kind for d in plan.deliveries)
            what = ", ".join(count(counts[k], LABELS[k], PLURAL_LABELS.get(LABELS[k]))
                             for k in LABELS if counts[k])
            click.echo(f"    {_heading(project, plan)}{NBSP}: {what}")
    shown = [s for s in due.steps if s.timing != sequence.DONE or s.step.day == due.day]
    waiting = [p for p in due.invitations if p.invitation_day is not None
               and (p.invitation_day - due.day).days <= sequence.HORIZON_DAYS]
    if shown or waiting:
        click.echo("  Séquences des grands évènements" + NBSP + ":")
        for plan in waiting:
            click.echo(f"    {plan.event.id} · invitation d’agenda, prévue le "
                       f"{format_day(plan.invitation_day)}{NBSP}: à venir")
        for item in shown:
            _print_step(item, format_day)
    for warning in due.warnings:
        click.secho(f"  Attention{NBSP}: {warning}", fg="yellow")
    if due.empty:
        click.secho("  Rien à envoyer.", fg="green")


def _print_step(item: StepPlan, format_day) -> None:
    from comms.invitations import sequence

    step = item.step
    planned = PLANNED.get(step.name, "prévu")
    head = f"    {step.event.id} · {step.label}, {planned} le {format_day(step.day)}"
    if item.timing == sequence.TODAY:
        state = f"aujourd’hui, {count(len(item.plan.to_send), 'destinataire')}"
    elif item.timing == sequence.LATE:
        state = (f"en retard, {count(len(item.plan.to_send), 'destinataire')} (envoi possible "
                 f"jusqu’au {format_day(step.deadline)})")
    elif item.timing == sequence.DONE:
        state = "déjà envoyé"
    elif item.timing == sequence.MISSED:
        state = (f"manqué (plus de {sequence.CATCH_UP_DAYS} jours de retard, ou l’évènement "
                 "est passé)\u00a0: il ne sera pas envoyé")
    elif item.timing == sequence.CANCELLED:
        state = "évènement annulé\u00a0: rien n’est envoyé"
    else:
        state = "à venir"
    click.echo(f"{head}{NBSP}: {state}")
    for warning in item.warnings:
        click.secho(f"      attention{NBSP}: {warning}", fg="yellow")


@click.command()
@click.option("--date", "day_text", default=None, metavar="AAAA-MM-JJ",
              help="Le jour à examiner (par défaut\u00a0: aujourd’hui).")
@click.option("--run", "run_it", is_flag=True,
              help="Envoie ce qui est dû (avec --confirm\u00a0; sinon simulation).")
@click.option("--confirm", is_flag=True, help="Avec --run\u00a0: envoie vraiment.")
@transport_option
@click.option("--skip-online-check", "skip_online_check", is_flag=True,
              help="N’exige pas que la page de la lettre et ses images soient en ligne.")
@root_option
@friendly
def due(day_text: str | None, run_it: bool, confirm: bool, transport_name: str | None,
        skip_online_check: bool, root: Path) -> None:
    """Ce qui doit partir aujourd’hui\u00a0: la lettre à paraître, les invitations et mises
    à jour d’agenda pas encore envoyées, les étapes des séquences (annonce, rappel,
    remerciements). Avec --run --confirm, envoie tout\u00a0; «\u00a0make daily\u00a0» le fait chaque
    jour."""
    from comms import due as planner
    from comms.invitations import plan as invitations
    from comms.send.transports import get_transport

    if confirm and not run_it:
        raise click.UsageError("--confirm s’emploie avec --run\u00a0: comms due --run --confirm")
    day = _day(day_text, "--date")
    settings = _settings(root)
    project = _project(root)
    directory = _directory(project, settings, root)
    invitations.require_valid_audiences(project, directory, project.events)
    send = run_it and confirm
    transport = get_transport(transport_name, settings, root) if send else None
    if send:
        settings.require_secret()
    with _journal(root, send) as journal:
        agenda = planner.what_is_due(project, directory, journal, day,
                                     delivers=not _deposits_only(transport_name, settings))
        _print_due(project, agenda)
        instances = [p.instance for p in agenda.invitations_to_send] + \
            [item.step.instance for item in agenda.steps_to_send]
        signing = _signing(project, settings, transport_name, instances,
                           newsletter=agenda.issue is not None)
        if not send and not agenda.empty:
            signing()
        if not run_it:
            return
        held = False
        if agenda.issue is not None and settings.online_check and not skip_online_check \
                and not _deposits_only(transport_name, settings):
            held = _hold_if_offline(project, directory, journal, agenda, send)
        if not send:
            if not agenda.empty:
                click.secho("Simulation\u00a0: rien n’a été envoyé. Ajoutez --confirm pour "
                            "envoyer.", fg="yellow")
                if _deposits_only(transport_name, settings):
                    print_outbox_note(done=False)
            return
        if agenda.empty:
            if held:
                raise SystemExit(1)
            return
        assert transport is not None
        with sigterm_as_interrupt():
            summaries = planner.run_due(project, directory, journal, agenda, transport,
                                        settings, print_summary)
    if held or any(not s.ok for s in summaries):
        raise SystemExit(1)


def _hold_if_offline(project: Project, directory: Directory, journal: Journal, agenda: Due,
                     send: bool) -> bool:
    """The online check of `comms send` for the issue due: when its page or an image does not
    answer, a real run keeps the issue for a later run (`comms.due.hold_issue`) and the other
    mailings still go; a simulation only says so. Returns whether the issue is held."""
    from comms.commands.send import online_problems

    assert agenda.issue is not None
    issue_id = agenda.issue.issue.id
    error = online_problems(project, issue_id)
    if error is None:
        click.echo(f"  Page et images de la lettre {issue_id} en ligne{NBSP}: vérifiées.")
        return False
    print_problems(error, None)
    later = (f"elle partira à la prochaine exécution de «{NBSP}comms due --run --confirm"
             f"{NBSP}», une fois le site publié (comms publish).")
    if not send:
        click.secho(f"  Avec --confirm, la lettre {issue_id} ne partirait pas{NBSP}: "
                    f"{error.message}", fg="yellow")
        return False
    from comms import due as planner

    planner.hold_issue(project, directory, journal, agenda)
    click.secho(f"La lettre {issue_id} n’est pas envoyée aujourd’hui{NBSP}: {error.message} "
                f"Rien n’est perdu{NBSP}: {later} Les autres envois continuent.", fg="yellow",
                err=True)
    return True


def _signing(project: Project, settings: Settings, transport_name: str | None,
             instances: list[Instance], newsletter: bool) -> Callable[[], None]:
    """Check the DKIM settings and the alignment of every From address about to be used
    (the newsletter's sender, each instance's organizer) with DKIM_DOMAIN: ConfigError now,
    before anything is journalled or sent. Returns what a dry run prints about it."""
    from comms.commands.send import print_dkim
    from comms.invitations.imip import organizer_of
    from comms.send.signing_setup import prepare_signer
    from comms.send.transports import transport_class

    site = project.site
    senders = ([site.sender.email] if newsletter else []) + \
        [organizer_of(site, instance).email for instance in instances]
    sends_raw = transport_class(transport_name, settings).sends_raw
    signer = prepare_signer(settings, sends_raw, senders) if senders else None
    return lambda: print_dkim(settings, site.unsubscribe_one_click, sends_raw, signer)


def _deposits_only(transport_name: str | None, settings: Settings) -> bool:
    """Whether the chosen transport is the outbox (nothing leaves the machine)."""
    from comms.send.transports.outbox import OutboxTransport

    return (transport_name or settings.transport).strip().lower() == OutboxTransport.name


COMMANDS = [calendar_command, invite, due]
