"""Publishing the public site to a folder or, over SSH, with rsync.

A folder is replaced in one swap: the new site is written beside it, files whose bytes did
not change are hard links to the ones already published (same inode, same modification time,
so caches and ETags stay valid), then two renames put it in place. Anything that fails before
the swap leaves the previous site whole. An rsync target gets only the files whose content
changed (`--checksum`, no time stamps copied), all put in place at the end
(`--delay-updates`).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from comms.errors import CommsError, Problem
from comms.model import Project
from comms.web.site import PublicSite, published_issues, write_site
from comms.write import remove_stale, staging_prefix, swap, writing_beside

MARKER = ".comms-site"  # written in every published folder: only such a folder is replaced
MARKER_TEXT = "Site public de la lettre, publié par « comms publish ».\n"
RSYNC_TARGET = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:")  # user@host:path or host:path
RSYNC_TIMEOUT = 600  # seconds


@dataclass(frozen=True)
class Published:
    """What a publication did: the site, and how many files were written, kept unchanged
    and removed (removed is unknown, -1, for an rsync target)."""

    site: PublicSite
    destination: str
    written: int
    unchanged: int
    removed: int


def is_remote(destination: str) -> bool:
    """True for an rsync/SSH target (`user@host:/srv/lettre`), False for a local folder."""
    return bool(RSYNC_TARGET.match(destination)) and not re.match(r"^[A-Za-z]:[\\/]",
                                                                    destination)


def publish(project: Project, destination: str, today: date, sent: set[str] | frozenset = (),
            *, rsync: bool = False) -> Published:
    """Write the public site and put it at `destination` (folder or `host:path`).

    `today` is the territory's local date (issues published up to it go out), `sent` the
    campaign ids already sent (those issues go out too). Raises CommsError (French) when
    the destination refuses the copy; the previous site is then left as it was.
    """
    issues = published_issues(project, today, sent)
    if rsync or is_remote(destination):
        return _publish_rsync(project, destination, issues)
    return _publish_folder(project, Path(destination), issues)


def _refuse(destination: object, what: str, hint: str) -> CommsError:
    return CommsError(f"Publication impossible vers {destination}\u00a0: {what}. Le site "
                      "déjà en ligne n’a pas été modifié.",
                      [Problem(None, None, "DESTINATION", what, hint)])


def _check_folder(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise _refuse(dest, "ce n’est pas un dossier", "indiquez un dossier (il sera créé)")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise _refuse(dest, "ce dossier n’est pas vide et n’a pas été écrit par comms publish",
                      "indiquez un dossier vide ou nouveau, réservé au site de la lettre "
                      "(tout son contenu est remplacé à chaque publication)")


def _publish_folder(project: Project, dest: Path, issues: list) -> Published:
    # A link to the served folder (/var/www/lettre -> /srv/lettre) is followed: the swap
    # replaces the folder itself, and the link keeps pointing at the new site.
    dest = dest.expanduser().resolve()
    _check_folder(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with writing_beside(dest):
            return _publish_locked(project, dest, issues)
    except OSError as exc:
        raise _refuse(dest, f"écriture refusée ({exc.strerror})",
                      "vérifiez que le dossier parent existe et que vous avez le droit d’y "
                      "écrire") from None


def _publish_locked(project: Project, dest: Path, issues: list) -> Published:
    remove_stale(dest)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(dest), dir=dest.parent))
    try:
        staging.chmod(0o755)
        site = write_site(project, staging, issues)
        (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        unchanged = 0
        for relative in (*site.files, MARKER):
            old = dest / relative
            new = staging / relative
            if old.is_file() and filecmp.cmp(old, new, shallow=False):
                _keep(old, new)
                unchanged += relative != MARKER
        old_files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} \
            if dest.is_dir() else set()
        removed = len(old_files - set(site.files) - {MARKER})
        swap(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _refuse(dest, f"écriture refusée ({exc.strerror or exc})",
                      "vérifiez les droits sur le dossier et la place libre") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    site = PublicSite(dest, site.issues, site.files)
    return Published(site, str(dest), len(site.files) - unchanged, unchanged, removed)


def _keep(old: Path, new: Path) -> None:
    """Replace `new` by the published `old` file itself (hard link), or a copy keeping its
    time stamps where links are not possible."""
    tmp = new.with_name(f".{new.name}.keep")
    try:
        os.link(old, tmp)
    except OSError:
        shutil.copy2(old, tmp)
    os.replace(tmp, new)


def _publish_rsync(project: Project, destination: str, issues: list) -> Published:
    rsync = shutil.which("rsync")
    if rsync is None:
        raise _refuse(destination, "la commande rsync est introuvable",
                      "installez rsync (paquet Debian « rsync ») ou publiez vers un dossier")
    with tempfile.TemporaryDirectory(prefix="comms-site-") as tmp:
        staging = Path(tmp) / "site"
        site = write_site(project, staging, issues)
        (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        _check_rsync_target(rsync, destination)
        result = _run_rsync(destination, [
            rsync, "--recursive", "--links", "--checksum", "--delete-delay", "--delay-updates",
            "--chmod=D755,F644", "--itemize-changes", f"{staging}/",
            destination.rstrip("/") + "/"])
        changed = {line.split(" ", 1)[1] for line in result.stdout.splitlines()
                   if line[:2] in (">f", "<f") and " " in line}
        changed.discard(MARKER)
    written = len([f for f in site.files if f in changed])
    return Published(PublicSite(Path(destination), site.issues, site.files), destination,
                     written, len(site.files) - written, -1)


def _run_rsync(destination: str, command: list[str],
               accept: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run rsync; a French refusal when it fails (exit code not in `accept`) or hangs."""
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=RSYNC_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise _refuse(destination, f"rsync n’a pas fini en {RSYNC_TIMEOUT // 60} minutes",
                      "vérifiez la connexion au serveur") from None
    if result.returncode not in accept:
        # The cause (« ssh: Could not resolve hostname… »), not rsync's closing summary.
        lines = result.stderr.strip().splitlines()
        causes = [line for line in lines if not line.startswith("rsync error:")]
        detail = (causes or lines or [f"code {result.returncode}"])[0]
        raise _refuse(destination, f"rsync a échoué ({detail})",
                      "vérifiez l’adresse (utilisateur@serveur:/dossier), la clé SSH et "
                      "les droits d’écriture sur le serveur")
    return result


def _check_rsync_target(rsync: str, destination: str) -> None:
    """Refuse, as for a folder, a destination that holds files but was not written by
    `comms publish` (no marker): the copy deletes whatever is not part of the site."""
    listing = _run_rsync(destination, [rsync, "--list-only", destination.rstrip("/") + "/"],
                         accept=(0, 23))  # 23: no such folder yet, it will be created
    names = {line.split(None, 4)[4] for line in listing.stdout.splitlines()
             if len(line.split(None, 4)) == 5}
    names.discard(".")
    if names and MARKER not in names:
        raise _refuse(destination, "ce dossier n’est pas vide et n’a pas été écrit par "
                      "comms publish",
                      "indiquez un dossier vide ou nouveau, réservé au site de la lettre "
                      "(tout son contenu est remplacé à chaque publication)")
