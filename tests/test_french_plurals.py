"""Plurals and agreement follow the French rule (CLDR, through babel): 0 and 1 singular."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import news_file, write

from comms.cli import main
from comms.french import agree, count, plural_of

NB = "\u00a0"


@pytest.mark.parametrize(("n", "expected"), [
    (0, "0 destinataire"), (1, "1 destinataire"), (2, "2 destinataires"),
    (1_000_000, "1000000 destinataires"),
])
def test_count(n, expected):
    assert count(n, "destinataire") == expected


@pytest.mark.parametrize(("n", "expected"), [(0, "0 désinscrit"), (1, "1 désinscrit"),
                                             (2, "2 désinscrits")])
def test_agreement_of_a_participle(n, expected):
    assert count(n, "désinscrit") == expected


def test_phrases_agree_word_by_word_or_from_the_table():
    assert count(2, "lettre construite") == "2 lettres construites"
    assert count(2, "déjà envoyé") == "2 déjà envoyés"
    assert count(2, "déjà remis dans var/outbox") == "2 déjà remis dans var/outbox"
    assert count(3, "inscrit sur la liste") == "3 inscrits sur la liste"
    assert count(2, "n’a pas accepté l’invitation") == "2 n’ont pas accepté l’invitation"
    assert count(2, "adresse en double") == "2 adresses en double"
    assert plural_of("message interrompu") == "messages interrompus"
    assert count(1, "annonce prévue") == "1 annonce prévue"
    assert agree(0, "prévue") == "prévue" and agree(2, "prévue") == "prévues"


def test_check_summary_for_zero_one_and_two(root):
    def summary() -> str:
        result = CliRunner().invoke(main, ["check", "--root", str(root)], catch_exceptions=False)
        return result.output.strip().splitlines()[-1]

    line = summary()
    assert line.startswith(f"Contenu valide{NB}: 2 lettres, 3 actualités, 2 évènements"), line
    for name in list((root / "content/news").glob("*.md"))[1:]:
        name.unlink()
    (root / "content/issues/2027-2.md").unlink()
    for event in list((root / "calendars/events").glob("*.md"))[1:]:
        event.unlink()
    line = summary()
    assert line.startswith(f"Contenu valide{NB}: 1 lettre, 1 actualité, 1 évènement"), line
    assert "(s)" not in line
    write(root, "content/news/2027-01-11-x.md", news_file("X", "2027-01-11", section="nulle"))
    result = CliRunner().invoke(main, ["check", "--root", str(root)])
    assert "1 erreur," in result.output and "(s)" not in result.output


def test_status_agrees_with_each_figure(root, tmp_path):
    result = CliRunner().invoke(main, ["status", "2027", "--root", str(root), "--out",
                                       str(tmp_path / "o"), "--today", "2027-01-01"])
    assert f"2027{NB}: 2 prévues, 0 construite, 0 publiée" in result.output
