"""`comms init` through the CLI runner: a new territory that `check` accepts and `build` builds."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.cli import main
from comms.commands import content as content_commands
from comms.directory import load_directory


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_init_then_check_passes_and_build_produces_an_issue(tmp_path):
    root = tmp_path / "nouveau"
    result = run("init", str(root), "--today", "2027-01-05")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for name in ("comms.yaml", "calendars/instances.yaml", "content/partners.csv", ".gitignore",
                 ".env", "content/issues/2027-1.md"):
        assert (root / name).is_file(), name
    assert len(list((root / "content/news").glob("*.md"))) == 1
    assert len(list((root / "calendars/events").glob("*.md"))) == 1

    check = run("check", "--root", str(root))
    assert check.exit_code == 0, check.output
    assert "Contenu valide" in check.output
    # The example values are pointed out, line by line, without blocking anything.
    assert "comms.yaml:7: avertissement\u00a0: territory\u00a0: valeur d’exemple «\u00a0Mon " \
        "territoire\u00a0» laissée par comms init" in check.output
    # Nested fields are named as written in comms.yaml, with their parents.
    for field in ("sender.email", "coordinators[2].name", "unsubscribe.url"):
        assert f"avertissement\u00a0: {field}\u00a0: valeur d’exemple" in check.output, field
    assert "le texte d’exemple «\u00a0Votre éditorial ici\u00a0» est encore là" in check.output

    out = tmp_path / "out"
    build = run("build", "--root", str(root), "--out", str(out), "--today", "2027-01-05")
    assert build.exit_code == 0, build.output
    html = (out / "2027-1" / "newsletter.html").read_text(encoding="utf-8")
    assert "Bienvenue dans la lettre commune" in html
    assert list((out / "2027-1" / "agenda").glob("*.ics"))


def test_init_writes_the_usual_instances_secret_and_gitignore(tmp_path):
    root = tmp_path / "t"
    assert run("init", str(root)).exit_code == 0
    instances = (root / "calendars/instances.yaml").read_text(encoding="utf-8")
    for name in ("Comité de pilotage", "Comité technique", "Assemblée plénière",
                 "Groupe de travail", "Journée interprofessionnelle", "save_the_date"):
        assert name in instances
    ignored = (root / ".gitignore").read_text(encoding="utf-8").split()
    assert {"var/", "build/", ".env"} <= set(ignored)
    env = (root / ".env").read_text(encoding="utf-8")
    secret = next(line.split("=", 1)[1] for line in env.splitlines()
                  if line.startswith("COMMS_UNSUBSCRIBE_SECRET="))
    assert len(secret) >= 32
    assert stat.S_IMODE((root / ".env").stat().st_mode) == 0o600
    # A second territory gets another secret.
    other = tmp_path / "u"
    assert run("init", str(other)).exit_code == 0
    assert secret not in (other / ".env").read_text(encoding="utf-8")


def test_init_completes_an_existing_gitignore_and_env(tmp_path):
    """A folder already under git (its .gitignore) or holding another tool's .env: init adds
    what comms needs and keeps every line that was there."""
    root = tmp_path / "t"
    root.mkdir()
    (root / ".gitignore").write_text("node_modules/\nbuild\n", encoding="utf-8")
    (root / ".env").write_text("AUTRE_OUTIL=1", encoding="utf-8")  # no final newline
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    assert f"Complété\u00a0: {root / '.gitignore'}" in result.output
    assert f"Complété\u00a0: {root / '.env'}" in result.output
    ignored = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ignored[:2] == ["node_modules/", "build"]
    assert {"var/", ".env"} <= set(ignored) and "build/" not in ignored  # `build` covers it
    env = (root / ".env").read_text(encoding="utf-8").splitlines()
    assert env[0] == "AUTRE_OUTIL=1"
    assert sum(line.startswith("COMMS_UNSUBSCRIBE_SECRET=") for line in env) == 1
    assert stat.S_IMODE((root / ".env").stat().st_mode) == 0o600
    check = run("check", "--root", str(root))
    assert check.exit_code == 0, check.output


def test_init_keeps_an_env_that_already_has_a_secret(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    kept = "COMMS_UNSUBSCRIBE_SECRET=un-secret-deja-choisi-et-assez-long\n"
    (root / ".env").write_text(kept, encoding="utf-8")
    (root / ".gitignore").write_text("var/\nbuild/\n.env\n", encoding="utf-8")
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    assert (root / ".env").read_text(encoding="utf-8") == kept
    assert (root / ".gitignore").read_text(encoding="utf-8") == "var/\nbuild/\n.env\n"
    assert "Complété" not in result.output  # nothing was missing: neither file is listed


@pytest.mark.parametrize("line", ["COMMS_UNSUBSCRIBE_SECRET = un-secret-deja-choisi",
                                  "export  COMMS_UNSUBSCRIBE_SECRET='un-secret-deja-choisi'",
                                  "\tCOMMS_UNSUBSCRIBE_SECRET=un-secret-deja-choisi"])
def test_init_keeps_a_secret_written_the_other_ways_dotenv_reads(tmp_path, line):
    """However .env spells the setting (spaces around « = », `export`), the secret it holds
    stays the one the territory reads: init adds no second one that would win over it."""
    root = tmp_path / "t"
    root.mkdir()
    kept = line + "\nAUTRE_OUTIL=1\n"
    (root / ".env").write_text(kept, encoding="utf-8")
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    assert (root / ".env").read_text(encoding="utf-8") == kept
    from comms.settings import load_settings

    assert load_settings(root, environ={}).unsubscribe_secret == "un-secret-deja-choisi"


def test_init_refuses_a_folder_named_like_a_file_it_completes(tmp_path):
    root = tmp_path / "t"
    (root / ".env").mkdir(parents=True)
    result = run("init", str(root))
    assert result.exit_code == 1
    assert "existe déjà" in result.output
    assert not (root / "comms.yaml").exists()


def test_init_partners_header_is_what_french_excel_writes(tmp_path):
    root = tmp_path / "t"
    run("init", str(root))
    raw = (root / "content/partners.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens accents right
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert header[:3] == ["Courriel", "Prénom", "Nom"]
    assert "Désinscrit le" in header
    directory = load_directory(root / "content/partners.csv")
    assert [p.email for p in directory.partners] == ["prenom.nom@example.org"]


def test_init_with_options_uses_the_territory_with_its_article(tmp_path):
    root = tmp_path / "bugey"
    result = run("init", str(root), "--territory", "Haut-Bugey", "--territory-of",
                 "du Haut-Bugey", "--coordinator", "Claire Martin <claire@bugey.example.fr>",
                 "--coordinator", "Karim Benali <karim@bugey.example.fr>",
                 "--sender-email", "lettre@bugey.example.fr",
                 "--web-base-url", "https://bugey.example.fr/lettre/", "--today", "2027-01-05")
    assert result.exit_code == 0, result.output
    config = (root / "comms.yaml").read_text(encoding="utf-8")
    assert 'territory_of: "du Haut-Bugey"' in config
    assert "claire@bugey.example.fr" in config
    check = run("check", "--root", str(root))
    assert check.exit_code == 0
    assert "Mon territoire" not in check.output and "Prénom Nom" not in check.output
    out = tmp_path / "out"
    assert run("build", "--root", str(root), "--out", str(out), "--today",
               "2027-01-05").exit_code == 0
    html = (out / "2027-1" / "newsletter.html").read_text(encoding="utf-8")
    text = (out / "2027-1" / "newsletter.txt").read_text(encoding="utf-8")
    assert "santé mentale du Haut-Bugey" in html
    assert "sur le territoire du Haut-Bugey" in text
    assert "Agenda santé du Haut-Bugey" in html
    assert "de Haut-Bugey" not in html and "de Haut-Bugey" not in text
    assert "La Lettre santé du Haut-Bugey" in html


def test_territory_elision_by_default(tmp_path):
    root = tmp_path / "o"
    assert run("init", str(root), "--territory", "Oyonnax").exit_code == 0
    assert 'territory_of: "d’Oyonnax"' in (root / "comms.yaml").read_text(encoding="utf-8")


def test_init_refuses_a_territory_of_without_de_and_writes_nothing(tmp_path):
    root = tmp_path / "x"
    result = run("init", str(root), "--territory", "Lyon", "--territory-of", "Lyon")
    assert result.exit_code == 2
    assert "ne commence pas par « de »" in result.output.replace("\u00a0", " ")
    assert not root.exists()


def test_init_refuses_an_existing_territory_and_changes_nothing(tmp_path):
    root = tmp_path / "t"
    run("init", str(root))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    result = run("init", str(root))
    assert result.exit_code == 1
    assert "existe déjà" in result.output and "rien n’a été modifié" in result.output
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_init_asks_questions_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(content_commands, "interactive", lambda: True)
    root = tmp_path / "q"
    answers = "\n".join(["Haut-Bugey", "du Haut-Bugey", "Claire Martin", "pas-une-adresse",
                         "claire@bugey.example.fr", "Karim Benali", "karim@bugey.example.fr",
                         "lettre@bugey.example.fr", "https://bugey.example.fr/lettre/"]) + "\n"
    result = run("init", str(root), input=answers)
    assert result.exit_code == 0, result.output
    assert "Nom du territoire" in result.output
    assert "n’est pas une adresse électronique valide" in result.output  # asked again
    config = (root / "comms.yaml").read_text(encoding="utf-8")
    assert "claire@bugey.example.fr" in config and "Claire Martin" in config
    assert run("check", "--root", str(root)).exit_code == 0


def test_init_questions_read_answers_as_coordinators_type_them(tmp_path, monkeypatch):
    """A « de » without preposition is asked again (check would refuse it), a name given with
    its address fills both, and the questions and errors are French."""
    monkeypatch.setattr(content_commands, "interactive", lambda: True)
    root = tmp_path / "q"
    answers = "\n".join(["Haut-Bugey", "Haut-Bugey", "du Haut-Bugey",
                         "Claire Martin <claire@bugey.example.fr>",
                         "Karim Benali", "karim@bugey.example.fr",
                         "lettre@bugey.example.fr", "https://bugey.example.fr/lettre/"]) + "\n"
    result = run("init", str(root), input=answers)
    assert result.exit_code == 0, result.output
    assert "Nom du territoire [Mon territoire]\u00a0: " in result.output
    assert "Erreur\u00a0: «\u00a0Haut-Bugey\u00a0» ne commence pas par" in result.output
    assert "Error" not in result.output
    config = (root / "comms.yaml").read_text(encoding="utf-8")
    assert 'territory_of: "du Haut-Bugey"' in config
    assert 'name: "Claire Martin"' in config and "email: claire@bugey.example.fr" in config
    assert "<" not in config
    assert run("check", "--root", str(root)).exit_code == 0


def test_new_outside_a_territory_points_to_init(tmp_path):
    for args in (["new", "news", "Titre"], ["new", "event", "copil", "2027-03-18"],
                 ["plan", "2027"]):
        result = run(*args, "--root", str(tmp_path))
        assert result.exit_code == 1, args
        assert "comms init" in result.output, args
        assert "Traceback" not in result.output
    assert list(Path(tmp_path).iterdir()) == []


def test_send_points_out_example_text_left_in_the_issue(tmp_path):
    """The dry run of `send` repeats check's warning about « Votre éditorial ici »."""
    from cli_runner import cli

    root = tmp_path / "t"
    assert run("init", str(root), "--today", "2027-01-05").exit_code == 0
    result = cli("send", "2027-1", "--root", str(root))
    assert result.exit_code == 0, result.output
    output = result.output.replace("\u00a0", " ")
    assert "content/issues/2027-1.md:7: avertissement : le texte d’exemple « Votre éditorial " \
        "ici » est encore là" in output, output
    assert "Simulation" in output


