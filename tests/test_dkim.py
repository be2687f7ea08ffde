"""DKIM signing through the real send loop: the newsletter sent with `comms send` to the
aiosmtpd server (and deposited in the outbox) verifies with dkimpy against the public key;
the DNS lookup is the only fake. Wrong keys and a misaligned domain stop everything."""

from __future__ import annotations

import base64
import email
import os
import re
import subprocess
from collections import Counter

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smtp_servers import smtp_env
from test_header_urls import set_one_click

from comms.cli import main
from comms.send.journal import Journal
from comms.send.signing import ALSO_SIGNED, SIGNED_HEADERS, aligned

SELECTOR = "lettre2027"
DOMAIN = "sante.example.org"  # the From domain of the test territory
ARGS = ("send", "2027-1", "--confirm", "--now")


@pytest.fixture(autouse=True)
def one_click(root):
    set_one_click(root, "true")  # the messages announce one-click (List-Unsubscribe-Post)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey, traditional: bool = False) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL if traditional
        else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def dns_for(key: rsa.RSAPrivateKey, domain: str = DOMAIN):
    """The TXT record the coordinator publishes, answered for that name only."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    expected = f"{SELECTOR}._domainkey.{domain}.".encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == expected else None

    return dnsfunc


def cli(root, *args: str, env: dict[str, str] | None = None):
    clean: dict[str, str | None] = {k: None for k in os.environ
                                    if k.startswith(("COMMS_", "SMTP_", "BREVO_", "DKIM_"))}
    clean.update(env or {})
    return CliRunner().invoke(main, [*args, "--root", str(root)], env=clean,
                              catch_exceptions=False)


def dkim_env(root, key: rsa.RSAPrivateKey | None, domain: str = DOMAIN,
             traditional: bool = False) -> dict[str, str]:
    path = root / "var" / "dkim.pem"
    if key is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem(key, traditional))
    return {"DKIM_DOMAIN": domain, "DKIM_SELECTOR": SELECTOR,
            "DKIM_PRIVATE_KEY_FILE": "var/dkim.pem"}


def signature_tags(data: bytes) -> dict[str, str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    field = re.search(r"^DKIM-Signature:(.*?)(?=\r\n\S)", head, re.S | re.M)
    assert field, head
    value = re.sub(r"\s+", "", field.group(1))
    return dict(item.split("=", 1) for item in value.split(";") if item)


def sent_count(root) -> int:
    with Journal.open(root) as journal:
        return sum(1 for status, _ in journal.states("newsletter-2027-1").values()
                   if status == "sent")


def assert_over_signed(data: bytes, h: str) -> None:
    """Every required field, and the ones that change how the message reads, is listed
    once more than the message holds it (RFC 6376 §8.15)."""
    head = email.message_from_bytes(data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    listed = Counter(h.encode().split(b":"))
    for name in SIGNED_HEADERS + ALSO_SIGNED:
        held = len(head.get_all(name.decode(), []))
        assert listed[name] == held + 1, (name, held, h)
    assert listed[b"from"] == listed[b"subject"] == 2


def test_every_message_sent_over_smtp_verifies_with_the_public_key(root, smtp_server, key):
    env = smtp_env(smtp_server) | dkim_env(root, key)
    dry = cli(root, "send", "2027-1", env=env)
    assert dry.exit_code == 0, dry.output
    assert f"Signature DKIM\u00a0: domaine {DOMAIN}, sélecteur {SELECTOR}" in dry.output
    result = cli(root, *ARGS, env=env)
    assert result.exit_code == 0, result.output
    received = smtp_server.handler.messages
    assert len(received) >= 2
    dnsfunc = dns_for(key)
    for item in received:
        assert item.data.startswith(b"DKIM-Signature: "), item.data[:80]
        assert dkim.verify(item.data, dnsfunc=dnsfunc), item.rcpt_tos
        tags = signature_tags(item.data)
        assert tags["d"] == DOMAIN and tags["s"] == SELECTOR
        assert tags["c"] == "relaxed/relaxed" and tags["a"] == "rsa-sha256"
        assert_over_signed(item.data, tags["h"])
        # The one-click fields are really present, hence covered.
        assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in item.data
        assert b"\r\nList-Unsubscribe: <" in item.data
    # Another territory's key (or another selector's record) does not verify.
    assert not dkim.verify(received[0].data, dnsfunc=dns_for(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)))


@pytest.mark.parametrize("field, before, after", [
    ("Subject", b"\r\nSubject: ", b"\r\nSubject: URGENT "),
    ("List-Unsubscribe", b"\r\nList-Unsubscribe: <", b"\r\nList-Unsubscribe: <https://evil.example/x>, <"),
    ("To", b"\r\nTo: ", b"\r\nTo: autre@example.net, "),
    ("body", b"Bonjour", b"Bonsoir"),
])
def test_a_tampered_message_fails_verification(root, smtp_server, key, field, before, after):
    env = smtp_env(smtp_server) | dkim_env(root, key)
    assert cli(root, *ARGS, env=env).exit_code == 0
    data = smtp_server.handler.messages[0].data
    assert before in data, field
    tampered = data.replace(before, after, 1)
    assert dkim.verify(data, dnsfunc=dns_for(key))
    assert not dkim.verify(tampered, dnsfunc=dns_for(key)), field


def test_a_header_added_later_breaks_the_signature(root, smtp_server, key):
    """List-Post is not in the message: h= signs List-Id etc.; adding a second
    List-Unsubscribe-Post above the signed one is caught."""
    env = smtp_env(smtp_server) | dkim_env(root, key)
    assert cli(root, *ARGS, env=env).exit_code == 0
    data = smtp_server.handler.messages[0].data
    head, body = data.split(b"\r\n\r\n", 1)
    forged = head + b"\r\nList-Unsubscribe: <https://evil.example/y>\r\n\r\n" + body
    assert not dkim.verify(forged, dnsfunc=dns_for(key))


@pytest.mark.parametrize("added", [
    b"Subject: URGENT : votre compte", b"From: Coordination <coordination@evil.example>",
    b"Reply-To: autre@evil.example", b"Cc: autre@evil.example",
    b"Content-Type: text/plain; charset=utf-8"])
def test_a_field_added_above_the_signed_ones_breaks_the_signature(root, smtp_server, key,
                                                                   added):
    """Clients show the first Subject or From: over-signing makes an added copy, above or
    below, fail verification."""
    env = smtp_env(smtp_server) | dkim_env(root, key)
    assert cli(root, *ARGS, env=env).exit_code == 0
    data = smtp_server.handler.messages[0].data
    signature_end = data.index(b"\r\n", data.index(b"b=")) + 2
    above = data[:signature_end] + added + b"\r\n" + data[signature_end:]
    head, body = data.split(b"\r\n\r\n", 1)
    below = head + b"\r\n" + added + b"\r\n\r\n" + body
    assert dkim.verify(data, dnsfunc=dns_for(key))
    assert not dkim.verify(above, dnsfunc=dns_for(key))
    assert not dkim.verify(below, dnsfunc=dns_for(key))


def test_outbox_trial_is_signed_too_and_a_parent_domain_is_aligned(root, key):
    env = dkim_env(root, key, domain="example.org", traditional=True)
    result = cli(root, *ARGS, env=env)
    assert result.exit_code == 0, result.output
    files = sorted((root / "var" / "outbox" / "new").iterdir())
    assert files
    for path in files:
        data = path.read_bytes()
        assert dkim.verify(data, dnsfunc=dns_for(key, "example.org"))
        assert signature_tags(data)["d"] == "example.org"


def test_dry_run_says_when_one_click_is_announced_unsigned(root, smtp_server):
    # Without `unsubscribe.one_click`, the messages announce no one-click: nothing to warn.
    set_one_click(root, "false")
    quiet = cli(root, "send", "2027-1", env=smtp_env(smtp_server))
    assert quiet.exit_code == 0, quiet.output
    assert "signature DKIM désactivée" not in quiet.output
    set_one_click(root, "true")
    result = cli(root, "send", "2027-1", env=smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    assert "signature DKIM désactivée" in result.output
    assert "désinscription en un clic" in result.output


@pytest.mark.parametrize("case", ["missing", "garbage", "short", "misaligned", "incomplete"])
def test_bad_dkim_settings_send_nothing_and_mark_nothing(root, smtp_server, key, case):
    env = smtp_env(smtp_server) | dkim_env(root, key if case != "missing" else None,
                                           domain="autre.example.org" if case == "misaligned"
                                           else DOMAIN)
    path = root / "var" / "dkim.pem"
    if case == "garbage":
        path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    if case == "short":
        # cryptography refuses to make one: OpenSSL, as the guide's command does
        subprocess.run(["openssl", "genrsa", "-out", str(path), "512"], check=True,
                       capture_output=True)
    if case == "incomplete":
        env["DKIM_SELECTOR"] = ""
    expected = {
        "missing": ("DKIM_PRIVATE_KEY_FILE", "dkim.pem", "clé privée introuvable",
                    "openssl genrsa"),
        "garbage": ("DKIM_PRIVATE_KEY_FILE", "dkim.pem", "pas une clé privée RSA",
                    "openssl genrsa"),
        "short": ("DKIM_PRIVATE_KEY_FILE", "512\u00a0bits", "2048\u00a0bits"),
        "misaligned": ("DKIM_DOMAIN", "autre.example.org", DOMAIN,
                       f"DKIM_DOMAIN={DOMAIN}"),
        "incomplete": ("DKIM_SELECTOR", "complétez les trois réglages"),
    }[case]
    for args in (("send", "2027-1"), ARGS):  # the dry run reports it too
        result = cli(root, *args, env=env)
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
        assert "Rien n’a été envoyé" in result.output
        for text in expected:
            assert text in result.output, (text, result.output)
    assert smtp_server.handler.messages == []
    assert not (root / "var" / "outbox").exists()
    # Fixed, the next run sends to everyone: nobody was marked sent.
    fixed = smtp_env(smtp_server) | dkim_env(root, key)
    assert cli(root, *ARGS, env=fixed).exit_code == 0
    assert sent_count(root) == len(smtp_server.handler.messages) >= 2


def test_alignment_is_same_domain_or_a_parent():
    assert aligned("sante.example.org", "sante.example.org")
    assert aligned("example.org", "lettre.sante.example.org")
    assert aligned("Example.ORG.", "example.org")
    assert not aligned("autre.example.org", "sante.example.org")
    assert not aligned("ample.org", "example.org")
    assert not aligned("org", "example.org")
    assert not aligned("lettre.sante.example.org", "sante.example.org")
    # DKIM_DOMAIN is read in its ASCII form; an accented sender domain is the same domain.
    assert aligned("xn--sant-epa.exemple.fr", "santé.exemple.fr")
    assert aligned("xn--sant-epa.exemple.fr", "lettre.SANTÉ.exemple.fr")
    assert not aligned("xn--sant-epa.exemple.fr", "sante.exemple.fr")


def test_an_accented_sender_domain_is_sent_and_signed_in_its_ascii_form(root, smtp_server, key):
    """The guide accepts an accented domain: comms.yaml's sender.email is written in its
    ASCII form in From, and the signature of a parent domain verifies and is aligned."""
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "email: lettre@sante.example.org", "email: lettre@santé.example.org"), encoding="utf-8")
    env = smtp_env(smtp_server) | dkim_env(root, key, domain="example.org")
    result = cli(root, "send", "2027-1", "--test", "essai@example.net", env=env)
    assert result.exit_code == 0, result.output
    [item] = smtp_server.handler.messages
    assert b"<lettre@xn--sant-epa.example.org>" in item.data
    assert dkim.verify(item.data, dnsfunc=dns_for(key, "example.org"))


def test_an_invalid_sender_is_reported_once_not_as_a_misaligned_domain(root, key):
    """An unreadable sender.email is its own error: DKIM_DOMAIN is not blamed for an empty
    sender domain."""
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "email: lettre@sante.example.org", "email: lettre-sante.example.org"), encoding="utf-8")
    result = cli(root, "check", env=dkim_env(root, key))
    assert result.exit_code != 0, result.output
    assert "sender.email" in result.output
    assert "DKIM_DOMAIN" not in result.output
