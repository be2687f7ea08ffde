"""The partners directory kept in Excel: real `.xlsx` workbooks written with openpyxl, read
through `comms check` and the dry run of `comms send` with the same validation, header
spellings and line numbers as the CSV export; merged cells, several sheets with data and a
workbook that cannot be read get a French error naming the file, and nothing is sent."""

from __future__ import annotations

import csv
import os
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from comms.cli import main

FRENCH = ["Adresse mail", "Prénom", "Nom", "Organisme", "Fonction", "Listes",
          "Date de consentement", "Désinscrit(e) le"]


def cli(root: Path, *args: str):
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    env["COMMS_PARTNERS"] = "content/partners.xlsx"
    return CliRunner().invoke(main, [*args, "--root", str(root)], env=env,
                              catch_exceptions=False)


def sample_rows(root: Path) -> list[list[str]]:
    text = (root / "content" / "partners.csv").read_text(encoding="utf-8-sig")
    return list(csv.reader(text.splitlines(), delimiter=";"))


def as_cell(value: str) -> object:
    """Dates as Excel keeps them (real date cells), the rest as typed."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.fromisoformat(value)
    return value or None


def workbook(root: Path, rows: list[list[str]]) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = "Partenaires"
    sheet.append(FRENCH)
    for row in rows[1:]:
        sheet.append([as_cell(v) for v in row])
    return book


def save(root: Path, book: Workbook) -> Path:
    path = root / "content" / "partners.xlsx"
    book.save(path)
    (root / "content" / "partners.csv").unlink(missing_ok=True)
    return path


def outbox(root: Path) -> list[Path]:
    folder = root / "var" / "outbox" / "new"
    return list(folder.iterdir()) if folder.is_dir() else []


def recipients(output: str) -> str:
    match = re.search(r"\d+ destinataires?\b", output)
    assert match, output
    return match.group(0)


def test_an_xlsx_directory_sends_like_its_csv_export(sample):
    rows = sample_rows(sample)
    from_csv = CliRunner().invoke(main, ["send", "2027-1", "--root", str(sample)],
                                  env={k: None for k in os.environ
                                       if k.startswith(("COMMS_", "SMTP_", "BREVO_"))})
    assert from_csv.exit_code == 0, from_csv.output
    book = workbook(sample, rows)
    unsubscribed = [r for r in rows[1:] if r[7]]
    save(sample, book)

    check = cli(sample, "check")
    assert check.exit_code == 0, check.output
    assert "partners.xlsx" not in check.output or "erreur" not in check.output
    dry = cli(sample, "send", "2027-1")
    assert dry.exit_code == 0, dry.output
    assert recipients(dry.output) == recipients(from_csv.output)
    if unsubscribed:
        assert f"{len(unsubscribed)} désinscrit" in dry.output
    assert outbox(sample) == []


def test_errors_carry_the_excel_row_number(sample):
    rows = sample_rows(sample)
    rows[4][0] = "pas-une-adresse"
    rows[6][6] = "31/02/2026"
    save(sample, workbook(sample, rows))
    for args in (("check",), ("send", "2027-1"), ("send", "2027-1", "--confirm", "--now")):
        result = cli(sample, *args)
        assert result.exit_code == 1, result.output
        assert "partners.xlsx:5: email" in result.output
        assert "partners.xlsx:7: consent_on" in result.output
        assert "Traceback" not in result.output
    assert outbox(sample) == []


def test_date_cells_and_numbers_are_read_as_written(sample):
    rows = sample_rows(sample)
    save(sample, workbook(sample, rows))
    from comms.directory import load_directory

    directory = load_directory(sample / "content" / "partners.xlsx")
    first = directory.partners[0]
    assert first.line == 2
    assert first.consent_on == date.fromisoformat(rows[1][6])
    assert len(directory.partners) == len([r for r in rows[1:] if any(r)])


def test_merged_header_cells_are_refused(sample):
    book = workbook(sample, sample_rows(sample))
    book.active.merge_cells("B1:C1")
    save(sample, book)
    check = cli(sample, "check")
    assert check.exit_code == 1
    assert "partners.xlsx:1" in check.output
    assert "cellules fusionnées B1:C1 dans la ligne des titres" in check.output
    assert "défusionnez" in check.output
    send = cli(sample, "send", "2027-1", "--confirm", "--now")
    assert send.exit_code == 1 and outbox(sample) == []


def test_several_sheets_with_data_are_refused(sample):
    book = workbook(sample, sample_rows(sample))
    other = book.create_sheet("Anciens")
    other.append(["email"])
    other.append(["ancien@example.org"])
    book.create_sheet("Vide")
    save(sample, book)
    check = cli(sample, "check")
    assert check.exit_code == 1
    assert "partners.xlsx" in check.output
    assert "plusieurs feuilles contiennent des données\u00a0: « Partenaires », « Anciens »" \
        in check.output
    assert "« Vide »" not in check.output
    assert cli(sample, "send", "2027-1", "--confirm", "--now").exit_code == 1
    assert outbox(sample) == []


@pytest.mark.parametrize("data, what", [
    # An encrypted workbook is an OLE2 compound file, as are Excel 97-2003 files.
    (bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 504, "protégé par un mot de passe"),
    (b"PK\x03\x04 not really a workbook", "classeur illisible"),
    (b"email;lists\n", "classeur illisible"),
])
def test_an_unreadable_workbook_names_the_file_and_the_fix(sample, data, what):
    (sample / "content" / "partners.xlsx").write_bytes(data)
    for args in (("check",), ("send", "2027-1", "--confirm", "--now")):
        result = cli(sample, *args)
        assert result.exit_code == 1, result.output
        assert "partners.xlsx" in result.output and what in result.output
        assert "enregistrez-le au format « Classeur Excel (.xlsx) »" in result.output
        assert "Traceback" not in result.output
    assert outbox(sample) == []


@pytest.mark.parametrize("spoil, where, what", [
    (lambda book: book.active.merge_cells("D3:D4"), "partners.xlsx:3",
     "cellules fusionnées D3:D4"),
    (lambda book: book.create_sheet("Anciens").append(["ancien@example.org"]),
     "partners.xlsx", "plusieurs feuilles contiennent des données"),
])
def test_invitations_and_due_refuse_the_same_workbook_and_journal_nothing(sample, spoil,
                                                                         where, what):
    """Not only `send`: every command that reads the directory stops, and the journal
    records no message."""
    book = workbook(sample, sample_rows(sample))
    spoil(book)
    save(sample, book)
    for args in (("invite", "--confirm"), ("due", "--run", "--confirm"), ("check",)):
        result = cli(sample, *args)
        assert result.exit_code == 1, (args, result.output)
        assert where in result.output and what in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert outbox(sample) == []
    journal = sample / "var" / "comms.sqlite"
    if journal.exists():
        from comms.send.journal import Journal

        with Journal.open(sample) as opened:
            assert opened.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_a_formula_without_its_computed_value_is_refused(sample):
    """A workbook written by a tool that keeps formulas but not their results (a script, an
    export): the unsubscribe date would read as empty and the partner would be mailed."""
    rows = sample_rows(sample)
    book = workbook(sample, rows)
    book.active["H5"] = "=DATE(2027,3,10)"
    save(sample, book)
    for args in (("check",), ("send", "2027-1", "--confirm", "--now")):
        result = cli(sample, *args)
        assert result.exit_code == 1, result.output
        assert "partners.xlsx:5: unsubscribed_on" in result.output
        assert "formule" in result.output and "Traceback" not in result.output
    assert outbox(sample) == []
