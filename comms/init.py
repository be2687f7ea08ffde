"""`comms init`: a new territory's starting files, ready for `comms check` and `comms build`.

Everything is prepared in memory and checked against existing files first; then each file is
created (never overwritten). The files are commented in French, since coordinators edit them.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from comms.content import EVENTS_DIR, INSTANCES_FILE, ISSUES_DIR, NEWS_DIR
from comms.content.config import CONFIG_FILE, DEFAULT_ISSUE_DATES
from comms.errors import CommsError
from comms.french import territory_of
from comms.model import Coordinator

PARTNERS_FILE = Path("content/partners.csv")
# The directory's header as French spreadsheet users write it; `comms.directory` reads these
# spellings (and the English ones). UTF-8 with a BOM and `;`: what French Excel opens as is.
PARTNERS_HEADER = ("Courriel;Prénom;Nom;Organisme;Fonction;Listes;Consentement le;"
                   "Désinscrit le")
PLACEHOLDER_DOMAIN = "example.org"


@dataclass(frozen=True)
class Answers:
    """What `comms init` asks; every field has a placeholder that `comms check` accepts."""

    territory: str = "Mon territoire"
    territory_of: str = ""  # « du Haut-Bugey », « d’Oyonnax »; empty: derived from the name
    coordinators: tuple[Coordinator, ...] = (
        Coordinator("Prénom Nom", "Coordinatrice ASV et CLS",
                    f"coordination.asv@{PLACEHOLDER_DOMAIN}"),
        Coordinator("Prénom Nom", "Coordinateur du CLSM",
                    f"coordination.clsm@{PLACEHOLDER_DOMAIN}"),
    )
    sender_name: str = ""  # empty: « Coordination santé » and the territory
    sender_email: str = f"lettre@{PLACEHOLDER_DOMAIN}"
    web_base_url: str = f"https://{PLACEHOLDER_DOMAIN}/lettre/"

    @property
    def of(self) -> str:
        return self.territory_of or territory_of(self.territory)

    @property
    def sender(self) -> str:
        return self.sender_name or f"Coordination santé {self.of}"


def _q(value: str) -> str:
    """A YAML double-quoted scalar: names may hold « : », « # » or quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _domain_url(base: str, path: str) -> str:
    scheme, _, rest = base.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/{path}"


def config_text(a: Answers) -> str:
    coordinators = "".join(
        f"  - name: {_q(c.name)}\n    role: {_q(c.role)}\n    email: {c.email}\n"
        f"    phone: {_q(c.phone)}\n" for c in a.coordinators)
    domain = a.sender_email.rpartition("@")[2]
    return f"""\
# Réglages de la lettre commune ASV · CLS · CLSM {a.of}.
# Chaque champ est décrit dans le guide de rédaction (docs/redaction.md).
# Après chaque modification, lancez « comms check ».

# Nom du territoire, et la façon de dire « de » devant lui (« du Haut-Bugey »,
# « d’Oyonnax », « de Lyon », « des Monts du Lyonnais ») : utilisé dans toutes les lettres.
territory: {_q(a.territory)}
territory_of: {_q(a.of)}
newsletter_title: {_q(f"La Lettre santé {a.of}")}

# Expéditeur affiché dans les messageries, et adresse qui reçoit les réponses.
sender:
  name: {_q(a.sender)}
  email: {a.sender_email}
reply_to: {a.coordinators[0].email}

# Les coordinations qui rédigent la lettre ensemble (une entrée par personne).
coordinators:
{coordinators}
# Couleur principale (un texte blanc doit rester lisible dessus) et logo de l’en-tête.
brand:
  color: "#1f5f7a"
  # logo: content/images/logo.png

# Adresse web où la lettre et ses archives sont publiées.
web_base_url: {a.web_base_url}
# survey_url: {_domain_url(a.web_base_url, "questionnaire")}
timezone: Europe/Paris

# Chaque message propose ces deux moyens de se désinscrire (RGPD).
unsubscribe:
  mailto: desinscription@{domain}
  url: {_domain_url(a.web_base_url, "desinscription")}

# Mois-jour des trois numéros de l’année (utilisé par « comms plan »).
issue_dates: [{", ".join(f'"{m:02d}-{d:02d}"' for m, d in DEFAULT_ISSUE_DATES)}]

# Annuaire des partenaires : données personnelles, à garder hors d’un dépôt public.
partners: {PARTNERS_FILE.as_posix()}
"""


