"""DKIM beyond `comms send`: `check` and the dry runs of send, invite and due warn exactly
when one-click unsubscribe is announced unsigned; invitations, `due` and `send --test` copies
are signed and verify with dkimpy against the public key (the DNS lookup is the only fake);
wrong DKIM settings are French errors naming the setting, and nothing is sent or marked."""

from __future__ import annotations

import dkim
import pytest
from conftest import write
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from smtp_servers import smtp_env
from test_dkim import DOMAIN, SELECTOR, assert_over_signed, cli, dkim_env, dns_for, signature_tags
from test_due import JOURNEE_EVENT, JOURNEE_INSTANCE
from test_header_urls import set_one_click

from comms.send.journal import Journal

SECRET = {"COMMS_UNSUBSCRIBE_SECRET": "test-secret-0123456789abcdef",
          "COMMS_ONLINE_CHECK": "false"}
WARNING = "signature DKIM désactivée"
# Each command, its dry run: what is due on 2027-02-15 is the issue and two invitations.
DRY_RUNS = {
    "check": ("check",),
    "send": ("send", "2027-1"),
    "invite": ("invite", "--today", "2027-01-10"),
    "due": ("due", "--date", "2027-02-15", "--run"),
    "due listing": ("due", "--date", "2027-02-15"),
}


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def journal_rows(root) -> int:
    if not (root / "var" / "comms.sqlite").exists():
        return 0
    with Journal.open(root) as journal:
        return journal.db.execute("SELECT count(*) FROM messages").fetchone()[0]


def verify_all(messages, key) -> None:
    assert messages
    for item in messages:
        assert item.data.startswith(b"DKIM-Signature: "), item.data[:80]
        assert dkim.verify(item.data, dnsfunc=dns_for(key)), item.rcpt_tos
        tags = signature_tags(item.data)
        assert tags["d"] == DOMAIN and tags["s"] == SELECTOR
        assert_over_signed(item.data, tags["h"])
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in item.data


# --------------------------------------------------------------------------- the warning


@pytest.mark.parametrize("one_click", [True, False])
@pytest.mark.parametrize("signed", [True, False])
def test_the_warning_follows_one_click_in_check_and_every_dry_run(root, key, one_click,
                                                                  signed):
    set_one_click(root, "true" if one_click else "false")
    env = SECRET | (dkim_env(root, key) if signed else {})
    for name, args in DRY_RUNS.items():
        result = cli(root, *args, env=env)
        assert result.exit_code == 0, (name, result.output)
        warned = WARNING in result.output
        assert warned == (one_click and not signed), (name, result.output)
        if warned:
            assert "désinscription en un\u00a0clic" in result.output or \
                "désinscription en un clic" in result.output
            assert "«\u00a0one_click: true\u00a0» sous unsubscribe dans comms.yaml" in result.output
            assert "DKIM_DOMAIN, DKIM_SELECTOR et DKIM_PRIVATE_KEY_FILE" in result.output
        if signed and name != "check":
            assert f"Signature DKIM\u00a0: domaine {DOMAIN}, sélecteur {SELECTOR}." \
                in result.output, name
    assert not (root / "var" / "outbox").exists()


def test_check_warning_names_the_setting_and_is_only_a_warning(root):
    set_one_click(root, "true")
    result = cli(root, "check", env=SECRET)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if WARNING in x)
    assert line.startswith(".env: avertissement\u00a0: DKIM_DOMAIN\u00a0: ")
    assert "Contenu valide" in result.output


def test_no_warning_when_the_provider_signs_itself(root):
    """Brevo builds and signs the message itself: nothing for comms to sign."""
    set_one_click(root, "true")
    env = SECRET | {"COMMS_TRANSPORT": "brevo", "BREVO_API_KEY": "xkeysib-test"}
    for name, args in DRY_RUNS.items():
        result = cli(root, *args, env=env)
        assert result.exit_code == 0, (name, result.output)
        assert WARNING not in result.output, name


# --------------------------------------------------------------------------- signed everywhere


@pytest.fixture
def journee(root):
    """The root territory with a journée interprofessionnelle (sequence steps)."""
    write(root, "calendars/instances.yaml",
          (root / "calendars/instances.yaml").read_text(encoding="utf-8") + JOURNEE_INSTANCE)
    write(root, "calendars/events/2027-06-journee.md", JOURNEE_EVENT)
    with (root / "content/partners.csv").open("a", encoding="utf-8") as handle:
        handle.write("zoe.klein@cmp.example.org;Zoé;Klein;CMP;Cadre;journee|copil;;\n")
    set_one_click(root, "true")
    return root


def test_invitations_are_signed(journee, smtp_server, key):
    env = smtp_env(smtp_server) | dkim_env(journee, key)
    result = cli(journee, "invite", "--today", "2027-01-10", "--confirm", env=env)
    assert result.exit_code == 0, result.output
    received = smtp_server.handler.messages
    assert any(b"Content-Type: text/calendar; method=REQUEST" in m.data for m in received)
    verify_all(received, key)
    # The organizer's address is the From, and it is what DKIM_DOMAIN is aligned with.
    assert any(b"\r\nFrom: Claire Martin <claire.martin@sante.example.org>\r\n" in m.data
               for m in received)


def test_due_sends_the_issue_invitations_and_steps_signed(journee, smtp_server, key):
    env = smtp_env(smtp_server) | dkim_env(journee, key)
    for day in ("2027-02-15", "2027-04-11"):  # issue + invitations, then a save-the-date
        result = cli(journee, "due", "--date", day, "--run", "--confirm", env=env)
        assert result.exit_code == 0, result.output
    received = smtp_server.handler.messages
    kinds = {m.data.split(b"\r\nMessage-ID: <", 1)[1].split(b"-", 1)[0] for m in received}
    assert kinds == {b"newsletter", b"invite", b"step"}, kinds
    verify_all(received, key)


