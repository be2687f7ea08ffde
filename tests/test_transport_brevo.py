"""The Brevo transport against a local HTTP server that implements the contract of
POST /v3/smtp/email: 201 with a messageId, 400, 401, 429 with Retry-After, 500, and the
idempotency key that makes a repeated request harmless."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from factories import PARIS, make_site
from werkzeug import Request, Response

from comms.errors import ConfigError
from comms.model import Address
from comms.send import campaign as campaigns
from comms.send.campaign import Campaign, Recipient
from comms.send.journal import Journal
from comms.send.message import OutgoingMessage
from comms.send.newsletter import NewsletterFactory
from comms.send.personalize import GREETING_MARK, UNSUBSCRIBE_MARK, MessageTemplate
from comms.send.transports import get_transport
from comms.send.transports.base import PermanentError, TransientError
from comms.send.transports.brevo import idempotency_key
from comms.settings import load_settings

API_KEY = "xkeysib-test-0123456789"
SECRET = "test-secret-0123456789abcdef"


class Brevo:
    """What Brevo's endpoint does, as far as we rely on it. `script` forces the next
    responses: (status, headers, body) tuples, used before normal processing."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.delivered: dict[str, dict] = {}  # idempotency key -> payload
        self.script: list[tuple[int, dict, dict]] = []

    def __call__(self, request: Request) -> Response:
        if request.headers.get("api-key") != API_KEY:
            return self.json(401, {"code": "unauthorized", "message": "Key not found"})
        payload = json.loads(request.data)
        self.requests.append(payload)
        if self.script:
            status, headers, body = self.script.pop(0)
            return self.json(status, body, headers)
        missing = [k for k in ("sender", "to", "subject") if not payload.get(k)]
        if missing or not (payload.get("htmlContent") or payload.get("textContent")):
            return self.json(400, {"code": "missing_parameter",
                                   "message": f"{missing or 'content'} is missing"})
        key = payload.get("headers", {}).get("idempotencyKey")
        if key is not None:
            uuid.UUID(key)  # Brevo wants a UUID
            self.delivered.setdefault(key, payload)
        number = list(self.delivered).index(key) if key else len(self.requests)
        return self.json(201, {"messageId": f"<20270215.{number}@smtp-relay.mailin.fr>"})

    @staticmethod
    def json(status: int, body: dict, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {},
                        content_type="application/json")


@pytest.fixture
def brevo(httpserver) -> Brevo:
    api = Brevo()
    httpserver.expect_request("/v3/smtp/email", method="POST").respond_with_handler(api)
    return api


def env(httpserver, **extra: str) -> dict[str, str]:
    values = {"COMMS_TRANSPORT": "brevo", "BREVO_API_KEY": API_KEY,
              "BREVO_API_URL": httpserver.url_for("/v3"), "COMMS_UNSUBSCRIBE_SECRET": SECRET,
              "COMMS_RATE_PER_MINUTE": "0", "COMMS_RETRY_BASE_SECONDS": "0.01",
              "COMMS_ONLINE_CHECK": "false"}  # test territories' web pages are not online
    values.update(extra)
    return values


