"""Every URL in a header or a link is a URI, and every copy of a message carries the headers
partners get: the handed cases unsubscribe-url-non-ascii, test-copy-list-unsubscribe and
unsubscribe-url-http, checked on the raw bytes."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from pathlib import Path

import pytest
from cli_runner import cli as run_cli

from comms.send.headers import list_unsubscribe, unsubscribe_url
from comms.uri import InvalidIRI, to_uri

CASES = Path(__file__).parent / "cases"
SECRET = "test-secret-0123456789abcdef"
ENV = {"COMMS_TRANSPORT": "outbox", "COMMS_UNSUBSCRIBE_SECRET": SECRET,
       "COMMS_RATE_PER_MINUTE": "0"}
URI_CHARS = re.compile(rb"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def cli(*args: str, env: dict[str, str] | None = None):
    return run_cli(*args, env=ENV if env is None else env)


def raw_head(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def raw_header(data: bytes, name: bytes) -> bytes:
    """The unfolded raw value of a header, exactly as written (no decoding)."""
    head = raw_head(data).replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    (line,) = [x for x in head.split(b"\r\n") if x.lower().startswith(name.lower() + b":")]
    return line.split(b":", 1)[1].strip()


def uri_items(value: bytes) -> list[bytes]:
    """RFC 2369 section 2: a list of <URI> items separated by commas."""
    items = [x.strip() for x in value.split(b",")]
    assert all(x.startswith(b"<") and x.endswith(b">") for x in items), value
    uris = [x[1:-1] for x in items]
    for uri in uris:
        assert URI_CHARS.match(uri), uri  # plain URI characters, never an encoded-word
    return uris


def outbox(root: Path) -> list[bytes]:
    """The messages as sent (without the Delivered-To line the outbox adds, as a mailbox
    would)."""
    folder = root / "var/outbox/new"
    if not folder.is_dir():
        return []
    return [re.sub(rb"^Delivered-To: [^\r]*\r\n", b"", p.read_bytes())
            for p in sorted(folder.iterdir())]


# --------------------------------------------------------------------------- to_uri


@pytest.mark.parametrize("iri,uri", [
    ("https://sante.example.org/désinscription",
     "https://sante.example.org/d%C3%A9sinscription"),
    ("https://santé.example.org/a?q=é#été",
     "https://xn--sant-epa.example.org/a?q=%C3%A9#%C3%A9t%C3%A9"),
    ("https://Exemple.ORG/déjà%20vu/100%",
     "https://Exemple.ORG/d%C3%A9j%C3%A0%20vu/100%25"),
    ("mailto:désinscription@santé.example.org",
     "mailto:d%C3%A9sinscription@sant%C3%A9.example.org"),
    ("https://sante.example.org/d%C3%A9sinscription?t=a&b=c",
     "https://sante.example.org/d%C3%A9sinscription?t=a&b=c"),
])
def test_iris_become_uris_rfc3987(iri, uri):
    assert to_uri(iri) == uri
    assert to_uri(uri) == uri  # idempotent: a URI is left as it is
    assert uri.isascii()


def test_decomposed_accents_are_normalised_first():
    assert to_uri("https://x.org/e\u0301") == to_uri("https://x.org/\u00e9") == \
        "https://x.org/%C3%A9"


def test_a_host_that_is_no_domain_name_is_refused():
    with pytest.raises(InvalidIRI):
        to_uri("https://xn--a.\u00e9xample.org/")


def test_list_unsubscribe_is_uris_whatever_the_configuration():
    url = unsubscribe_url("https://santé.example.org/désinscription", "TOKEN")
    header = list_unsubscribe(url, "désinscription@santé.example.org", "TOKEN").encode()
    assert uri_items(header) == [
        b"https://xn--sant-epa.example.org/d%C3%A9sinscription?t=TOKEN",
        b"mailto:d%C3%A9sinscription@sant%C3%A9.example.org?subject=desinscription%20TOKEN"]


# --------------------------------------------------------------------------- the cases


@pytest.fixture
def french_path(sample: Path) -> Path:
    """unsubscribe-url-non-ascii: `unsubscribe.url: https://…/désinscription`."""
    shutil.copy(CASES / "unsubscribe-url-non-ascii/comms.yaml", sample / "comms.yaml")
    return sample


def test_a_french_unsubscribe_path_gives_valid_headers_everywhere(french_path):
    root = french_path
    assert cli("check", "--root", str(root)).exit_code == 0
    expected = b"https://sante.valdelisiere.example.org/d%C3%A9sinscription?t="

    # A partner's copy, the --test copy and the preview .eml.
    result = cli("send", "2027-1", "--confirm", "--root", str(root))
    assert result.exit_code == 0, result.output
    partners = outbox(root)
    assert len(partners) > 10
    shutil.rmtree(root / "var/outbox")
    result = cli("send", "2027-1", "--test", "essai@example.org", "--root", str(root))
    assert result.exit_code == 0, result.output
    (test_copy,) = outbox(root)
    shutil.rmtree(root / "var/outbox")
    result = cli("build", "2027-1", "--root", str(root))
    assert result.exit_code == 0, result.output
    preview = (root / "build/2027-1/newsletter.eml").read_bytes()
    # An invitation.
    result = cli("invite", "2027-03-gt-logement", "--confirm", "--root", str(root),
                 "--today", "2027-01-10")
    assert result.exit_code == 0, result.output
    invitations = outbox(root)
    assert invitations

    for data in (*partners, test_copy, preview, *invitations):
        head = raw_head(data)
        head.decode("ascii")
        assert b"=?" not in raw_header(data, b"List-Unsubscribe")  # RFC 2047 section 5
        https, mailto = uri_items(raw_header(data, b"List-Unsubscribe"))
        assert https.startswith(expected), https
        assert mailto.startswith(b"mailto:desinscription@sante-valdelisiere.example.org")
        msg = email.message_from_bytes(data, policy=email.policy.default)
        text = msg.get_body(("plain",)).get_content()
        assert expected.decode().removesuffix("?t=") in text  # the body's link: a URI too
        assert "désinscription" not in text.replace("Désinscription", "")


def test_test_copy_and_preview_carry_the_headers_partners_get(sample):
    """test-copy-list-unsubscribe: one way to build a message; only the subject's [TEST]
    differs (and what is personal: To, Date, Message-ID, the token)."""
    result = cli("send", "2027-1", "--confirm", "--root", str(sample))
    assert result.exit_code == 0, result.output
    partner = outbox(sample)[0]
    shutil.rmtree(sample / "var/outbox")
    assert cli("send", "2027-1", "--test", "essai@example.org",
               "--root", str(sample)).exit_code == 0
    (test_copy,) = outbox(sample)
    assert cli("build", "2027-1", "--root", str(sample), env=ENV).exit_code == 0
    preview = (sample / "build/2027-1/newsletter.eml").read_bytes()

    def names(data: bytes) -> list[bytes]:
        head = raw_head(data).replace(b"\r\n ", b" ")
        return sorted(line.split(b":", 1)[0] for line in head.split(b"\r\n"))

    assert names(test_copy) == names(partner) == names(preview)
    for data in (test_copy, preview):
        for name in (b"List-Id", b"List-Unsubscribe-Post", b"From", b"Reply-To",
                     b"MIME-Version"):
            assert raw_header(data, name) == raw_header(partner, name), name
        https, mailto = uri_items(raw_header(data, b"List-Unsubscribe"))
        token = https.rsplit(b"?t=", 1)[1]
        assert token and mailto.endswith(b"?subject=desinscription%20" + token)
    assert raw_header(partner, b"List-Unsubscribe-Post") == b"List-Unsubscribe=One-Click"
    subject = email.message_from_bytes(test_copy, policy=email.policy.default)["Subject"]
    partner_subject = email.message_from_bytes(partner, policy=email.policy.default)["Subject"]
    assert subject == "[TEST] " + partner_subject
    for data in (partner, test_copy, preview):
        # Folded at 78 where a header can be; a URI item or a Message-ID cannot be, and
        # stays under the 998 of RFC 5322 section 2.1.1.
        lines = raw_head(data).split(b"\r\n")
        assert all(len(line) <= 998 for line in lines)
        assert not [line for line in lines if len(line) > 78 and not line.lower().startswith(
            (b"message-id", b"list-unsubscribe:", b" <https://", b" <mailto:"))]


def test_one_click_unsubscribe_only_over_https(sample):
    """unsubscribe-url-http: check refuses it, with the file, line and what to write."""
    shutil.copy(CASES / "unsubscribe-url-http/comms.yaml", sample / "comms.yaml")
    result = cli("check", "--root", str(sample))
    assert result.exit_code == 1
    out = result.output
    assert "comms.yaml:35: unsubscribe.url" in out, out
    assert "unsubscribe.url" in out and "https://" in out
    assert "Traceback" not in out
    # Nothing is sent either.
    result = cli("send", "2027-1", "--confirm", "--root", str(sample))
    assert result.exit_code == 1 and not outbox(sample)


# --------------------------------------------------------------------------- one-click


def set_one_click(root: Path, value: str | None) -> None:
    """comms.yaml's `unsubscribe.one_click`: "true", "false", or None (the line removed)."""
    path = root / "comms.yaml"
    lines = [x for x in path.read_text(encoding="utf-8").splitlines()
             if not x.strip().startswith("one_click:")]
    if value is not None:
        at = next(i for i, x in enumerate(lines) if x.startswith("unsubscribe:")) + 1
        lines.insert(at, f"  one_click: {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("setting,announced", [("true", True), ("false", False), (None, False)])
def test_one_click_is_announced_only_when_the_endpoint_handles_it(sample, setting, announced):
    """RFC 8058 section 3.1: List-Unsubscribe-Post only when `unsubscribe.url` answers the
    POST (comms serve); otherwise (a static site, and by default) List-Unsubscribe still
    offers the page and the mailto, in the newsletter and in the invitations."""
    set_one_click(sample, setting)
    assert cli("check", "--root", str(sample)).exit_code == 0
    result = cli("send", "2027-1", "--confirm", "--root", str(sample))
    assert result.exit_code == 0, result.output
    letters = outbox(sample)
    shutil.rmtree(sample / "var/outbox")
    result = cli("invite", "2027-03-gt-logement", "--confirm", "--root", str(sample),
                 "--today", "2027-01-10")
    assert result.exit_code == 0, result.output
    invitations = outbox(sample)
    assert letters and invitations
    for data in (*letters, *invitations):
        head = raw_head(data).replace(b"\r\n ", b" ")
        names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")]
        assert (b"list-unsubscribe-post" in names) is announced
        if announced:
            assert raw_header(data, b"List-Unsubscribe-Post") == b"List-Unsubscribe=One-Click"
        https, mailto = uri_items(raw_header(data, b"List-Unsubscribe"))
        assert https.startswith(b"https://sante.valdelisiere.example.org/desinscription?t=")
        assert mailto.startswith(b"mailto:desinscription@sante-valdelisiere.example.org?")
        msg = email.message_from_bytes(data, policy=email.policy.default)
        assert (msg["List-Unsubscribe-Post"] is not None) is announced


def test_one_click_must_be_true_or_false(sample):
    set_one_click(sample, "peut-être")
    result = cli("check", "--root", str(sample))
    assert result.exit_code != 0
    assert "unsubscribe.one_click" in result.output
    assert "Traceback" not in result.output