def instances_text(a: Answers) -> str:
    first = a.coordinators[0].email
    second = a.coordinators[-1].email
    return f"""\
# Les instances de la coordination santé {a.of}.
# Chaque évènement de calendars/events/ indique l’une de ces instances (champ « instance »).
# audience : listes de l’annuaire des partenaires qui reçoivent l’invitation.
# organizer : adresse de l’une des coordinations (voir comms.yaml).
# reminder : alarme avant le début (« 1 day », « 2 hours », « 30 minutes » ou « none »).

copil:
  name: Comité de pilotage
  dispositif: [ASV, CLS, CLSM]
  audience: [copil]
  organizer: {first}
  reminder: 1 day

cotech:
  name: Comité technique
  dispositif: [ASV, CLS, CLSM]
  audience: [cotech]
  organizer: {first}
  reminder: 2 hours

pleniere:
  name: Assemblée plénière
  dispositif: CLSM
  audience: [pleniere]
  organizer: {second}
  reminder: 1 day

# Un groupe de travail par axe : copiez ce bloc et changez l’identifiant et le nom.
gt-logement:
  name: Groupe de travail Logement et santé mentale
  dispositif: CLSM
  audience: [gt-logement]
  organizer: {second}

# La journée interprofessionnelle annuelle : ses messages partent aux jours indiqués,
# comptés depuis le jour J (négatif avant, positif après).
journee-interpro:
  name: Journée interprofessionnelle
  dispositif: [CLS, CLSM]
  audience: [journee-interpro]
  organizer: {first}
  reminder: 1 day
  sequence:
    save_the_date: -60
    invitation: -30
    reminder: -7
    thanks: 1
"""


def issue_year(today: date, issue_dates=DEFAULT_ISSUE_DATES) -> int:
    """The year being prepared: this year while one of its issues is still to come."""
    return today.year if any(date(today.year, m, d) >= today
                             for m, d in issue_dates) else today.year + 1


def _next_publish(today: date) -> date:
    year = issue_year(today)
    return min(d for m, dd in DEFAULT_ISSUE_DATES if (d := date(year, m, dd)) >= today)


def news_text(on: date) -> str:
    return f"""\
---
title: "Bienvenue dans la lettre commune"
date: {on.isoformat()}
dispositif: commun          # ASV, CLS, CLSM ou commun (ou une liste : [CLS, CLSM])
section: news               # news (Actualités), progress (Avancée des travaux) ou resources
summary: "Une actualité d’exemple, à remplacer par la vôtre."
# link: https://…           # lien « En savoir plus »
# image: content/images/photo.png
# image_alt: "Description de l’image"
draft: false                # true pour la garder hors des lettres
---
Cette actualité montre la forme d’un fichier : l’en-tête entre les deux lignes « --- »,
puis le texte en Markdown. Remplacez-la, ou supprimez ce fichier.
"""


def event_text(on: date) -> str:
    return f"""\
---
instance: copil
start: {on.isoformat()} 14:00
end: {on.isoformat()} 16:30
location: "Mairie, salle du conseil"   # adresse complète
# online_url: https://…     # lien de visioconférence
status: confirmed           # annulé (ou cancelled) : les invités reçoivent l’annulation
---
Ordre du jour :

1. Bilan de l’année
2. Programme de l’année à venir
"""


GITIGNORE = """\
# Produits par comms, et secrets : hors du dépôt.
var/
build/
.env
"""


def env_text() -> str:
    return f"""\
# Réglages secrets de ce territoire (jamais dans git : voir .gitignore).
# Tous les réglages possibles sont décrits dans .env.example.

# Signe les liens de désinscription ; ne le changez pas une fois des lettres envoyées.
COMMS_UNSUBSCRIBE_SECRET={secrets.token_urlsafe(32)}

# Sans réglage d’envoi, les messages sont seulement écrits dans var/outbox.
# COMMS_TRANSPORT=smtp
# SMTP_HOST=
# SMTP_USER=
# SMTP_PASSWORD=
"""


