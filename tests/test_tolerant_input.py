"""What coordinators naturally type is read the same way everywhere (news, events, command
options); only what is really ambiguous is refused, with the accepted forms in the message."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner
from conftest import write

from comms.cli import main
from comms.content import inspect


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def event(root, start: str, end: str, extra: str = "") -> None:
    write(root, "calendars/events/2027-03-x.md",
          f"---\ninstance: copil\nstart: {start}\nend: {end}\nlocation: Mairie\n{extra}---\nTexte.\n")


def the_event(root):
    project, problems = inspect(root)
    assert not [p for p in problems if p.is_error], [p.format(root) for p in problems]
    return project.event("2027-03-x")


@pytest.mark.parametrize(("start", "end"), [
    ("2027-03-18 14:00", "2027-03-18 16:30"),
    ("2027-03-18 14h", "2027-03-18 16h30"),
    ("2027-03-18 14 h", "2027-03-18 16 h 30"),
    ("18/03/2027 14:00", "18/03/2027 16:30"),
    ("18/03/2027 à 14h", "18/03/2027 à 16h30"),
    ("2027-03-18T14:00", "2027-03-18T16:30:00"),
    # The end as a time alone: the day of the start (unquoted 16:30 is not YAML's 990).
    ("18/03/2027 14h", "16:30"),
    ("18/03/2027 14h", "16h30"),
    ("2027-03-18 14:00", "16 h 30"),
    ("2027-03-18 14:00", "16.30"),
])
def test_times_and_dates_in_every_usual_form(root, start, end):
    event(root, start, end)
    found = the_event(root)
    assert found.start.replace(tzinfo=None) == datetime(2027, 3, 18, 14, 0)
    assert found.end.replace(tzinfo=None) == datetime(2027, 3, 18, 16, 30)


def test_a_time_alone_in_end_needs_a_time_in_start(root):
    event(root, "2027-03-18", "16:30")
    _, problems = inspect(root)
    found = [p.format(root) for p in problems if p.is_error]
    assert len(found) == 1, found
    assert "end\u00a0: une heure seule en «\u00a0end\u00a0» suppose une heure de début" \
        in found[0]


@pytest.mark.parametrize("written", ["annulé", "Annulée", "ANNULE", "cancelled"])
def test_status_in_french(root, written):
    event(root, "2027-03-18 14h", "2027-03-18 16h", f"status: {written}\n")
    assert the_event(root).cancelled


@pytest.mark.parametrize(("written", "key"), [
    ("Actualités", "news"), ("actualites", "news"), ("Avancée des travaux", "progress"),
    ("AVANCÉE DES TRAVAUX", "progress"), ("Ressources", "resources"), ("resources", "resources"),
])
def test_french_section_names_in_any_case(root, written, key):
    write(root, "content/news/2027-01-20-x.md",
          f"---\ntitle: X\ndate: 20/01/2027\ndispositif: ASV\nsection: {written}\n---\nTexte.\n")
    project, problems = inspect(root)
    assert not [p for p in problems if p.is_error], [p.format(root) for p in problems]
    (item,) = [n for n in project.news if n.id == "2027-01-20-x"]
    assert item.section == key


@pytest.mark.parametrize(("start", "words"), [
    ("18/03/27 14:00", "l’année manque ou n’a que deux chiffres"),
    ("18/03 14:00", "l’année manque"),
    ("2027-03-18 1430", "n’est pas une heure"),
    ("2027-03-18 25h", "l’heure « 25h » n’existe pas"),
])
def test_ambiguous_forms_are_refused_with_the_accepted_forms(root, start, words):
    event(root, start, "2027-03-18 16:00")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    text = result.output.replace("\u00a0", " ")
    line = next(x for x in text.splitlines() if x.startswith("calendars/events/2027-03-x.md:3: start"))
    assert words in line, line
    assert "2027-03-18" in line and ("14h30" in line or "18/03/2027" in line), line


def test_unknown_status_names_the_french_values(root):
    event(root, "2027-03-18 14h", "2027-03-18 16h", "status: reporté\n")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "« reporté » n’est pas un statut" in result.output.replace("\u00a0", " ")
    assert "annulé" in result.output


def test_command_options_take_the_same_forms(root):
    result = run("new", "event", "copil", "18/03/2027", "--start", "9h30", "--end", "11 h",
                 "--root", str(root))
    assert result.exit_code == 0, result.output
    text = (root / "calendars/events/2027-03-18-copil.md").read_text(encoding="utf-8")
    assert "start: 2027-03-18 09:30" in text and "end: 2027-03-18 11:00" in text
    result = run("new", "news", "Titre", "--date", "20/01/2027", "--section",
                 "Avancée des travaux", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "section: progress" in (root / "content/news/2027-01-20-titre.md").read_text(
        encoding="utf-8")
    refused = run("new", "event", "copil", "18/03/27", "--root", str(root))
    assert refused.exit_code != 0 and "l’année" in refused.output