@pytest.mark.parametrize(("option", "value"), [
    ("--territory", "Lyon\nX"), ("--territory", "   "), ("--sender-name", "Coordination\rX"),
    ("--coordinator", "Claire\nMartin <claire@bugey.example.fr>"),
])
def test_init_refuses_a_name_that_would_break_comms_yaml(tmp_path, option, value):
    root = tmp_path / "t"
    result = run("init", str(root), option, value)
    assert result.exit_code == 2, result.output
    assert f"valeur invalide pour «\u00a0{option}\u00a0»" in result.output, result.output
    assert not root.exists()  # nothing written on error


def test_init_wants_an_https_web_address(tmp_path):
    """The unsubscribe page is written on the same site and must be https (check refuses
    http): an http address is refused at once, nothing written."""
    root = tmp_path / "t"
    result = run("init", str(root), "--web-base-url", "http://sante.example.fr/lettre/")
    assert result.exit_code == 2, result.output
    assert "n’est pas une adresse https" in result.output
    assert not root.exists()
    result = run("init", str(root), "--web-base-url", "https://sante.example.fr/lettre/")
    assert result.exit_code == 0, result.output
    assert run("check", "--root", str(root)).exit_code == 0


def test_new_event_names_the_date_argument_it_refuses(tmp_path):
    root = tmp_path / "t"
    assert run("init", str(root)).exit_code == 0
    result = run("new", "event", "copil", "18/03/27", "--root", str(root))
    assert result.exit_code == 2, result.output
    assert "valeur invalide pour «\u00a0DATE\u00a0»\u00a0: «\u00a018/03/27\u00a0»" \
        in result.output, result.output


@pytest.mark.parametrize("value", ["Claire", "Claire Martin <pas-une-adresse>"])
def test_a_refused_coordinator_option_is_named(tmp_path, value):
    result = run("init", str(tmp_path / "t"), "--coordinator", value)
    assert result.exit_code == 2, result.output
    assert "valeur invalide pour «\u00a0--coordinator\u00a0»" in result.output, result.output
