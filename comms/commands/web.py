"""Commands of the public side: preview, publish, serve."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from comms.commands.common import (
    NBSP,
    friendly,
    print_problems,
    root_option,
    sigterm_as_interrupt,
)
from comms.commands.french import IntRange
from comms.errors import CommsError, ConfigError, Problem
from comms.french import count

today_option = click.option("--today", "today", hidden=True, help="Date du jour (tests).")


def _today(value: str | None, zone: ZoneInfo) -> date:
    if value:
        from comms.commands.content import _today as parse

        return parse(value)
    return datetime.now(zone).date()


def _publish_local(root: Path, dest: str, today: str | None, rsync: bool = False):
    """Load the project and publish its public site to `dest`; returns `Published`."""
    from comms import content
    from comms.send.journal import sent_campaigns
    from comms.web.publish import publish as publish_site

    project = content.load_project(root)
    return publish_site(project, dest, _today(today, project.site.timezone),
                        sent_campaigns(project.site.root), rsync=rsync)


@click.command()
@click.argument("destination", metavar="DESTINATION")
@click.option("--rsync", "use_rsync", is_flag=True,
              help="Copie avec rsync même vers un dossier local (automatique pour "
                   "utilisateur@serveur:/dossier).")
@root_option
@today_option
@friendly
def publish(destination: str, use_rsync: bool, root: Path, today: str | None) -> None:
    """Publie le site public (archive, lettres parues, images, fichiers d’agenda, flux) dans
    un dossier ou, par SSH, vers utilisateur@serveur:/dossier.

    Seuls les fichiers publics partent\u00a0: jamais l’annuaire, le journal, .env, les
    brouillons ni une lettre pas encore parue. Les fichiers inchangés ne sont pas réécrits\u00a0;
    une publication qui échoue laisse le site précédent intact.
    """
    done = _publish_local(root, destination, today, use_rsync)
    issues = ", ".join(i.id for i in done.site.issues) or "aucune"
    click.echo(f"Lettres en ligne{NBSP}: {issues}")
    removed = f", {count(done.removed, 'supprimé')}" if done.removed > 0 else ""
    click.secho(f"Site publié dans {done.destination}{NBSP}: "
                f"{count(len(done.site.files), 'fichier')}, {count(done.written, 'écrit')}, "
                f"{count(done.unchanged, 'inchangé')}{removed}.", fg="green")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Adresse d’écoute (laissez 127.0.0.1 derrière un serveur mandataire).")
@click.option("--port", default=8000, show_default=True, type=IntRange(0, 65535),
              help="Port d’écoute (0\u00a0: un port libre).")
@click.option("--site", "site_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Dossier du site déjà publié à servir (par défaut\u00a0: le "
                                 "site est publié dans ROOT/build/site au démarrage).")
@click.option("--proxy", default="127.0.0.1", show_default=True, metavar="ADRESSE",
              help="Adresse du serveur mandataire (reverse proxy) dont l’en-tête "
                   "X-Forwarded-For donne l’adresse des visiteurs («\u00a0*\u00a0» dans un "
                   "conteneur, dont le port n’est ouvert qu’au mandataire).")
@root_option
@today_option
@friendly
def serve(host: str, port: int, site_dir: Path | None, proxy: str, root: Path,
          today: str | None) -> None:
    """Sert le site public et la désinscription en un clic (RFC 8058) à une seule adresse.

    À placer derrière le serveur HTTPS du territoire (voir docs/deploiement.md). Les
    désinscriptions sont enregistrées aussitôt dans le journal, même pendant un envoi.
    """
    from comms import content
    from comms.settings import load_settings
    from comms.web import server
    from comms.web.app import ServeConfig, create_app

    settings = load_settings(root)
    if settings.warnings:
        print_problems(ConfigError("", settings.warnings), root)
    secret = settings.require_secret()
    project = content.load_project(root)
    sock = server.bind(host, port)  # a port in use is refused before the site is touched
    if site_dir is None:
        site_dir = project.site.root / "build" / "site"
        done = _publish_local(root, str(site_dir), today)
        click.echo(f"Site publié dans {site_dir} ({count(len(done.site.files), 'fichier')}).")
    elif not (site_dir / "index.html").is_file():
        raise CommsError(f"Le dossier {site_dir} ne contient pas de site publié.", [Problem(
            site_dir, None, "--site", "index.html introuvable ou illisible",
            "publiez d’abord le site avec « comms publish DOSSIER », ou retirez --site")])
    config = ServeConfig(root=project.site.root, site=project.site, site_dir=site_dir.resolve(),
                         secret=secret,
                         instance_names={i.id: i.name for i in project.instances.values()})
    app = create_app(config)
    base = server.base_url(sock)
    from urllib.parse import urlsplit

    click.echo(f"Site{NBSP}: {base}{urlsplit(project.site.web_base_url).path}")
    click.echo(f"Désinscription{NBSP}: {base}{urlsplit(project.site.unsubscribe_url).path}")
    click.echo("Ctrl-C pour arrêter.")
    sys.stdout.flush()
    server.run(app, sock, proxy)


@click.command()
@click.argument("issue_id", required=False, metavar="[NUMÉRO]")
@click.option("--port", default=0, show_default=True, type=IntRange(0, 65535),
              help="Port d’écoute sur 127.0.0.1 (0 : un port libre).")
@click.option("--no-browser", "no_browser", is_flag=True,
              help="N’ouvre pas le navigateur.")
@root_option
@today_option
@friendly
def preview(issue_id: str | None, port: int, no_browser: bool, root: Path,
            today: str | None) -> None:
    """Construit une lettre (par défaut, la prochaine à paraître) et la montre dans le
    navigateur : l’e-mail et la page web côte à côte, sur ordinateur et téléphone, avec
    images et fichiers d’agenda servis depuis cet ordinateur. Reconstruit l’aperçu dès qu’un
    fichier change ; Ctrl-C pour arrêter."""
    import secrets
    import shutil
    import tempfile
    import threading
    import webbrowser

    from comms import content
    from comms.build import upcoming_issue
    from comms.send.newsletter import find_issue
    from comms.settings import load_settings
    from comms.web import server
    from comms.web.app import ServeConfig, create_app
    from comms.web.preview import build_preview, local_project, watch

    project = content.load_project(root)
    day = _today(today, project.site.timezone)
    issue = find_issue(project, issue_id) if issue_id else upcoming_issue(project, day)
    sock = server.bind("127.0.0.1", port)
    base = server.base_url(sock) + "/"
    folder = Path(tempfile.mkdtemp(prefix="comms-apercu-")) / "site"

    def build() -> None:
        current = local_project(content.load_project(root), base)
        build_preview(current, issue.id, folder, day)

    build()
    try:
        secret = load_settings(root).unsubscribe_secret
    except CommsError:
        secret = ""
    local = local_project(project, base)
    app = create_app(ServeConfig(root=project.site.root, site=local.site, site_dir=folder,
                                 secret=secret or secrets.token_urlsafe(32), frames=True))

    def rebuild() -> None:
        try:
            build()
            click.secho(f"Aperçu reconstruit ({datetime.now():%H:%M:%S}).", fg="green")
        except CommsError as exc:
            print_problems(exc, root)
            click.secho(f"{exc.message} L’aperçu précédent reste affiché.", fg="red", err=True)
        sys.stdout.flush()

    url = f"{base}apercu.html"
    click.echo(f"Lettre {issue.id}, aperçu construit dans {folder}.")
    click.echo(f"Aperçu{NBSP}: {url}")
    click.echo("Ctrl-C pour arrêter.")
    sys.stdout.flush()
    stop = threading.Event()
    watch(project.site.root, rebuild, stop)
    if not no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        # uvicorn raises SIGTERM again once stopped: as Ctrl-C, so that the folder goes too.
        with sigterm_as_interrupt():
            server.run(app, sock)
    except KeyboardInterrupt:  # stopping is how a preview ends: nothing to resume
        click.echo("Aperçu arrêté.", err=True)
    finally:
        stop.set()
        shutil.rmtree(folder.parent, ignore_errors=True)  # the preview is not kept


COMMANDS = [preview, publish, serve]
