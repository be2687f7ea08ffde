"""Unsubscribe tokens: hidden address, scope carried, strict reading (one encoding, nothing
around it), refused from another territory; `apply_unsubscribe` on a real journal."""

from __future__ import annotations

import base64
import string
from pathlib import Path
from urllib.parse import quote

import pytest

from comms.send.journal import UNSUBSCRIBE, Journal
from comms.send.tokens import (
    InvalidToken,
    UnsubscribeToken,
    check_scope,
    instance_scope,
    make_token,
    read_token,
)
from comms.send.unsubscribe import apply_unsubscribe
from comms.settings import load_settings

SECRET = "test-secret-0123456789abcdef"
ALPHABET = string.ascii_letters + string.digits + "-_"
ADDRESS = "anne.durand@mairie.example.org"


def test_round_trip_keeps_the_scope_and_lowers_the_address():
    for scope in ("newsletter", "all", "instance:copil", "instance:gt-logement.2027"):
        token = make_token(SECRET, " Anne.Durand@Mairie.example.org ", scope)
        assert read_token(SECRET, token) == UnsubscribeToken(ADDRESS, scope)


def test_tokens_do_not_show_the_address_or_its_parts():
    token = make_token(SECRET, ADDRESS, "newsletter")
    assert set(token) <= set(ALPHABET)
    decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for part in (b"anne", b"durand", b"mairie", b"example", b"newsletter"):
        assert part not in decoded.lower() and part.decode() not in token.lower()
    # Lengths are padded: close addresses give tokens of the same length.
    assert len(make_token(SECRET, "a@b.fr", "all")) == len(make_token(SECRET, "ab@b.fr", "all"))


def test_the_same_address_gives_one_token_per_scope():
    tokens = {make_token(SECRET, ADDRESS, s) for s in ("newsletter", "all", "instance:copil")}
    assert len(tokens) == 3
    assert make_token(SECRET, ADDRESS, "all") == make_token(SECRET, ADDRESS.upper(), "all")


def test_unknown_scopes_are_refused():
    for scope in ("", "tout", "instance:", "instance:a b", "newsletter\0all"):
        with pytest.raises(ValueError):
            check_scope(scope)
        with pytest.raises(ValueError):
            make_token(SECRET, ADDRESS, scope)
    assert instance_scope("copil") == "instance:copil"


def test_another_secret_or_territory_cannot_read_or_forge():
    token = make_token(SECRET, ADDRESS, "all")
    with pytest.raises(InvalidToken, match="Jeton de désinscription d’un autre territoire"):
        read_token("another-secret-abcdefghijkl", token)
    forged = make_token("another-secret-abcdefghijkl", ADDRESS, "all")
    with pytest.raises(InvalidToken):
        read_token(SECRET, forged)


def test_every_one_character_change_is_refused():
    token = make_token(SECRET, ADDRESS, "newsletter")
    accepted = []
    for i in range(len(token)):
        for c in ALPHABET:
            if c == token[i]:
                continue
            changed = token[:i] + c + token[i + 1:]
            try:
                read_token(SECRET, changed)
            except InvalidToken:
                continue
            accepted.append(changed)
    assert accepted == []


def test_other_encodings_and_junk_around_the_token_are_refused():
    token = make_token(SECRET, ADDRESS, "newsletter")
    padded = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).decode()
    standard = padded.replace("-", "+").replace("_", "/").rstrip("=")
    # The standard alphabet's character in place of a URL-safe one (whichever it holds).
    swapped = token.replace("-", "+") if "-" in token else token.replace("_", "/")
    assert swapped != token
    bad = [token + "A", token + "=", padded if padded != token else token + "==",
           token + ".", "A" + token, token[:-1], token[:-2], token + " x", token + "%00",
           swapped, "", "   ", "n'importe quoi", "A" * 5000]
    if standard != token:
        bad.append(standard)
    for text in bad:
        with pytest.raises(InvalidToken):
            read_token(SECRET, text)


def test_the_whole_link_the_mailto_uri_or_the_subject_are_accepted():
    token = make_token(SECRET, ADDRESS, "instance:copil")
    expected = UnsubscribeToken(ADDRESS, "instance:copil")
    for text in (
        f"  {token}\n",
        f"https://sante.example.org/desinscription?t={token}",
        f"https://sante.example.org/desinscription?lang=fr&t={token}",
        f"mailto:desinscription@sante.example.org?subject={quote('desinscription ' + token)}",
        f"desinscription {token}",
        f"Désinscription {token}",
        f"RE: Fwd: desinscription {token}",
        f"desinscription%20{token}",
        f"\n\nBonjour,\ndesinscription {token}\n-- \nAnne",
        f"<https://sante.example.org/desinscription?t={token}>,\n <mailto:desinscription"
        f"@sante.example.org?subject={quote('desinscription ' + token)}>",
        f"List-Unsubscribe: <https://sante.example.org/desinscription?t={token}>",
        f"Objet\u00a0: desinscription {token}",
        f"Subject: Re: desinscription {token}",
        f"https://sante.example.org/desinscription?t={token[:30]}\n{token[30:]}",
    ):
        assert read_token(SECRET, text) == expected, text


def test_links_with_junk_are_refused():
    token = make_token(SECRET, ADDRESS, "all")
    for text in (
        f"https://sante.example.org/desinscription?t={token}x",
        f"https://sante.example.org/desinscription?t={token}&t={token}",
        "https://sante.example.org/desinscription",
        f"desinscription {token} merci",
        f"abonnement {token}",
    ):
        with pytest.raises(InvalidToken):
            read_token(SECRET, text)


def write_territory(root: Path, name: str, secret: str) -> Path:
    root.mkdir(parents=True)
    (root / "comms.yaml").write_text(f"# Réglages\nterritory: {name}\n", encoding="utf-8")
    (root / ".env").write_text(f"COMMS_UNSUBSCRIBE_SECRET={secret}\n", encoding="utf-8")
    return root


def test_a_token_of_another_territory_is_refused_even_with_the_same_secret(tmp_path):
    ours = load_settings(write_territory(tmp_path / "a", "Val-de-Lisière", SECRET), environ={})
    theirs = load_settings(write_territory(tmp_path / "b", "Haut-Vallon", SECRET), environ={})
    token = make_token(theirs.require_secret(), ADDRESS, "all")
    assert read_token(theirs.require_secret(), token).email == ADDRESS
    with pytest.raises(InvalidToken) as caught:
        read_token(ours.require_secret(), token)
    assert "autre coordination" in caught.value.problems[0].hint


def test_apply_unsubscribe_records_the_scope_once(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        token = make_token(SECRET, ADDRESS, "newsletter")
        read = apply_unsubscribe(journal, SECRET, f"desinscription {token}", "courriel")
        assert read == UnsubscribeToken(ADDRESS, "newsletter")
        assert apply_unsubscribe(journal, SECRET, token, "lien") == read
        (record,) = journal.suppressions(ADDRESS)
        assert (record.scope, record.reason, record.source) == (
            "newsletter", UNSUBSCRIBE, "courriel")
        assert journal.is_suppressed(ADDRESS, "newsletter")
        assert not journal.is_suppressed(ADDRESS, "instance:copil")
        with pytest.raises(InvalidToken):
            apply_unsubscribe(journal, SECRET, token[:-1], "lien")
        assert len(journal.suppressions()) == 1