def message(to: str = "anne@example.org", name: str = "Anne Durand") -> OutgoingMessage:
    return OutgoingMessage(
        sender=Address("Coordination santé", "lettre@sante.example.org"),
        to=Address(name, to), subject="Lettre n° 1 — Hiver", text="Bonjour,\n",
        html="<p>Bonjour,</p>", reply_to="coordination@sante.example.org",
        message_id=f"<newsletter-2027-1.{to.split('@')[0]}@sante.example.org>",
        headers={"List-Unsubscribe": "<https://sante.example.org/d?t=x>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def transport(tmp_path: Path, values: dict[str, str]):
    return get_transport("brevo", load_settings(tmp_path, environ=values), tmp_path)


class FakeTime:
    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


CAMPAIGN = Campaign("newsletter-2027-1", "newsletter", "2027-1", "newsletter", 2027, "Lettre",
                    "sante.example.org")


def run(tmp_path: Path, values: dict[str, str], n: int, time: FakeTime | None = None):
    settings = load_settings(tmp_path, environ=values)
    site = make_site()
    template = MessageTemplate(subject="Lettre santé", html_body=f"<p>{GREETING_MARK}</p>"
                               f'<a href="{UNSUBSCRIBE_MARK}">x</a>',
                               text_body=f"{GREETING_MARK}\n{UNSUBSCRIBE_MARK}\n",
                               sender=site.sender, reply_to=site.reply_to,
                               list_id='"La Lettre" <newsletter.sante.example.org>', zone=PARIS,
                               one_click=True)
    time = time or FakeTime()
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        summary = campaigns.run(journal, CAMPAIGN, [Recipient(f"p{i}@example.org")
                                                    for i in range(n)],
                                NewsletterFactory(site, template, SECRET),
                                get_transport("brevo", settings, tmp_path), settings,
                                sleep=time.sleep, clock=time.clock)
        return summary, journal.messages(CAMPAIGN.id), time


def test_payload_follows_the_contract(tmp_path, httpserver, brevo):
    with transport(tmp_path, env(httpserver)) as t:
        result = t.send(message())
    assert result.provider_id == "<20270215.0@smtp-relay.mailin.fr>"
    (sent,) = brevo.requests
    assert sent["sender"] == {"email": "lettre@sante.example.org", "name": "Coordination santé"}
    assert sent["to"] == [{"email": "anne@example.org", "name": "Anne Durand"}]
    assert sent["replyTo"] == {"email": "coordination@sante.example.org"}
    assert sent["subject"] == "Lettre n° 1 — Hiver"
    assert sent["htmlContent"] == "<p>Bonjour,</p>" and sent["textContent"] == "Bonjour,\n"
    headers = sent["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["idempotencyKey"] == idempotency_key(
        "<newsletter-2027-1.anne@sante.example.org>")


def test_idempotency_key_is_stable_per_campaign_and_recipient():
    a = idempotency_key("<newsletter-2027-1.aaa@d>")
    assert a == idempotency_key("<newsletter-2027-1.aaa@d>")
    assert a != idempotency_key("<newsletter-2027-1.bbb@d>")
    assert uuid.UUID(a).version == 5


def test_a_repeated_request_is_delivered_once(tmp_path, httpserver, brevo):
    with transport(tmp_path, env(httpserver)) as t:
        first = t.send(message())
        again = t.send(message())  # a resend after a crash: same Message-ID, same key
    assert len(brevo.requests) == 2 and len(brevo.delivered) == 1
    assert first == again


def test_non_ascii_names_with_specials_are_encoded(tmp_path, httpserver, brevo):
    with transport(tmp_path, env(httpserver)) as t:
        t.send(message(name="Durand, Élodie"))
        t.send(message("b@example.org", name="Élodie Durand"))
    assert brevo.requests[0]["to"][0]["name"].startswith("=?utf-8?")
    assert brevo.requests[1]["to"][0]["name"] == "Élodie Durand"


def test_400_is_permanent(tmp_path, httpserver, brevo):
    brevo.script.append((400, {}, {"code": "invalid_parameter", "message": "email is not valid"}))
    with transport(tmp_path, env(httpserver)) as t, \
            pytest.raises(PermanentError, match="400 invalid_parameter") as caught:
        t.send(message())
    assert caught.value.bounce is False


def test_401_is_a_configuration_error_without_the_key(tmp_path, httpserver, brevo):
    with transport(tmp_path, env(httpserver, BREVO_API_KEY="xkeysib-wrong")) as t, \
            pytest.raises(ConfigError) as caught:
        t.send(message())
    text = caught.value.message + " ".join(p.format() for p in caught.value.problems)
    assert "401" in text and "BREVO_API_KEY" in text and "xkeysib-wrong" not in text


def test_429_carries_retry_after(tmp_path, httpserver, brevo):
    brevo.script.append((429, {"Retry-After": "7"}, {"message": "Too many requests"}))
    brevo.script.append((429, {"x-sib-ratelimit-reset": "3"}, {"message": "Too many"}))
    with transport(tmp_path, env(httpserver)) as t:
        with pytest.raises(TransientError) as first:
            t.send(message())
        with pytest.raises(TransientError) as second:
            t.send(message())
    assert first.value.retry_after == 7 and second.value.retry_after == 3


def test_500_is_temporary(tmp_path, httpserver, brevo):
    brevo.script.append((500, {}, {"message": "Internal error"}))
    with transport(tmp_path, env(httpserver)) as t, pytest.raises(TransientError, match="500"):
        t.send(message())


def test_campaign_honours_retry_after_then_sends(tmp_path, httpserver, brevo):
    brevo.script += [(429, {"Retry-After": "20"}, {"message": "slow down"}),
                     (500, {}, {"message": "oops"})]
    summary, rows, time = run(tmp_path, env(httpserver), 2)
    assert summary.ok and summary.sent == 2
    assert time.sleeps[0] == 20 and len(time.sleeps) == 2
    assert rows["p0@example.org"].attempts == 3
    assert rows["p0@example.org"].provider_id.endswith("@smtp-relay.mailin.fr>")
    assert len(brevo.delivered) == 2


def test_a_long_retry_after_stops_the_run(tmp_path, httpserver, brevo):
    brevo.script.append((429, {"Retry-After": "3600"}, {"message": "daily quota"}))
    summary, rows, time = run(tmp_path, env(httpserver), 3)
    assert summary.stopped and "60\u00a0min" in summary.stopped
    assert summary.remaining == 3 and time.sleeps == []
    assert {r.status for r in rows.values()} == {"pending"}


def test_campaign_records_a_400(tmp_path, httpserver, brevo):
    brevo.script.append((400, {}, {"code": "invalid_parameter", "message": "bad"}))
    summary, rows, _ = run(tmp_path, env(httpserver), 2)
    assert summary.sent == 1 and summary.failed[0][0] == "p0@example.org"
    assert rows["p0@example.org"].status == "failed" and rows["p0@example.org"].permanent


def test_campaign_stops_on_a_refused_key_with_nothing_marked_sent(tmp_path, httpserver, brevo):
    with pytest.raises(ConfigError):
        run(tmp_path, env(httpserver, BREVO_API_KEY="xkeysib-wrong"), 2)
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        assert {r.status for r in journal.messages(CAMPAIGN.id).values()} == {"pending"}


def test_unreachable_api_is_temporary(tmp_path):
    values = {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": "http://127.0.0.1:9/v3",
              "BREVO_TIMEOUT": "2"}
    with transport(tmp_path, values) as t, pytest.raises(TransientError, match="injoignable"):
        t.send(message())


def test_missing_key_names_the_setting(tmp_path):
    with pytest.raises(ConfigError) as caught:
        transport(tmp_path, {"COMMS_TRANSPORT": "brevo"})
    assert caught.value.problems[0].field == "BREVO_API_KEY"
