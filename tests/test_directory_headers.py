"""Directory headers: the usual French spellings are accepted, a directory whose unsubscribe
column is not recognised blocks every send (case `unsubscribe-column-header`), and a
look-alike header is never silently mapped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_runner import cli

from comms.directory import COLUMNS, load_directory

CASE = Path("/work/shared/cases/unsubscribe-column-header/partners.csv")
REPO = Path(__file__).resolve().parent.parent
CASE_BYTES = CASE.read_bytes() if CASE.is_file() else None
UNSUBSCRIBED = 2  # partners of the case file with a date in « Désinscrit(e) le »



def case_bytes() -> bytes:
    if CASE_BYTES is not None:
        return CASE_BYTES
    # The case as handed over: the sample directory saved by French Excel (Windows-1252,
    # `;`, CRLF, French headers).
    text = (REPO / "content" / "partners.csv").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    lines[0] = ("Adresse mail;Prénom;Nom;Organisme;Fonction;Listes;Date de consentement;"
                "Désinscrit(e) le")
    return "\r\n".join(lines).encode("cp1252") + b"\r\n"


@pytest.fixture
def excel_sample(sample: Path) -> Path:
    (sample / "content" / "partners.csv").write_bytes(case_bytes())
    return sample


def outbox(root: Path) -> list[Path]:
    folder = root / "var" / "outbox" / "new"
    return list(folder.iterdir()) if folder.is_dir() else []


def test_the_case_file_is_read_with_its_french_headers(excel_sample):
    directory = load_directory(excel_sample / "content" / "partners.csv")
    unsubscribed = [p for p in directory.partners if p.unsubscribed_on is not None]
    assert len(unsubscribed) == UNSUBSCRIBED
    assert all(p.first_name for p in directory.partners[:3])
    assert not [w for w in directory.warnings if "inconnue" in w.message]
    result = cli("send", "2027-1", "--root", str(excel_sample))
    assert result.exit_code == 0, result.output
    assert re.search(r"écartés?\u00a0: .*2 désinscrits dans l’annuaire", result.output)


@pytest.mark.parametrize("header", ["Date d'inscription", "Désinscrit(e) depuis", "Statut"])
def test_an_unrecognised_unsubscribe_column_blocks_every_send(excel_sample, header):
    path = excel_sample / "content" / "partners.csv"
    data = path.read_bytes()
    first, rest = data.split(b"\r\n", 1)
    path.write_bytes(first.replace("Désinscrit(e) le".encode("cp1252"),
                                   header.encode("cp1252")) + b"\r\n" + rest)
    check = cli("check", "--root", str(excel_sample))
    assert check.exit_code == 1
    assert "partners.csv:1: unsubscribed_on" in check.output
    assert f"« {header} »" in check.output  # the header that was not taken
    assert "« désinscrit(e) le »" in check.output and "« date de désinscription »" in \
        check.output  # the accepted spellings
    for args in (("send", "2027-1", "--confirm"),
                 ("invite", "--confirm", "--today", "2027-01-10"),
                 ("due", "--run", "--confirm", "--date", "2027-02-15")):
        result = cli(*args, "--root", str(excel_sample))
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output
    assert outbox(excel_sample) == []


def test_look_alike_headers_are_never_mapped(tmp_path):
    path = tmp_path / "partners.csv"
    path.write_text("Adresse mail;Listes;Date d'inscription;Désinscrit le\n"
                    "a@b.example.org;newsletter;2026-01-01;\n", encoding="utf-8")
    directory = load_directory(path)
    (partner,) = directory.partners
    assert partner.consent_on is None and partner.unsubscribed_on is None
    (warning,) = directory.warnings
    assert warning.field == "Date d'inscription" and "inconnue" in warning.message


def test_every_accepted_spelling_is_listed_in_the_guide():
    guide = (REPO / "docs" / "redaction.md").read_text(encoding="utf-8")
    for column, aliases in COLUMNS.items():
        for alias in aliases:
            assert f"`{alias}`" in guide, (column, alias)


@pytest.mark.parametrize("column,aliases", list(COLUMNS.items()))
def test_every_accepted_spelling_is_read(tmp_path, column, aliases):
    base = {"email": "email", "lists": "lists", "unsubscribed_on": "unsubscribed_on"}
    for alias in aliases:
        headers = {**base, column: alias}
        values = {"email": "a@b.example.org", "lists": "newsletter",
                  "unsubscribed_on": "2026-05-02", "first_name": "Anne",
                  "last_name": "Durand", "organisation": "Mairie", "role": "Maire",
                  "consent_on": "2026-01-10"}
        path = tmp_path / "p.csv"
        path.write_text(";".join(headers.values()) + "\n"
                        + ";".join(values[c] for c in headers) + "\n", encoding="utf-8")
        (partner,) = load_directory(path).partners
        got = getattr(partner, column)
        assert str(got if not isinstance(got, frozenset) else ",".join(got)) == values[column] \
            or str(got) == values[column], (alias, got)


@pytest.mark.parametrize("kind", ["utf-16", "binary"])
def test_utf16_or_binary_files_get_a_french_error_not_bytes(excel_sample, kind):
    path = excel_sample / "content" / "partners.csv"
    text = case_bytes().decode("cp1252")
    path.write_bytes(text.encode("utf-16") if kind == "utf-16"
                     else b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    result = cli("check", "--root", str(excel_sample))
    assert result.exit_code == 1
    assert "partners.csv" in result.output
    assert ("Texte Unicode" if kind == "utf-16" else "n’est pas un texte CSV") in result.output
    assert "CSV UTF-8" in result.output
    assert "\x00" not in result.output and "Traceback" not in result.output
    send = cli("send", "2027-1", "--confirm", "--root", str(excel_sample))
    assert send.exit_code == 1 and outbox(excel_sample) == []
