"""The DKIM body hash computed piece by piece (static segments once, personal values per
message) equals dkimpy's on the whole body, on many varied bodies; and every kind of signed
message (newsletter, `send --test` copy, invitations) verifies with dkimpy's `dkim.verify`
against the public key, the DNS lookup being the only fake."""

from __future__ import annotations

import base64
import hashlib
import random
import re

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.canonicalization import Relaxed
from smtp_servers import smtp_env
from test_dkim import ARGS, DOMAIN, cli, dkim_env, dns_for, signature_tags
from test_header_urls import set_one_click
from test_send import CAMPAIGN, SECRET, make_site, people, template

from comms.send import campaign as campaigns
from comms.send.dkim_body import SlottedBody, relaxed_body_sha256
from comms.send.journal import UNSUBSCRIBE, Journal
from comms.send.newsletter import NewsletterFactory
from comms.send.transports import get_transport
from comms.settings import load_settings

PIECES = (b"", b"\r\n", b" \r\n", b"\t\r\n", b"a\r\n", b"a \r\n", b"a\t \t\r\n",
          b"  a  b\t\tc \r\n", b"=\r\n", b"x=\r\n", b" =\r\n", b"\r\n\r\n", b"\r\n \r\n\t\r\n",
          b"lorem ipsum dolor\r\n\r\n\r\n", b"bare\nlf \r\n", b"cr\r alone\r\n",
          b".dot\r\n", "é à  ç\r\n".encode())


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def random_segments(rng: random.Random) -> list[bytes]:
    return [b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
            for _ in range(rng.randint(1, 9))]


def test_reference_is_dkimpy_on_the_whole_body():
    body = b"Bonjour  \r\n\tJean\r\n\r\n \r\n"
    assert relaxed_body_sha256(body) == hashlib.sha256(b"Bonjour\r\n Jean\r\n").digest()
    assert relaxed_body_sha256(b"") == relaxed_body_sha256(b"\r\n\r\n") \
        == hashlib.sha256(b"").digest()


def test_slotted_body_hash_equals_dkimpy_on_many_varied_bodies():
    rng = random.Random(6376)
    slotted_cases = 0
    for _ in range(3000):
        segments = random_segments(rng)
        slots = sorted(rng.sample(range(len(segments)), rng.randint(0, len(segments))))
        template = [None if i in slots else s for i, s in enumerate(segments)]
        body = SlottedBody(template)
        assert body.slots == len(slots)
        # The same template, filled with other values several times (one per recipient).
        for _ in range(3):
            values = [b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))
                      for _ in slots]
            filled = iter(values)
            whole = b"".join(next(filled) if s is None else s for s in template)
            expected = hashlib.sha256(Relaxed.canonicalize_body(whole)).digest()
            assert body.sha256(values) == expected, (template, values)
        slotted_cases += bool(slots)
    assert slotted_cases > 2000


@pytest.mark.parametrize("segments, values", [
    ([b"a\r\n", None, b"\r\n\r\n"], [b"\r\n"]),  # empty lines at the end, across pieces
    ([None, b"\r\n", None], [b"\r\n", b"z \r\n"]),  # held empty lines then a line
    ([b"x \t\r\n", None], [b"  \r\n\r\n"]),  # trailing whitespace, then only empties
    ([None], [b""]),  # an empty body
])
def test_slotted_edge_cases(segments, values):
    filled = iter(values)
    whole = b"".join(next(filled) if s is None else s for s in segments)
    assert SlottedBody(segments).sha256(values) == relaxed_body_sha256(whole)


def test_pieces_must_be_whole_lines():
    with pytest.raises(ValueError):
        SlottedBody([b"no line end"])
    with pytest.raises(ValueError):
        SlottedBody([b"a\r\n", None]).sha256([b"half a line"])
    with pytest.raises(ValueError):
        SlottedBody([None]).sha256([])