def test_a_test_copy_is_signed(root, smtp_server, key):
    set_one_click(root, "true")
    env = smtp_env(smtp_server) | dkim_env(root, key)
    result = cli(root, "send", "2027-1", "--test", "relecture@example.net", env=env)
    assert result.exit_code == 0, result.output
    (item,) = smtp_server.handler.messages
    assert item.rcpt_tos == ["relecture@example.net"]
    verify_all([item], key)
    assert dkim.verify(item.data, dnsfunc=dns_for(key))


# --------------------------------------------------------------------------- bad settings


def pem_of(private) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


BAD = {
    # case: (what to change, the texts the error must hold)
    "selector with domainkey": ({"DKIM_SELECTOR": "lettre2027._domainkey.sante.example.org"},
                                ("DKIM_SELECTOR", "._domainkey", "DKIM_SELECTOR=lettre2027")),
    "selector with a space": ({"DKIM_SELECTOR": "lettre 2027"},
                              ("DKIM_SELECTOR", "n’est pas un sélecteur DKIM",
                               "DKIM_SELECTOR=comms2027")),
    "selector with an accent": ({"DKIM_SELECTOR": "lettré"},
                                ("DKIM_SELECTOR", "lettres sans accents")),
    "domain with an at sign": ({"DKIM_DOMAIN": "lettre@sante.example.org"},
                               ("DKIM_DOMAIN", "n’est pas un nom de domaine",
                                "DKIM_DOMAIN=sante.example.org")),
    "domain as a URL": ({"DKIM_DOMAIN": "https://sante.example.org/"},
                        ("DKIM_DOMAIN", "n’est pas un nom de domaine")),
    "one label": ({"DKIM_DOMAIN": "localhost"}, ("DKIM_DOMAIN", "n’est pas un nom de domaine")),
    "bad international domain": ({"DKIM_DOMAIN": "-santé.exemple.fr"},
                                 ("DKIM_DOMAIN", "nom de domaine international")),
    "international domain not aligned": ({"DKIM_DOMAIN": "santé.exemple.fr"},
                                         ("DKIM_DOMAIN", "xn--sant-epa.exemple.fr",
                                          f"DKIM_DOMAIN={DOMAIN}")),
    "organizer not aligned": ({"organizer": "claire.martin@autre.example.net"},
                              ("DKIM_DOMAIN", "claire.martin@autre.example.net",
                               "autre.example.net", "l’organisateur de l’instance")),
    "key is a folder": ({"key": "folder"}, ("DKIM_PRIVATE_KEY_FILE", "dossier")),
    "key is the public key": ({"key": "public"}, ("DKIM_PRIVATE_KEY_FILE", "clé publique")),
    "key is encrypted": ({"key": "encrypted"}, ("DKIM_PRIVATE_KEY_FILE", "phrase de passe",
                                                "openssl pkey")),
    "key is Ed25519": ({"key": "ed25519"}, ("DKIM_PRIVATE_KEY_FILE", "Ed25519",
                                            "openssl genrsa")),
    "key is EC": ({"key": "ec"}, ("DKIM_PRIVATE_KEY_FILE", "pas une clé privée RSA ou Ed25519",
                                  "openssl genrsa")),
}


def spoil(root, key, change: dict[str, str]) -> dict[str, str]:
    env = dkim_env(root, key)
    path = root / "var" / "dkim.pem"
    kind = change.get("key")
    if kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "public":
        path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    elif kind == "encrypted":
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"phrase de passe")))
    elif kind == "ed25519":
        path.write_bytes(pem_of(ed25519.Ed25519PrivateKey.generate()))
    elif kind == "ec":
        path.write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    if "organizer" in change:
        instances = root / "calendars/instances.yaml"
        instances.write_text(instances.read_text(encoding="utf-8").replace(
            "organizer: claire.martin@sante.example.org",
            f"organizer: {change['organizer']}"), encoding="utf-8")
        config = root / "comms.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "email: claire.martin@sante.example.org",
            f"email: {change['organizer']}"), encoding="utf-8")
    env.update({k: v for k, v in change.items() if k.startswith("DKIM_")})
    return env


@pytest.mark.parametrize("case", list(BAD))
def test_bad_dkim_settings_are_french_errors_and_nothing_is_sent(root, smtp_server, key,
                                                                  case):
    set_one_click(root, "true")
    change, expected = BAD[case]
    env = smtp_env(smtp_server) | spoil(root, key, change)
    runs = [("check",), ("invite", "--today", "2027-01-10"),
            ("invite", "--today", "2027-01-10", "--confirm"),
            ("due", "--date", "2027-02-15", "--run", "--confirm")]
    if "organizer" not in change:  # the newsletter's own sender is aligned
        runs += [("send", "2027-1"), ("send", "2027-1", "--confirm", "--now"),
                 ("send", "2027-1", "--test", "relecture@example.net")]
    for args in runs:
        result = cli(root, *args, env=env)
        assert result.exit_code == 1, (args, result.output)
        assert "Traceback" not in result.output
        for text in expected:
            assert text in result.output, (case, args, text, result.output)
    assert smtp_server.handler.messages == []
    assert not (root / "var" / "outbox").exists()
    assert journal_rows(root) == 0


def test_an_international_domain_is_written_in_its_ascii_form(tmp_path):
    from comms.settings import load_settings

    settings = load_settings(tmp_path, environ={"DKIM_DOMAIN": "Santé.Exemple.FR."})
    assert settings.dkim_domain == "xn--sant-epa.exemple.fr"
