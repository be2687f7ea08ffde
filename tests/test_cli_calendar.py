"""The calendar commands through the CLI: `comms calendar`, the errors of `comms invite` and
`comms due`, their help, and the start-up cost they add to every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import icalendar
from conftest import write
from icaljs import parse_with_icaljs
from test_invitations import cli

NBSP = "\u00a0"


def test_calendar_writes_the_feeds_and_prints_their_addresses(root, tmp_path):
    out = tmp_path / "site"
    result = cli("calendar", "--out", str(out), "--root", str(root))
    assert result.exit_code == 0, result.output
    folder = out / "calendars"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["agenda.ics", "asv.ics", "cls.ics", "clsm.ics", "copil.ics",
                     "gt-logement.ics"]
    assert f"fichier{NBSP}: {folder / 'agenda.ics'}" in result.output
    assert f"adresse{NBSP}: https://sante.example.org/lettre/calendars/agenda.ics" in \
        result.output
    assert "Comité de pilotage — Val-de-Lisière (1 évènement)" in result.output
    for path in folder.iterdir():
        data = path.read_bytes()
        cal = icalendar.Calendar.from_ical(data)
        assert cal["METHOD"] == "PUBLISH"
        assert b"ATTENDEE" not in data and b"mailto:" not in data
    seen = parse_with_icaljs(folder / "agenda.ics")
    assert sorted(e["uid"] for e in seen["events"]) == [
        "2027-03-copil@sante.example.org", "2027-04-gt@sante.example.org"]


def test_calendar_defaults_to_root_build(root):
    result = cli("calendar", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert (root / "build" / "calendars" / "agenda.ics").is_file()


def test_calendar_refuses_content_with_errors(root):
    write(root, "calendars/events/2027-05-bad.md",
          "---\ninstance: copli\nstart: 2027-05-10 14:00\nend: 2027-05-10 12:00\n"
          "location: Mairie\n---\nTexte.\n")
    result = cli("calendar", "--root", str(root))
    assert result.exit_code == 1
    assert "2027-05-bad.md:2: instance" in result.output
    assert "vouliez-vous écrire «" in result.output
    assert not (root / "build").exists()


def test_invite_names_an_unknown_event(root):
    write(root, ".env", "COMMS_UNSUBSCRIBE_SECRET=test-secret-0123456789abcdef\n")
    result = cli("invite", "2027-03-copl", "--root", str(root))
    assert result.exit_code == 1
    assert "L’évènement «\u00a02027-03-copl\u00a0» n’existe pas" in result.output
    assert "vouliez-vous écrire «\u00a02027-03-copil\u00a0»" in result.output


def test_invite_accepts_a_file_path_and_refuses_bad_content(root):
    result = cli("invite", "calendars/events/2027-03-copil.md", "--root", str(root),
                 "--today", "2027-01-10")
    assert result.exit_code == 0, result.output
    assert "(2027-03-copil)" in result.output and "(2027-04-gt)" not in result.output
    write(root, "calendars/events/2027-05-bad.md",
          "---\ninstance: copil\nstart: 2027-05-10 14:00\nend: 2027-05-10 12:00\n"
          "location: Mairie\n---\nTexte.\n")
    result = cli("invite", "--confirm", "--root", str(root), "--today", "2027-01-10")
    assert result.exit_code == 1
    assert "2027-05-bad.md:4: end\u00a0: la fin est avant le début" in result.output
    assert "Rien n’a été envoyé" in result.output
    assert not (root / "var" / "outbox").exists()


def test_invite_refuses_an_organizer_who_is_not_a_coordinator(root):
    write(root, "calendars/instances.yaml",
          (root / "calendars/instances.yaml").read_text(encoding="utf-8")
          .replace("organizer: karim.benali@sante.example.org",
                   "organizer: quelqu.un@ailleurs.example.org"))
    result = cli("invite", "--confirm", "--root", str(root), "--today", "2027-01-10")
    assert result.exit_code == 1
    assert "calendars/instances.yaml:10: gt-logement.organizer" in result.output
    assert "n’est pas une coordinatrice ou un coordinateur" in result.output
    assert not (root / "var" / "outbox").exists()


def test_invite_confirm_without_a_secret_generates_one_in_var(root):
    (root / ".env").unlink(missing_ok=True)
    result = cli("invite", "--confirm", "--root", str(root), "--today", "2027-01-10",
                 env={"COMMS_UNSUBSCRIBE_SECRET": ""})
    assert result.exit_code == 0, result.output
    stored = root / "var" / "unsubscribe-secret"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert stored.read_text().strip() not in result.output


def test_due_checks_its_options(root):
    result = cli("due", "--date", "2027-02-30", "--root", str(root))
    assert result.exit_code == 2 and "--date" in result.output
    result = cli("due", "--confirm", "--root", str(root))
    assert result.exit_code == 2


def test_help_of_each_command_is_french_and_documented():
    guide = (Path(__file__).parent.parent / "docs" / "redaction.md").read_text(encoding="utf-8")
    for command in ("calendar", "invite", "due"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Utilisation" in result.output
        assert f"comms {command}" in guide
    assert "--today" not in cli("invite", "--help").output  # hidden: for tests


def test_the_calendar_commands_import_nothing_heavy():
    code = ("import sys, comms.commands.calendar; "
            "print(sorted(m for m in ('icalendar', 'mjml', 'rich', 'requests', "
            "'comms.invitations.plan', 'comms.send.campaign') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
