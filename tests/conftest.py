"""Shared fixtures: a minimal content root written to a temporary folder."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["smtp_servers", "imap_server"]  # real SMTP and IMAP servers, as fixtures

REPO = Path(__file__).resolve().parent.parent

# A one-pixel PNG (valid: Pillow checks every chunk), enough for image checks.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)

CONFIG = """\
territory: Val-de-Lisière
newsletter_title: La Lettre santé de Val-de-Lisière
sender:
  name: Coordination santé Val-de-Lisière
  email: lettre@sante.example.org
reply_to: coordination@sante.example.org
coordinators:
  - name: Claire Martin
    role: Coordinatrice ASV et CLS
    email: claire.martin@sante.example.org
    phone: 01 99 00 10 01
  - name: Karim Benali
    role: Coordinateur du CLSM
    email: karim.benali@sante.example.org
    phone: 01 99 00 10 02
brand:
  color: "#1f5f7a"
web_base_url: https://sante.example.org/lettre/
survey_url: https://sante.example.org/questionnaire
timezone: Europe/Paris
unsubscribe:
  mailto: desinscription@sante.example.org
  url: https://sante.example.org/desinscription
"""

INSTANCES = """\
copil:
  name: Comité de pilotage
  dispositif: [ASV, CLS, CLSM]
  audience: [copil]
  organizer: claire.martin@sante.example.org
gt-logement:
  name: Groupe de travail « Logement »
  dispositif: CLSM
  audience: [gt-logement]
  organizer: karim.benali@sante.example.org
  reminder: 2 hours
"""

PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie de Lisière;Adjointe santé;newsletter|copil;2026-01-10;
paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;newsletter|copil|gt-logement;2026-01-10;
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issue_file(number: int, publish_on: str, period: str = "") -> str:
    return f"---\nnumber: {number}\npublish_on: {publish_on}\nperiod: {period}\n---\nÉdito.\n"


def news_file(title: str, on: str, section: str = "news", dispositif: str = "CLSM",
              extra: str = "", body: str = "Texte.") -> str:
    return (f"---\ntitle: {title}\ndate: {on}\ndispositif: {dispositif}\nsection: {section}\n"
            f"{extra}---\n{body}\n")


def event_file(start: str, end: str, instance: str = "copil", extra: str = "") -> str:
    return (f"---\ninstance: {instance}\nstart: {start}\nend: {end}\nlocation: Mairie\n{extra}"
            "---\nOrdre du jour.\n")


@pytest.fixture(autouse=True, scope="session")
def _session_cache_folder(tmp_path_factory):
    """Results kept between runs (compiled templates, images) go to this session's own
    $XDG_CACHE_HOME, never the user's: a test sees what the code computes, not a result an
    older version of it left."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A small valid territory: two issues, a few news items, two instances, two events."""
    base = tmp_path / "territoire"
    write(base, "comms.yaml", CONFIG)
    write(base, "calendars/instances.yaml", INSTANCES)
    write(base, "content/partners.csv", PARTNERS)
    write(base, "content/issues/2027-1.md", issue_file(1, "2027-02-15", "Hiver 2027"))
    write(base, "content/issues/2027-2.md", issue_file(2, "2027-06-15", "Printemps 2027"))
    write(base, "content/news/2027-01-10-a.md", news_file("Première", "2027-01-10"))
    write(base, "content/news/2027-02-01-b.md",
          news_file("Avancée CLS", "2027-02-01", "progress", "CLS"))
    write(base, "content/news/2027-03-01-c.md",
          news_file("Ressource", "2027-03-01", "resources", "commun"))
    write(base, "calendars/events/2027-03-copil.md",
          event_file("2027-03-18 14:00", "2027-03-18 16:30"))
    write(base, "calendars/events/2027-04-gt.md",
          event_file("2027-04-08 09:30", "2027-04-08 11:30", "gt-logement"))
    (base / "content/images").mkdir(parents=True)
    (base / "content/images/photo.png").write_bytes(PNG)
    return base


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the repository's sample territory, safe to modify."""
    dest = tmp_path / "sample"
    dest.mkdir()
    shutil.copy(REPO / "comms.yaml", dest / "comms.yaml")
    for folder in ("content", "calendars"):
        shutil.copytree(REPO / folder, dest / folder)
    return dest
