"""Commands that look after the send journal: backup and restore."""

from __future__ import annotations

from pathlib import Path

import click

from comms.commands.common import NBSP, friendly, root_option


@click.group()
def journal() -> None:
    """Sauvegarde et restauration du journal d’envoi (var/comms.sqlite), qui garde les
    désinscriptions et tout ce qui a été envoyé."""


@journal.command()
@click.option("--to", "dest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FICHIER",
              help="Fichier de la copie (par défaut\u00a0: var/backups/comms-DATE-HEURE.sqlite).")
@root_option
@friendly
def backup(dest: Path | None, root: Path) -> None:
    """Copie le journal d’envoi, même pendant un envoi, dans var/backups/."""
    from comms.send.journal import JOURNAL_FILE
    from comms.send.journal import backup as backup_journal

    path = backup_journal(root.resolve() / JOURNAL_FILE, dest)
    click.secho(f"Journal sauvegardé dans {path}", fg="green")
    click.echo("Gardez aussi une copie de var/backups/ hors de cette machine.")


@journal.command()
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                metavar="SAUVEGARDE")
@click.option("--confirm", is_flag=True, help="Remplace vraiment le journal actuel.")
@root_option
@friendly
def restore(source: Path, confirm: bool, root: Path) -> None:
    """Remet une sauvegarde du journal à sa place (le journal remplacé est conservé à côté,
    sous le nom comms.sqlite.remplacé-DATE)."""
    from comms.send.campaign import send_lock
    from comms.send.journal import JOURNAL_FILE
    from comms.send.journal import restore as restore_journal

    path = root.resolve() / JOURNAL_FILE
    if not confirm:
        click.secho(f"Simulation{NBSP}: {path} serait remplacé par {source}. Ajoutez --confirm "
                    "pour le faire.", fg="yellow")
        return
    with send_lock(path):
        restore_journal(path, source.resolve())
    click.secho(f"Journal restauré depuis {source}. Les envois faits après cette sauvegarde "
                "n’y figurent pas\u00a0: vérifiez avec comms send NUMÉRO (sans --confirm) "
                "avant d’envoyer.", fg="green")


COMMANDS = [journal]
