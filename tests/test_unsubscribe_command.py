"""`comms unsubscribe ADRESSE`: an address missing from the directory is still suppressed
(the request is honoured) but the coordinator is warned, on stderr, to check its spelling;
an address of the directory, in any case, gets no warning."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner
from conftest import write

from comms.cli import main
from comms.send.journal import Journal


def cli(*args: str):
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_an_address_missing_from_the_directory_is_suppressed_with_a_warning(root: Path):
    write(root, ".env", "")
    typo = "anne.durant@mairie.example.org"  # the directory has anne.durand@…
    result = cli("unsubscribe", typo, "--root", str(root))
    assert result.exit_code == 0, result.output
    assert (f"Attention\u00a0: {typo} n’est pas dans l’annuaire "
            f"{root / 'content' / 'partners.csv'}") in result.stderr
    assert "vérifiez l’orthographe" in result.stderr
    assert "désinscrit" in result.stdout and "Attention" not in result.stdout
    with Journal.open(root) as journal:
        assert journal.is_suppressed(typo, "newsletter")
        assert not journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")


def test_an_address_of_the_directory_gets_no_warning(root: Path):
    write(root, ".env", "")
    result = cli("unsubscribe", "Paul.Roche@ARS.example.org", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "Attention" not in result.output and "annuaire" not in result.output
    with Journal.open(root) as journal:
        assert journal.is_suppressed("paul.roche@ars.example.org", "instance:copil")
