"""The content commands through the CLI runner: messages, exit codes, files written or not."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from pathlib import Path

import icalendar
from click.testing import CliRunner
from conftest import REPO, event_file, issue_file, news_file, write

from comms.cli import main


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_check_valid_root(root):
    result = run("check", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "Contenu valide" in result.output


def test_check_lists_every_problem_in_french_without_traceback(root):
    write(root, "content/news/2027-01-11-x.md",
          "---\ntitel: A\ndate: 2027-01-11\ndispositif: ASV\nsection: news\n---\n")
    write(root, "calendars/events/x.md", event_file("2027-03-18 14:00", "2027-03-18 13:00"))
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    out = result.output
    assert "content/news/2027-01-11-x.md:2: titel\u00a0: champ inconnu — vouliez-vous écrire « title »" in out
    assert "calendars/events/x.md:4: end\u00a0: la fin est avant le début" in out
    assert "Traceback" not in out
    assert re.search(r"\d+ erreurs, \d+ avertissements?\. Rien", out) and "(s)" not in out


def test_build_writes_all_outputs(root, tmp_path):
    out = tmp_path / "out"
    result = run("build", "2027-1", "--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    folder = out / "2027-1"
    for name in ("newsletter.mjml", "newsletter.html", "newsletter.txt", "index.html",
                 "newsletter.eml"):
        assert (folder / name).is_file(), name
    message = email.message_from_bytes((folder / "newsletter.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    calendars = sorted((folder / "agenda").glob("*.ics"))
    assert [c.stem for c in calendars] == ["2027-03-copil", "2027-04-gt"]
    for path in calendars:
        cal = icalendar.Calendar.from_ical(path.read_bytes())
        assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert (out / "calendars" / "agenda.ics").is_file()


def test_build_defaults_to_upcoming_issue(root, tmp_path):
    out = tmp_path / "out"
    result = run("build", "--root", str(root), "--out", str(out), "--today", "2027-03-01")
    assert result.exit_code == 0, result.output
    assert (out / "2027-2").is_dir() and not (out / "2027-1").exists()
    result = run("build", "--root", str(root), "--out", str(out), "--today", "2030-01-01")
    assert (out / "2027-2" / "newsletter.html").is_file()  # none upcoming: the latest


def test_failed_build_leaves_previous_output_untouched(root, tmp_path):
    out = tmp_path / "out"
    assert run("build", "2027-1", "--root", str(root), "--out", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in (out / "2027-1").rglob("*") if p.is_file()}
    write(root, "content/news/2027-01-12-y.md", news_file("Nouvelle", "2027-01-12"))
    write(root, "calendars/events/x.md", event_file("2027-03-28 02:30", "2027-03-28 04:00"))
    result = run("build", "2027-1", "--root", str(root), "--out", str(out))
    assert result.exit_code == 1
    assert "x.md:3: start" in result.output
    after = {p: p.read_bytes() for p in (out / "2027-1").rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in out.iterdir()) == ["2027-1", "calendars"]


def test_build_unknown_issue(root, tmp_path):
    result = run("build", "2031-1", "--root", str(root), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "2027-1, 2027-2" in result.output


def test_build_all_writes_archive_index(root, tmp_path):
    out = tmp_path / "out"
    result = run("build", "--all", "--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "2027-1/" in index and "2027-2/" in index


def test_new_news_and_event_create_valid_files(root):
    result = run("new", "news", "Café des aidants : rentrée !", "--date", "2027-01-15",
                 "--dispositif", "CLSM", "--root", str(root))
    assert result.exit_code == 0, result.output
    path = root / "content/news/2027-01-15-cafe-des-aidants-rentree.md"
    assert path.is_file()
    result = run("new", "event", "copil", "2027-05-06", "--root", str(root))
    assert result.exit_code == 0, result.output
    event_path = root / "calendars/events/2027-05-06-copil.md"
    text = event_path.read_text(encoding="utf-8")
    assert "start: 2027-05-06 14:00" in text
    text = text.replace('location: ""', "location: Mairie")
    event_path.write_text(text, encoding="utf-8")
    assert run("check", "--root", str(root)).exit_code == 0
    again = run("new", "news", "Café des aidants : rentrée !", "--date", "2027-01-15",
                "--root", str(root))
    assert again.exit_code == 1 and "existe déjà" in again.output
    bad = run("new", "event", "coppil", "2027-05-06", "--root", str(root))
    assert bad.exit_code == 1 and "copil" in bad.output


def test_plan_creates_missing_issues_only(root):
    original = (root / "content/issues/2027-1.md").read_text(encoding="utf-8")
    result = run("plan", "2028", "--root", str(root))
    assert result.exit_code == 0, result.output
    created = sorted(p.name for p in (root / "content/issues").glob("2028-*.md"))
    assert created == ["2028-1.md", "2028-2.md", "2028-3.md"]
    assert "publish_on: 2028-06-15" in (root / "content/issues/2028-2.md").read_text("utf-8")
    result = run("plan", "2027", "--root", str(root))
    assert "2027-3.md" in result.output and "Existe déjà" in result.output
    assert (root / "content/issues/2027-1.md").read_text(encoding="utf-8") == original
    assert run("check", "--root", str(root)).exit_code == 0


def test_status_counts_against_the_roadmap(root, tmp_path):
    out = tmp_path / "out"
    run("build", "2027-1", "--root", str(root), "--out", str(out))
    result = run("status", "2027", "--root", str(root), "--out", str(out), "--today",
                 "2027-07-01")
    assert result.exit_code == 0, result.output
    assert "2027\u00a0: 2 prévues, 1 construite, 0 publiée — " in result.output
    assert "3 par an" in result.output


def test_status_defaults_to_the_year_being_prepared(root, tmp_path):
    write(root, "content/issues/2028-1.md", issue_file(1, "2028-02-15"))
    out = tmp_path / "out"
    # After the last issue of 2027: the year being prepared is 2028.
    result = run("status", "--root", str(root), "--out", str(out), "--today", "2027-07-01")
    assert result.exit_code == 0, result.output
    assert "2028\u00a0: 1 prévue, 0 construite, 0 publiée" in result.output
    result = run("status", "--root", str(root), "--out", str(out), "--today", "2027-01-05")
    assert "2027\u00a0: 2 prévues" in result.output


def test_root_from_environment(root):
    result = CliRunner().invoke(main, ["check"], env={"COMMS_ROOT": str(root)})
    assert result.exit_code == 0, result.output


def test_module_entry_point_runs_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "comms", "check", "--root", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "comms.yaml" in done.stderr and "Traceback" not in done.stderr


def test_sample_content_is_valid():
    result = run("check", "--root", str(Path(REPO)))
    assert result.exit_code == 0, result.output


def test_check_warns_about_vague_links_and_light_colour(root):
    write(root, "content/news/2027-01-11-x.md",
          news_file("Lien", "2027-01-11", body="Le programme : [cliquez ici](https://example.org/p)."))
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("#1f5f7a", "#9fd3e6"),
                      encoding="utf-8")
    result = run("check", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "2027-01-11-x.md: avertissement\u00a0: le texte de lien « cliquez ici »" in result.output
    assert "comms.yaml: avertissement\u00a0: brand.color\u00a0: " in result.output
    assert re.search(r"\d+ avertissements\.\n", result.output)


def test_check_reports_directory_errors_with_line(root):
    path = root / "content/partners.csv"
    path.write_text(path.read_text(encoding="utf-8") + "pas-une-adresse;X;Y;Z;R;newsletter;;\n",
                    encoding="utf-8")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "content/partners.csv:4: email" in result.output


def test_check_reports_an_audience_nobody_belongs_to(root):
    path = root / "calendars/instances.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "audience: [gt-logement]", "audience: [gt-logement, gt-nouveau]"), encoding="utf-8")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert ("calendars/instances.yaml:9: gt-logement.audience\u00a0: la liste «\u00a0gt-nouveau"
            "\u00a0» n’a aucun membre") in result.output


def test_check_catches_a_misspelt_audience_through_the_directory(root):
    path = root / "calendars/instances.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "audience: [gt-logement]", "audience: [gt-logemant]"), encoding="utf-8")
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "content/partners.csv:3: lists\u00a0: liste « gt-logement » inconnue" in result.output


def test_issue_too_heavy_for_gmail_fails_check_and_build(root, tmp_path):
    paragraph = "Un paragraphe de compte rendu détaillé, bien trop long pour une lettre. " * 20
    body = "\n\n".join([paragraph] * 80)
    write(root, "content/news/2027-01-12-long.md", news_file("Compte rendu", "2027-01-12",
                                                             body=body))
    result = run("check", "--root", str(root))
    assert result.exit_code == 1
    assert "content/issues/2027-1.md: la lettre 2027-1 pèse" in result.output
    assert "2027-01-12-long" in result.output  # names the heaviest item
    out = tmp_path / "out"
    result = run("build", "2027-1", "--root", str(root), "--out", str(out))
    assert result.exit_code == 1 and not (out / "2027-1").exists()


def test_unwritable_output_is_a_french_message(root, tmp_path):
    blocker = tmp_path / "fichier"
    blocker.write_text("pas un dossier", encoding="utf-8")
    result = run("build", "2027-1", "--root", str(root), "--out", str(blocker / "sortie"))
    assert result.exit_code == 1
    assert "Opération impossible" in result.output and "Traceback" not in result.output