def plan(root: Path, answers: Answers, today: date) -> dict[Path, str]:
    """Every file `init` writes (path -> text), nothing written yet."""
    publish = _next_publish(today)
    year = issue_year(today)
    from comms.scaffold import SEASONS, issue_text

    files = {
        root / CONFIG_FILE: config_text(answers),
        root / INSTANCES_FILE: instances_text(answers),
        root / PARTNERS_FILE: ("\ufeff" + PARTNERS_HEADER + "\n" + ";".join((
            f"prenom.nom@{PLACEHOLDER_DOMAIN}", "Prénom", "Nom", "Organisme", "Fonction",
            "newsletter|copil", today.isoformat(), "")) + "\n"),
        root / NEWS_DIR / f"{today.isoformat()}-bienvenue.md": news_text(today),
        root / EVENTS_DIR / f"{(publish + timedelta(days=30)).isoformat()}-copil.md":
            event_text(publish + timedelta(days=30)),
        root / ".gitignore": GITIGNORE,
        root / ".env": env_text(),
    }
    for number, (month, day_) in enumerate(DEFAULT_ISSUE_DATES, 1):
        files[root / ISSUES_DIR / f"{year}-{number}.md"] = issue_text(
            number, date(year, month, day_), f"{SEASONS[month]} {year}",
            answers.coordinators[0].name)
    return files


# Files a folder may already hold (a git repository, another tool's settings): `init`
# completes them instead of refusing the folder.
COMPLETED = (".gitignore", ".env")
SECRET_SETTING = "COMMS_UNSUBSCRIBE_SECRET"


def _completion(path: Path, text: str) -> str:
    """What to append to the existing `path` so that it also holds what `text` (the file
    `init` would write) is there for: the ignore lines it lacks (.gitignore), or the
    unsubscribe secret when none is set (.env). Empty when nothing is missing."""
    current = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.name == ".gitignore":
        have = {line.strip().rstrip("/") for line in current.splitlines()}
        missing = [line for line in text.splitlines()
                   if line and not line.startswith("#") and line.rstrip("/") not in have]
        lines = [text.splitlines()[0], *missing] if missing else []
    else:
        from dotenv import dotenv_values  # the reader of `comms.settings`: any spelling it
        # reads (« KEY = value », `export`, quotes) is a secret already set, kept as it is

        if SECRET_SETTING in dotenv_values(stream=io.StringIO(current)):
            return ""
        lines = text.splitlines()
    if not lines:
        return ""
    return ("" if not current or current.endswith("\n") else "\n") + "\n" + \
        "\n".join(lines) + "\n"


def init_territory(root: Path, answers: Answers, today: date) -> list[tuple[Path, bool]]:
    """Create a territory in `root` (created if missing); return each file written, with
    True when it was created and False when an existing `.gitignore` or `.env` was completed
    (see `_completion`; one that needs nothing is not listed).

    Raises CommsError, before writing anything, when `root` already holds a comms.yaml or
    any of the other files.
    """
    files = plan(root, answers, today)
    if (root / CONFIG_FILE).exists():
        raise CommsError(f"{root / CONFIG_FILE} existe déjà\u00a0: ce dossier est déjà un "
                         "territoire, rien n’a été modifié. Choisissez un dossier vide, par "
                         "exemple « comms init mon-territoire ».")
    existing = [p for p in files if p.exists() and not (p.name in COMPLETED and p.is_file())]
    if existing:
        raise CommsError(f"{existing[0]} existe déjà\u00a0: rien n’a été modifié. Choisissez un "
                         "dossier vide.")
    completions = {path: _completion(path, files[path]) for path in files if path.exists()}
    written = []
    for path, text in files.items():
        if path in completions:
            if completions[path]:
                with path.open("a", encoding="utf-8", newline="\n") as handle:
                    handle.write(completions[path])
                if path.name == ".env":
                    os.chmod(path, 0o600)  # it now holds a secret: its owner's only
                written.append((path, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if path.name == ".env":
            os.chmod(path, 0o600)  # a secret: readable by its owner only
        written.append((path, True))
    (root / "content/images").mkdir(parents=True, exist_ok=True)
    return written
