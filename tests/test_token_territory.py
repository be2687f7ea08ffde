"""A token made under another territory's secret (or a secret left behind when a territory
moved) is told apart from a damaged or forged one: `comms unsubscribe --token` says which and
what to check, records nothing; format 1 tokens, sent before the key identifier existed,
stay readable; the MAC alone decides what is accepted."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write

from comms.cli import main
from comms.send.journal import Journal
from comms.send.tokens import (
    ForeignToken,
    InvalidToken,
    UnsubscribeToken,
    _make_v1,
    make_token,
    read_token,
)
from comms.settings import SECRET_FILE, load_settings

SECRET = "test-secret-0123456789abcdef"
ADDRESS = "anne.durand@mairie.example.org"
FOREIGN = "Jeton de désinscription d’un autre territoire"


def cli(root: Path, *args: str):
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith(("COMMS_", "SMTP_", "BREVO_", "DKIM_"))}
    return CliRunner().invoke(main, [*args, "--root", str(root)], env=env,
                              catch_exceptions=False)


def suppressed(root: Path) -> dict:
    if not (root / "var" / "comms.sqlite").exists():
        return {}
    with Journal.open(root) as journal:
        return journal.suppressed()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_a_token_of_another_secret_is_foreign_a_damaged_one_is_not():
    ours, theirs = SECRET, "another-territory-secret-xyz"
    foreign = make_token(theirs, ADDRESS, "all")
    with pytest.raises(ForeignToken) as caught:
        read_token(ours, foreign)
    assert caught.value.message == FOREIGN + "."
    token = make_token(ours, ADDRESS, "all")
    data = unb64(token)
    damaged = b64(data[:-1] + bytes([data[-1] ^ 1]))
    for bad in (damaged, token[:-4], b64(data[:4] + unb64(foreign)[4:])):
        with pytest.raises(InvalidToken) as caught:
            read_token(ours, bad)
        assert not isinstance(caught.value, ForeignToken), bad
    # The key identifier is not a credential: ours in front of another secret's ciphertext
    # is refused by the MAC, and theirs in front of ours is simply foreign.
    with pytest.raises(ForeignToken):
        read_token(ours, b64(unb64(foreign)[:4] + data[4:]))


def test_the_same_secret_under_another_territory_name_is_foreign(tmp_path):
    def territory(name: str, folder: str) -> str:
        root = tmp_path / folder
        write(root, "comms.yaml", f"territory: {name}\n")
        write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
        return load_settings(root, environ={}).require_secret()

    ours, theirs = territory("Val-de-Lisière", "a"), territory("Haut-Vallon", "b")
    with pytest.raises(ForeignToken):
        read_token(ours, make_token(theirs, ADDRESS, "newsletter"))


def test_format_1_tokens_already_sent_stay_readable_and_strict():
    old = _make_v1(SECRET, ADDRESS, "instance:copil")
    assert len(unb64(old)) % 16 == 0 and len(unb64(make_token(SECRET, ADDRESS, "all"))) % 16 == 4
    assert read_token(SECRET, f"https://sante.example.org/desinscription?t={old}") == \
        UnsubscribeToken(ADDRESS, "instance:copil")
    assert read_token(SECRET, f"Re: desinscription {old}").scope == "instance:copil"
    with pytest.raises(InvalidToken):
        read_token(SECRET, old[:-1] + ("A" if old[-1] != "A" else "B"))
    # Another territory's format 1 token cannot be told from a forged one: the generic
    # message, never a false « autre territoire ».
    with pytest.raises(InvalidToken) as caught:
        read_token(SECRET, _make_v1("another-territory-secret-xyz", ADDRESS, "all"))
    assert not isinstance(caught.value, ForeignToken)
    assert "n’a pas été émis par cette coordination" in caught.value.problems[0].message


def test_the_command_says_another_territory_and_records_nothing(root):
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    link = ("https://sante.example.org/desinscription?t="
            + make_token("another-territory-secret-xyz", ADDRESS, "newsletter"))
    result = cli(root, "unsubscribe", "--token", link)
    assert result.exit_code == 1, result.output
    assert FOREIGN in result.output and "Traceback" not in result.output
    assert "var/unsubscribe-secret" in result.output and "--root" in result.output
    assert "territory dans comms.yaml" in result.output
    assert suppressed(root) == {}
    forged = cli(root, "unsubscribe", "--token", link[:-3])
    assert forged.exit_code == 1 and FOREIGN not in forged.output
    assert "Jeton de désinscription invalide" in forged.output


def test_a_secret_left_behind_by_a_move_is_named(root):
    """A trial through the outbox creates var/unsubscribe-secret; a copy of the territory
    without var/ reads its own links as another territory's, until the secret is back."""
    assert cli(root, "send", "2027-1", "--confirm", "--now").exit_code == 0
    first = sorted((root / "var" / "outbox" / "new").iterdir())[0]
    message = email.message_from_bytes(first.read_bytes(), policy=email.policy.default)
    link = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"])).group(1)
    secret_file = root / SECRET_FILE
    kept = secret_file.read_bytes()
    secret_file.unlink()  # the territory copied elsewhere without its var/ secret
    moved = cli(root, "unsubscribe", "--token", link)
    assert moved.exit_code == 1 and FOREIGN in moved.output, moved.output
    secret_file.write_bytes(kept)
    fixed = cli(root, "unsubscribe", "--token", link)
    assert fixed.exit_code == 0, fixed.output
    address = message["To"].addresses[0].addr_spec.lower()
    assert list(suppressed(root)) == [address]
