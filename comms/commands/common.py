"""What every command shares: the content root option and turning errors into French messages."""

from __future__ import annotations

import functools
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from comms.commands.french import IntRange
from comms.errors import CommsError
from comms.french import count, plural

if TYPE_CHECKING:
    from comms.send.campaign import Summary

NBSP = "\u00a0"

# The years an issue or a report can be about (`date` cannot go past 9999).
YEAR = IntRange(2000, 2999)

root_option = click.option(
    "--root",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="COMMS_ROOT",
    default=".",
    show_default=True,
    help="Dossier du territoire (contient comms.yaml). Aussi\u00a0: variable COMMS_ROOT.",
)


def fail(message: str, code: int = 1) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(code)


def print_problems(error: CommsError, root: Path | None) -> None:
    for problem in error.problems:
        colour = "red" if problem.is_error else "yellow"
        click.secho(problem.format(root), fg=colour, err=True)


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show library errors as a French message and exit 1; Ctrl-C exits 130 quietly."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        root = kwargs.get("root")
        try:
            return func(*args, **kwargs)
        except CommsError as exc:
            print_problems(exc, root)
            fail(exc.message)
        except sqlite3.Error as exc:  # the journal went read-only, the disk filled up...
            from comms.send.journal import JOURNAL_FILE, journal_error

            error = journal_error(Path(root or ".") / JOURNAL_FILE, exc)
            fail(error.message)
        except OSError as exc:  # a folder not writable, a disk full, a file gone meanwhile
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"Opération impossible{where}\u00a0: {exc.strerror or exc}. Vérifiez que le "
                 "dossier existe, que vous avez le droit d’y écrire et qu’il reste de la place.")
        except KeyboardInterrupt:
            click.secho("\nInterrompu. Relancez la même commande pour reprendre.", err=True)
            sys.exit(130)

    return wrapper


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """`kill` (SIGTERM) stops a send like Ctrl-C: the journal is left consistent."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def reasons(counts: Counter[str]) -> str:
    """« 36 déjà envoyé, 2 désinscrit »: skip reasons, most frequent first."""
    return ", ".join(count(n, reason) for reason, n in counts.most_common())


OUTBOX_NOTE = (f"déposés dans var/outbox{NBSP}: rien n’est parti. Ce n’était qu’un essai "
               "(transport outbox)\u00a0: pour envoyer vraiment, réglez COMMS_TRANSPORT "
               "(smtp ou brevo) dans .env ou ajoutez --transport smtp\u00a0; les destinataires "
               "de l’essai recevront alors le message.")


def print_outbox_note(done: bool) -> None:
    """Say plainly that the outbox transport sends nothing (`done`: after a run, else in a
    dry run)."""
    if done:
        click.secho(f"  Messages {OUTBOX_NOTE}", fg="yellow")
    else:
        note = OUTBOX_NOTE.replace("rien n’est parti", "rien ne partirait").replace(
            "Ce n’était", "Ce ne serait")
        click.secho(f"  Transport outbox{NBSP}: même avec --confirm, les messages seraient "
                    f"{note}", fg="yellow")


def print_summary(label: str, summary: Summary) -> None:
    """The end of a campaign: what was sent, skipped, failed, and what to do next."""
    skipped = sum(summary.skipped.values())
    parts = [f"envoyés{NBSP}: {summary.sent}" if summary.delivers else
             f"déposés dans var/outbox{NBSP}: {summary.sent}",
             f"écartés{NBSP}: {skipped}" + (f" ({reasons(summary.skipped)})" if skipped else ""),
             f"en échec{NBSP}: {len(summary.failed)}"]
    click.secho(f"{label} — " + " · ".join(parts), fg="green" if summary.ok else "red")
    if not summary.delivers:
        print_outbox_note(done=True)
    if summary.resent_in_flight:
        n = summary.resent_in_flight
        click.echo(f"  {count(n, 'message interrompu')} lors d’un envoi précédent "
                   f"{plural(n, 'a été renvoyé', 'ont été renvoyés')} (même Message-ID).")
    for address, reason in summary.failed:
        click.secho(f"  {address}{NBSP}: {reason}", fg="red", err=True)
    if summary.maybe_delivered:
        n = len(summary.maybe_delivered)
        click.secho(f"  {count(n, 'message peut-être remis')} (transmis en entier, sans "
                    f"réponse finale du serveur){NBSP}: {plural(n, 'il', 'ils')} ne "
                    f"{plural(n, 'sera', 'seront')} pas renvoyé{plural(n, '', 's')}, sauf si "
                    "vous le demandez avec --resend-maybe-delivered après avoir vérifié auprès "
                    "des destinataires.", fg="yellow", err=True)
        for address, reason in summary.maybe_delivered:
            click.secho(f"  {address}{NBSP}: {reason}", fg="yellow", err=True)
    remaining = (f"{count(summary.remaining, 'message')} "
                 f"{plural(summary.remaining, 'reste', 'restent')} à envoyer")
    if summary.stopped and summary.check:
        click.secho(f"  Envoi arrêté{NBSP}: {summary.stopped}. {remaining}{NBSP}; "
                    f"{summary.check}, puis relancez la même commande.", fg="red", err=True)
    elif summary.stopped:
        click.secho(f"  Envoi arrêté{NBSP}: {summary.stopped}. {remaining}{NBSP}: relancez la "
                    "même commande plus tard.", fg="red", err=True)
    elif summary.failed:
        click.secho("  Relancer la même commande réessaiera les messages en échec (les "
                    "adresses refusées définitivement restent écartées).", err=True)
