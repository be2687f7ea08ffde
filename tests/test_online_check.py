"""The online check before a real send: HEAD of the issue's page and images at their public
URLs, against a local HTTP server standing for the territory's site."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import news_file, write
from pytest_httpserver import HTTPServer
from smtp_servers import Recorder, smtp_env, start

from comms.cli import main
from comms.send.journal import Journal

PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter;2026-01-10;
"""


def cli(*args: str, env: dict[str, str]):
    clean: dict[str, str | None] = {k: None for k in os.environ
                                    if k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    clean.update(env)
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)


@pytest.fixture
def site_root(root: Path, httpserver: HTTPServer) -> Path:
    """The territory, its web_base_url pointing at the local HTTP server."""
    config = (root / "comms.yaml").read_text(encoding="utf-8")
    write(root, "comms.yaml", config.replace("https://sante.example.org/lettre/",
                                             httpserver.url_for("/lettre/")))
    write(root, "content/partners.csv", PARTNERS)
    write(root, "content/news/2027-01-12-photo.md", news_file(
        "Avec photo", "2027-01-12", extra="image: content/images/photo.png\n"
        "image_alt: Une photo\n"))
    return root


def serve_site(httpserver: HTTPServer, *, image: bool) -> None:
    httpserver.expect_request("/lettre/2027-1/", method="HEAD").respond_with_data("")
    if image:
        httpserver.expect_request("/lettre/2027-1/images/photo.png",
                                  method="HEAD").respond_with_data("")


def test_real_send_is_refused_while_an_image_is_missing(site_root, httpserver):
    serve_site(httpserver, image=False)
    with start(Recorder()) as server:
        env = smtp_env(server, COMMS_ONLINE_CHECK="true")
        dry = cli("send", "2027-1", "--root", str(site_root), env=env)
        assert dry.exit_code == 0, dry.output
        assert "l’envoi serait refusé" in dry.output
        assert "images/photo.png" in dry.output and "réponse 500" in dry.output

        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(site_root), env=env)
        assert result.exit_code == 1
        assert "Envoi refusé" in result.output and "images/photo.png" in result.output
        assert "--skip-online-check" in result.output
        assert server.handler.messages == []
        with Journal.open(site_root) as journal:
            assert journal.messages("newsletter-2027-1") == {}

        forced = cli("send", "2027-1", "--confirm", "--now", "--skip-online-check",
                     "--root", str(site_root), env=env)
        assert forced.exit_code == 0, forced.output
        assert len(server.handler.messages) == 1


def test_real_send_goes_when_everything_is_online(site_root, httpserver):
    serve_site(httpserver, image=True)
    with start(Recorder()) as server:
        env = smtp_env(server, COMMS_ONLINE_CHECK="true")
        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(site_root), env=env)
        assert result.exit_code == 0, result.output
        assert "en ligne\u00a0: vérifiées" in result.output
        assert len(server.handler.messages) == 1
    methods = {(req.method, req.path) for req, _ in httpserver.log}
    assert ("HEAD", "/lettre/2027-1/") in methods
    assert ("HEAD", "/lettre/2027-1/images/photo.png") in methods


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no authority signed, and its key (PEM files)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_refused_certificate_is_named_as_such(tmp_path, monkeypatch):
    # An expired or self-signed certificate: partners' mail clients would refuse the images
    # too, but the coordinator must learn it is the certificate, not an unreachable server.
    import ssl

    from comms.web.online import check_online

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/lettre/2027-1/", method="HEAD").respond_with_data("")
    server.start()
    try:
        url = server.url_for("/lettre/2027-1/")
        assert url.startswith("https://")
        (missing,) = check_online([url])
    finally:
        server.stop()
    assert missing.reason.startswith("certificat HTTPS refusé"), missing.reason


DUE_PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter|copil;2026-01-10;
paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;gt-logement;2026-01-10;
"""
INVITATIONS = ["invite-2027-03-copil-s0-request", "invite-2027-04-gt-s0-request"]


def test_due_holds_an_issue_not_online_and_sends_it_on_a_later_run(site_root, httpserver):
    # `make daily` on the publication day, site not published yet: the invitation goes, the
    # issue waits, and goes out the next day once its page and images answer.
    write(site_root, "content/partners.csv", DUE_PARTNERS)
    httpserver.expect_request("/lettre/2027-1/", method="HEAD").respond_with_data("")
    with start(Recorder()) as server:
        env = smtp_env(server, COMMS_ONLINE_CHECK="true")

        def due(day: str, *extra: str):
            return cli("due", "--date", day, "--run", "--confirm", *extra,
                       "--root", str(site_root), env=env)

        def campaigns() -> list[str]:
            return [m.message["Message-ID"].strip("<>").split("@")[0].rsplit(".", 1)[0]
                    for m in server.handler.messages]

        dry = cli("due", "--date", "2027-02-15", "--run", "--root", str(site_root), env=env)
        assert dry.exit_code == 0, dry.output
        assert "Avec --confirm, la lettre 2027-1 ne partirait pas" in dry.output
        assert server.handler.messages == []

        first = due("2027-02-15")
        assert first.exit_code == 1, first.output
        assert "images/photo.png" in first.output and "réponse 500" in first.output
        assert "La lettre 2027-1 n’est pas envoyée aujourd’hui" in first.output
        assert "prochaine exécution" in first.output
        assert sorted(campaigns()) == INVITATIONS
        with Journal.open(site_root) as journal:
            assert journal.messages("newsletter-2027-1") == {}

        still = due("2027-02-16")  # still not online: held again, nothing else to send
        assert still.exit_code == 1, still.output
        assert "n’est pas envoyée aujourd’hui" in still.output
        assert "journal d’envoi n’en garde aucune trace" not in still.output
        assert sorted(campaigns()) == INVITATIONS

        httpserver.expect_request("/lettre/2027-1/images/photo.png",
                                  method="HEAD").respond_with_data("")
        later = due("2027-02-17")
        assert later.exit_code == 0, later.output
        assert "en retard" in later.output and "vérifiées" in later.output
        assert sorted(campaigns()) == [*INVITATIONS, "newsletter-2027-1"]


def test_due_skip_online_check_sends_the_issue_anyway(site_root, httpserver):
    write(site_root, "content/partners.csv", DUE_PARTNERS)
    httpserver.expect_request("/lettre/2027-1/", method="HEAD").respond_with_data("")
    with start(Recorder()) as server:
        env = smtp_env(server, COMMS_ONLINE_CHECK="true")
        result = cli("due", "--date", "2027-02-15", "--run", "--confirm",
                     "--skip-online-check", "--root", str(site_root), env=env)
        assert result.exit_code == 0, result.output
        assert len(server.handler.messages) == 3
    assert not [req for req, _ in httpserver.log]
