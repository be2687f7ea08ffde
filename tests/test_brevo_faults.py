"""Brevo: only its documented success (201 with a JSON messageId) counts as sent. A stand-in
on a local HTTP server (pytest-httpserver) answers like a captive portal (200 HTML), a
redirect (302) to a place that would accept the message, or a 201 without messageId: nothing
is marked sent, the run stops on a French summary; a malformed BREVO_API_URL is a
configuration error."""

from __future__ import annotations

import json

import pytest
from conftest import write
from test_send import PARTNERS, cli
from test_transport_brevo import API_KEY, CAMPAIGN, env, message, run, transport
from werkzeug import Response

from comms.errors import ConfigError
from comms.send.journal import Journal
from comms.settings import load_settings

PORTAL = ("<!DOCTYPE html><html><head><title>Wi-Fi Mairie — Connexion</title></head>"
          "<body><form>Acceptez les conditions</form></body></html>")


def accepted(request) -> Response:
    return Response(json.dumps({"messageId": "<x@smtp-relay.mailin.fr>"}), status=201,
                    content_type="application/json")


def test_a_200_html_page_is_not_a_delivery(tmp_path, httpserver):
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_data(
        PORTAL, status=200, content_type="text/html")
    with pytest.raises(ConfigError) as caught:
        run(tmp_path, env(httpserver), 4)
    text = caught.value.message
    assert "réponse 200" in text and "Wi-Fi Mairie — Connexion" in text
    assert caught.value.problems[0].field == "BREVO_API_URL"
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        rows = journal.messages(CAMPAIGN.id)
    assert {r.status for r in rows.values()} == {"pending"}
    assert len(httpserver.log) == 1, "the run stops at the first such answer"


def test_a_redirect_is_not_followed(tmp_path, httpserver):
    httpserver.expect_request("/elsewhere/smtp/email").respond_with_handler(accepted)
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/elsewhere/smtp/email")})
    with pytest.raises(ConfigError, match=r"redirection vers .*/elsewhere/smtp/email"):
        run(tmp_path, env(httpserver), 3)
    assert [r.path for r, _ in httpserver.log] == ["/v3/smtp/email"]
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        assert "sent" not in {r.status for r in journal.messages(CAMPAIGN.id).values()}


@pytest.mark.parametrize(("status", "body", "kind"), [
    (201, "{}", "application/json"),
    (201, '{"messageId": 42}', "application/json"),
    (201, "<html><title>OK</title></html>", "text/html"),
    (202, '{"messageId": "<y@smtp-relay.mailin.fr>"}', "application/json"),
    (204, "", "application/json"),
])
def test_only_201_with_a_message_id_counts(tmp_path, httpserver, status, body, kind):
    httpserver.expect_request("/v3/smtp/email").respond_with_data(body, status=status,
                                                                   content_type=kind)
    with transport(tmp_path, env(httpserver)) as t, pytest.raises(ConfigError) as caught:
        t.send(message())
    assert f"réponse {status}" in caught.value.message


def test_the_documented_success_counts(tmp_path, httpserver):
    httpserver.expect_request("/v3/smtp/email").respond_with_handler(accepted)
    summary, rows, _ = run(tmp_path, env(httpserver), 2)
    assert summary.sent == 2 and {r.provider_id for r in rows.values()} == {
        "<x@smtp-relay.mailin.fr>"}


@pytest.mark.parametrize("url", [
    "api.brevo.com/v3",
    "htps://api.brevo.com/v3",
    "https://api brevo.com/v3",
    "https://api.brevo.com/v3>, <https://autre.example/x",
    "https://api.brevo.com/v3?key=1",
    "http://api.brevo.com/v3",
    "https://\x0bapi.brevo.com/v3",
])
def test_a_malformed_api_url_is_a_configuration_error(tmp_path, url):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"BREVO_API_KEY": API_KEY, "BREVO_API_URL": url})
    assert [p.field for p in caught.value.problems] == ["BREVO_API_URL"]
    assert "https://api.brevo.com/v3" in caught.value.problems[0].hint


def test_the_captive_portal_through_the_command(root, httpserver):
    httpserver.expect_request("/v3/smtp/email").respond_with_data(PORTAL, status=200,
                                                                   content_type="text/html")
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", "".join(f"{k}={v}\n" for k, v in env(httpserver).items()))
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ne répond pas comme l’API de Brevo" in result.output
    assert "BREVO_API_URL" in result.output
    with Journal.open(root) as journal:
        assert "sent" not in {r.status for r in journal.messages("newsletter-2027-1").values()}
