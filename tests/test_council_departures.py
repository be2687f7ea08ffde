"""A council member who stops an instance's invitations (suppression of scope
`instance:<id>`, recorded through the real token round trip) is named, with the instance and
the date, in `comms report` and in the next `comms check`, until the directory takes them
off the instance's lists; scopes appear in French words, never as `instance:copil`."""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from conftest import PARTNERS, write

from comms.cli import main
from comms.dates import format_day
from comms.send.journal import Journal
from comms.send.tokens import make_token
from comms.settings import load_settings

SECRET = "territoire-val-de-lisiere-secret-0123456789"
ANNE = "anne.durand@mairie.example.org"


def cli(*args: str):
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def leave(root: Path, email: str, scope: str) -> None:
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    secret = load_settings(root, environ={}).require_secret()  # bound to the territory
    link = f"https://sante.example.org/desinscription?t={make_token(secret, email, scope)}"
    result = cli("unsubscribe", "--token", link, "--root", str(root))
    assert result.exit_code == 0, result.output


def recorded_day(root: Path) -> str:
    with Journal.open(root) as journal:
        return journal.suppression(ANNE, "instance:copil").created_at[:10]


def test_check_names_the_member_the_instance_and_the_date(root: Path):
    assert "Comité de pilotage" not in cli("check", "--root", str(root)).output
    leave(root, ANNE, "instance:copil")
    day = recorded_day(root)
    result = cli("check", "--root", str(root))
    assert result.exit_code == 0, result.output  # a warning, not an error
    assert ("content/partners.csv:2: avertissement\u00a0: Anne Durand "
            f"({ANNE}) ne reçoit plus les invitations de «\u00a0Comité de pilotage\u00a0» "
            f"(désinscription du {format_day(date.fromisoformat(day))})") in result.output
    assert "trouvez qui la remplace" in result.output and "«\u00a0copil\u00a0»" in result.output
    assert "instance:copil" not in result.output
    # Paul unsubscribed from the newsletter only: nobody to replace.
    leave(root, "paul.roche@ars.example.org", "newsletter")
    assert "Paul Roche" not in cli("check", "--root", str(root)).output


def test_the_warning_stops_once_the_directory_is_updated(root: Path):
    leave(root, ANNE, "instance:copil")
    assert "Anne Durand" in cli("check", "--root", str(root)).output
    write(root, "content/partners.csv", PARTNERS.replace("newsletter|copil;2026", "newsletter;2026"))
    result = cli("check", "--root", str(root))
    assert result.exit_code == 0 and "Anne Durand" not in result.output


def test_report_lists_who_left_each_instance_in_french_words(root: Path, tmp_path: Path):
    leave(root, ANNE, "instance:copil")
    leave(root, "paul.roche@ars.example.org", "instance:gt-logement")
    year = recorded_day(root)[:4]
    table = tmp_path / "rapport.csv"
    result = cli("report", year, "--csv", str(table), "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "instance:" not in result.output
    with table.open(encoding="utf-8-sig") as handle:
        rows = {r["indicateur"]: r for r in csv.DictReader(handle, delimiter=";")}
    assert not any("instance:" in value for r in rows.values() for value in r.values())
    copil = rows["Membres qui ne reçoivent plus les invitations — Comité de pilotage"]
    assert copil["valeur"] == "1" and f"Anne Durand ({ANNE}) le " in copil["détail"]
    (logement,) = [r for label, r in rows.items() if label.startswith(
        "Membres qui ne reçoivent plus les invitations — Groupe de travail")]
    assert "Paul Roche" in logement["détail"] and "Anne" not in logement["détail"]
    assert rows["Désinscriptions — les invitations de «\u00a0Comité de pilotage\u00a0»"][
        "valeur"] == "1"