def verify_all(messages: list[bytes], key: rsa.RSAPrivateKey, domain: str = DOMAIN) -> None:
    assert messages
    for data in messages:
        assert data.startswith(b"DKIM-Signature: "), data[:80]
        assert dkim.verify(data, dnsfunc=dns_for(key, domain)), data[:400]
        body = data.split(b"\r\n\r\n", 1)[1]
        tags = signature_tags(data)
        assert base64.b64decode(tags["bh"]) == relaxed_body_sha256(body)


def test_newsletter_with_odd_names_verifies(root, smtp_server, key):
    """Names with runs of spaces, tabs and long accented words land in the personal parts
    (greeting, To), which are canonicalised per message."""
    set_one_click(root, "true")
    partners = root / "content" / "partners.csv"
    rows = [f"odd{i}@example.net;{name};Nom  {i};Structure;;newsletter;2026-01-10;"
            for i, name in enumerate(("Jean  Pierre ", "Éléonore\u00a0Marie-Thérèse " * 4,
                                      "\t"))]
    with partners.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    env = smtp_env(smtp_server) | dkim_env(root, key)
    result = cli(root, *ARGS, env=env)
    assert result.exit_code == 0, result.output
    received = {m.rcpt_tos[0]: m.data for m in smtp_server.handler.messages}
    assert {"odd0@example.net", "odd1@example.net", "odd2@example.net"} <= set(received)
    verify_all(list(received.values()), key)
    # Different recipients, different bodies (greeting, unsubscribe link), one signature each
    assert len({signature_tags(d)["bh"] for d in received.values()}) == len(received)


def test_test_copy_is_signed_and_verifies(root, smtp_server, key):
    env = smtp_env(smtp_server) | dkim_env(root, key)
    result = cli(root, "send", "2027-1", "--test", "relecture@example.net", env=env)
    assert result.exit_code == 0, result.output
    (message,) = smtp_server.handler.messages
    assert re.search(rb"\r\nSubject: [^\r]*TEST", message.data)
    verify_all([message.data], key)


def test_invitations_are_signed_and_verify(root, smtp_server, key):
    env = smtp_env(smtp_server) | dkim_env(root, key)
    result = cli(root, "invite", "--confirm", "--today", "2027-01-10", env=env)
    assert result.exit_code == 0, result.output
    received = [m.data for m in smtp_server.handler.messages]
    assert received and all(b"text/calendar" in d for d in received)
    verify_all(received, key)


def test_the_next_message_signed_ahead_is_dropped_when_its_recipient_unsubscribes(
        tmp_path, smtp_server, key):
    """With DKIM on, the next recipient's message is built and signed while the current
    one is sent; an unsubscribe arriving meanwhile still wins: that message never goes."""
    path = tmp_path / "var" / "comms.sqlite"
    env = smtp_env(smtp_server) | dkim_env(tmp_path, key) | {
        "COMMS_UNSUBSCRIBE_SECRET": SECRET}
    settings = load_settings(tmp_path, environ=env)
    site = make_site()
    factory = NewsletterFactory(site, template(site), SECRET)
    built: list[str] = []

    with Journal(path) as journal:
        def unsubscribing_factory(recipient, mid):
            built.append(recipient.email)
            if recipient.email == "p2@example.org":
                # recorded now (as the one-click endpoint would), after it was prepared
                journal.suppress("p2@example.org", UNSUBSCRIBE, "lien")
            return factory(recipient, mid)

        summary = campaigns.run(journal, CAMPAIGN, people(4), unsubscribing_factory,
                                get_transport("smtp", settings, tmp_path), settings)
        rows = journal.messages(CAMPAIGN.id)
    assert "p2@example.org" in built  # it was prepared ahead...
    received = {address: m.data for address, (m,) in
                smtp_server.handler.by_recipient().items()}
    assert sorted(received) == ["p0@example.org", "p1@example.org", "p3@example.org"]
    assert summary.skipped == {"désinscrit": 1} and summary.sent == 3 and summary.ok
    assert rows["p2@example.org"].status == "skipped"
    for address, data in received.items():
        assert rows[address].status == "sent"
        assert f"\r\nMessage-ID: {rows[address].message_id}\r\n".encode() in data
    verify_all(list(received.values()), key)
