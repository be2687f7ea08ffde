"""Sending: personalised messages parsed back, header injection refused, the send loop with
real SMTP servers (retries, permanent failures, bounces, rate limit, configuration errors),
and the `send`, `unsubscribe` and `report` commands on a real content root."""

from __future__ import annotations

import csv
import email
import email.policy
import re
import stat
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from cli_runner import cli
from conftest import write
from factories import PARIS, make_site
from smtp_servers import (
    Authenticator,
    FailData,
    Recorder,
    RefuseRecipients,
    smtp_env,
    start,
)

from comms.errors import CommsError, ConfigError
from comms.model import Address
from comms.send import campaign as campaigns
from comms.send.campaign import Campaign, Recipient
from comms.send.headers import HeaderInjectionError, message_id
from comms.send.journal import BOUNCE, UNSUBSCRIBE, Journal
from comms.send.message import OutgoingMessage
from comms.send.newsletter import NewsletterFactory
from comms.send.pacing import RateLimiter, RetryPolicy
from comms.send.personalize import GREETING_MARK, UNSUBSCRIBE_MARK, MessageTemplate, greeting
from comms.send.tokens import UnsubscribeToken, make_token, read_token
from comms.send.transports import get_transport
from comms.settings import load_settings

SECRET = "test-secret-0123456789abcdef"
SUBJECT = "La Lettre santé de Val-de-Lisière n°\u00a01 — Hiver 2027"
# Like MJML output: long lines, the markers in the middle of them, French text.
HTML = ("<html><body><div>" + "<p>Une actualité «\u00a0santé mentale\u00a0» à lire.</p>" * 40
        + f"<p>{GREETING_MARK}</p>" + "<p>Édito&nbsp;: bonne lecture à tous.</p>" * 40
        + f'<a href="{UNSUBSCRIBE_MARK}">Se désinscrire</a></div></body></html>\n')
TEXT = (f"{GREETING_MARK}\n\nBienvenue dans ce numéro\u00a0!\n" + "Une ligne. " * 30 + "\n\n"
        f"Se désinscrire\u00a0: {UNSUBSCRIBE_MARK}\n")


def template(site=None) -> MessageTemplate:
    site = site or make_site()
    return MessageTemplate(subject=SUBJECT, html_body=HTML, text_body=TEXT, sender=site.sender,
                           reply_to=site.reply_to,
                           list_id='"La Lettre" <newsletter.sante.example.org>',
                           zone=PARIS, one_click=True)


class _Partner:
    def __init__(self, first: str, last: str):
        self.first_name, self.last_name = first, last


def personalised(email_address: str = "elodie.durand@exemple.fr",
                 first: str = "Élodie", last: str = "Durand") -> OutgoingMessage:
    site = make_site()
    factory = NewsletterFactory(site, template(site), SECRET)
    recipient = Recipient(email_address, f"{first} {last}".strip(), _Partner(first, last))
    mid = message_id("newsletter-2027-1", recipient.key, SECRET, site.domain)
    return factory(recipient, mid)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


# --- the message ----------------------------------------------------------------------------

def test_personalised_message_parses_back():
    message = personalised()
    data = message.as_bytes()
    msg = parse(data)
    assert msg.get_content_type() == "multipart/alternative"
    text_part, html_part = msg.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    assert text_part["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg["Subject"] == SUBJECT
    assert b"Subject: La Lettre =?utf-8?q?sant=C3=A9" in data  # RFC 2047
    assert msg["To"].addresses[0].display_name == "Élodie Durand"
    assert msg["To"].addresses[0].addr_spec == "elodie.durand@exemple.fr"
    assert msg["From"].addresses[0].addr_spec == "lettre@sante.example.org"
    assert msg["Reply-To"] == "coordination@sante.example.org"
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert msg["List-Id"] == '"La Lettre" <newsletter.sante.example.org>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["MIME-Version"] == "1.0"


def test_bodies_are_personalised_exactly():
    message = personalised()
    text_part, html_part = parse(message.as_bytes()).iter_parts()
    token = make_token(SECRET, "elodie.durand@exemple.fr", "newsletter")
    url = f"https://sante.example.org/desinscription?t={token}"
    expected_text = TEXT.replace(GREETING_MARK, "Bonjour Élodie Durand,") \
        .replace(UNSUBSCRIBE_MARK, url)
    assert text_part.get_content().replace("\r\n", "\n") == expected_text
    expected_html = HTML.replace(GREETING_MARK, "Bonjour Élodie Durand,") \
        .replace(UNSUBSCRIBE_MARK, url)
    assert html_part.get_content().replace("\r\n", "\n") == expected_html
    assert message.text == expected_text and message.html == expected_html


def test_fast_bytes_match_the_generic_construction():
    message = personalised()
    fast = parse(message.as_bytes())
    slow = parse(message.as_email().as_bytes())
    for header in ("Subject", "To", "From", "Message-ID", "List-Unsubscribe", "List-Id"):
        assert str(fast[header]) == str(slow[header]), header
    assert [p.get_content().replace("\r\n", "\n") for p in fast.iter_parts()] == \
        [p.get_content().replace("\r\n", "\n") for p in slow.iter_parts()]


def test_html_values_are_escaped():
    msg = parse(personalised("x@exemple.fr", "Zoé <b>", "O'Brien & Fils").as_bytes())
    html = list(msg.iter_parts())[1].get_content()
    assert "Bonjour Zoé &lt;b&gt; O'Brien &amp; Fils," in html
    assert "?t=" in html


def test_bytes_are_seven_bit_crlf_and_short_lines():
    data = personalised().as_bytes()
    assert max(data) < 128
    assert data.count(b"\n") == data.count(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_list_unsubscribe_carries_a_verifiable_token():
    msg = parse(personalised().as_bytes())
    value = str(msg["List-Unsubscribe"])
    https, mailto = re.findall(r"<([^>]+)>", value)
    assert https.startswith("https://sante.example.org/desinscription?t=")
    assert mailto.startswith("mailto:desinscription@sante.example.org?subject=desinscription")
    token = https.split("t=", 1)[1]
    assert token in mailto
    assert read_token(SECRET, token) == UnsubscribeToken("elodie.durand@exemple.fr",
                                                         "newsletter")
    assert read_token(SECRET, https) == read_token(SECRET, mailto) == read_token(SECRET, token)
    assert "elodie" not in https and "durand" not in https.lower()


def test_message_id_is_stable_per_campaign_and_recipient_and_hides_the_address():
    a1 = message_id("newsletter-2027-1", "anne@example.org", SECRET, "sante.example.org")
    a2 = message_id("newsletter-2027-1", "anne@example.org", SECRET, "sante.example.org")
    b = message_id("newsletter-2027-1", "paul@example.org", SECRET, "sante.example.org")
    other = message_id("newsletter-2027-2", "anne@example.org", SECRET, "sante.example.org")
    assert a1 == a2 and len({a1, b, other}) == 3
    assert re.fullmatch(r"<newsletter-2027-1\.[0-9a-f]{24}@sante\.example\.org>", a1)
    assert "anne" not in a1
    assert parse(personalised().as_bytes())["Message-ID"] == message_id(
        "newsletter-2027-1", "elodie.durand@exemple.fr", SECRET, "sante.example.org")


def test_greeting():
    assert greeting("Anne", "Durand") == "Bonjour Anne Durand,"
    assert greeting("", "Durand") == "Bonjour Durand,"
    assert greeting(" ", "") == "Bonjour,"


def test_template_without_unsubscribe_link_is_refused():
    site = make_site()
    with pytest.raises(CommsError, match="désinscription"):
        MessageTemplate(subject="S", html_body=f"<p>{GREETING_MARK}</p>",
                        text_body=f"{GREETING_MARK} {UNSUBSCRIBE_MARK}", sender=site.sender,
                        reply_to="", list_id="x <l.d>", zone=PARIS)


# --- header injection -------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["to_name", "to_email", "subject", "reply_to", "header"])
def test_line_breaks_in_headers_are_refused(field):
    values = dict(to_name="Anne", to_email="anne@example.org", subject="Lettre",
                  reply_to="r@example.org", header="<https://x.example.org/u>")
    values[field] += "\r\nBcc: victim@example.org"
    with pytest.raises(HeaderInjectionError, match="retour à la ligne"):
        OutgoingMessage(sender=Address("S", "s@example.org"),
                        to=Address(values["to_name"], values["to_email"]),
                        subject=values["subject"], text="t", reply_to=values["reply_to"],
                        headers={"List-Unsubscribe": values["header"]})


def test_a_subject_with_a_line_break_is_refused_before_anything_is_built():
    site = make_site()
    with pytest.raises(HeaderInjectionError):
        MessageTemplate(subject="Lettre\nBcc: x@example.org", html_body=HTML, text_body=TEXT,
                        sender=site.sender, reply_to="", list_id="x <l.d>", zone=PARIS)


def test_a_sender_name_with_a_line_break_is_refused():
    site = make_site(sender=Address("Coordination\r\nBcc: x@example.org", "s@example.org"))
    with pytest.raises(HeaderInjectionError):
        template(site)


# --- the send loop ------------------------------------------------------------------------------

CAMPAIGN = Campaign("newsletter-2027-1", "newsletter", "2027-1", "newsletter", 2027, SUBJECT,
                    "sante.example.org")


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def people(n: int, domain: str = "example.org") -> list[Recipient]:
    return [Recipient(f"p{i}@{domain}", f"Partenaire {i}", _Partner("Partenaire", str(i)))
            for i in range(n)]


def send(tmp_path: Path, env: dict[str, str], recipients: list[Recipient], time=None,
         transport: str = "smtp"):
    settings = load_settings(tmp_path, environ=env)
    site = make_site()
    factory = NewsletterFactory(site, template(site), SECRET)
    time = time or FakeTime()
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        summary = campaigns.run(journal, CAMPAIGN, recipients, factory,
                                get_transport(transport, settings, tmp_path), settings,
                                sleep=time.sleep, clock=time.clock)
        rows = journal.messages(CAMPAIGN.id)
    return summary, rows


def test_everyone_once_and_a_rerun_sends_nothing(tmp_path, smtp_server):
    summary, rows = send(tmp_path, smtp_env(smtp_server), people(5))
    assert summary.ok and summary.sent == 5
    assert {r.status for r in rows.values()} == {"sent"}
    received = smtp_server.handler.by_recipient()
    assert sorted(received) == [f"p{i}@example.org" for i in range(5)]
    assert {m.message_id for ms in received.values() for m in ms} == \
        {r.message_id for r in rows.values()}
    summary, _ = send(tmp_path, smtp_env(smtp_server), people(5))
    assert summary.sent == 0 and summary.skipped == {"déjà envoyé": 5}
    assert len(smtp_server.handler.messages) == 5


def test_temporary_errors_are_retried_with_backoff(tmp_path, smtp_451):
    time = FakeTime()
    summary, rows = send(tmp_path, smtp_env(smtp_451, COMMS_RETRY_BASE_SECONDS="1"),
                         people(2), time)
    assert summary.ok and summary.sent == 2
    assert rows["p0@example.org"].attempts == 3
    assert len(time.sleeps) == 2
    assert 0.5 <= time.sleeps[0] <= 1 and 1 <= time.sleeps[1] <= 2  # exponential, jittered


def test_421_reconnects_and_sends(tmp_path, smtp_421):
    summary, _ = send(tmp_path, smtp_env(smtp_421), people(3))
    assert summary.sent == 3 and smtp_421.handler.connections == 2


def test_a_connection_dropped_mid_data_is_resent(tmp_path, smtp_drop):
    summary, rows = send(tmp_path, smtp_env(smtp_drop), people(3))
    assert summary.ok and summary.sent == 3
    assert len(smtp_drop.handler.messages) == 3
    assert rows["p0@example.org"].attempts == 2


def test_permanent_failures_are_recorded_and_reported(tmp_path, smtp_550):
    summary, rows = send(tmp_path, smtp_env(smtp_550), people(2))
    assert not summary.ok and summary.sent == 0
    assert len(summary.failed) == 2 and "550" in summary.failed[0][1]
    assert not summary.stopped  # permanent refusals do not mean the server is down
    assert all(r.status == "failed" and r.permanent and r.attempts == 1 for r in rows.values())


def test_the_same_message_refusal_for_everyone_stops_the_run(tmp_path, smtp_550):
    summary, rows = send(tmp_path, smtp_env(smtp_550), people(5))
    assert summary.stopped and "même réponse" in summary.stopped and summary.remaining == 5
    assert {r.status for r in rows.values()} == {"pending"}


def test_a_bounced_address_is_never_tried_again(tmp_path):
    with start(RefuseRecipients({"p1@example.org"})) as server:
        summary, _ = send(tmp_path, smtp_env(server), people(3))
        assert summary.sent == 2 and [a for a, _ in summary.failed] == ["p1@example.org"]
        with Journal(tmp_path / "var" / "comms.sqlite") as journal:
            assert journal.suppression("p1@example.org").reason == BOUNCE
        summary, _ = send(tmp_path, smtp_env(server), people(3))
        assert summary.sent == 0 and summary.skipped["adresse en échec définitif"] == 1
        assert summary.ok


def test_temporary_failures_exhausted_stop_the_run(tmp_path):
    with start(FailData("451 4.3.0 Temporary local problem")) as server:
        env = smtp_env(server, COMMS_MAX_ATTEMPTS="2")
        summary, rows = send(tmp_path, env, people(6))
    assert summary.stopped and "de suite" in summary.stopped
    assert summary.remaining == 3
    statuses = [rows[f"p{i}@example.org"].status for i in range(6)]
    assert statuses == ["failed"] * 3 + ["pending"] * 3
    assert all(rows[f"p{i}@example.org"].attempts == 2 for i in range(3))


def test_wrong_credentials_stop_everything_and_nothing_is_marked_sent(tmp_path, tls_files):
    auth = Authenticator("coord", "right")
    with start(Recorder(), tls_context=tls_files.server_context(), authenticator=auth,
               auth_required=True) as server:
        env = smtp_env(server, SMTP_SECURITY="starttls", SMTP_USER="coord",
                       SMTP_PASSWORD="wrong", SMTP_CA_FILE=str(tls_files.cert))
        with pytest.raises(ConfigError, match="Identifiants"):
            send(tmp_path, env, people(3))
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        assert {r.status for r in journal.messages(CAMPAIGN.id).values()} == {"pending"}


def test_tls_refused_stops_everything_and_nothing_is_marked_sent(tmp_path, smtp_server):
    with pytest.raises(ConfigError, match="TLS"):
        send(tmp_path, smtp_env(smtp_server, SMTP_SECURITY="tls"), people(2))
    assert smtp_server.handler.messages == []
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        assert {r.status for r in journal.messages(CAMPAIGN.id).values()} == {"pending"}


def test_an_address_suppressed_before_or_during_the_run_is_skipped(tmp_path, smtp_server):
    path = tmp_path / "var" / "comms.sqlite"
    with Journal(path) as other:
        other.suppress("p1@example.org", UNSUBSCRIBE, "lien")
    settings = load_settings(tmp_path, environ=smtp_env(smtp_server))
    site = make_site()
    factory = NewsletterFactory(site, template(site), SECRET)

    def unsubscribing_factory(recipient, mid):
        if recipient.email == "p0@example.org":  # `comms unsubscribe` from another process
            with Journal(path) as other:
                other.suppress("p3@example.org", UNSUBSCRIBE, "lien")
        return factory(recipient, mid)

    with Journal(path) as journal:
        summary = campaigns.run(journal, CAMPAIGN, people(4), unsubscribing_factory,
                                get_transport("smtp", settings, tmp_path), settings)
        rows = journal.messages(CAMPAIGN.id)
    assert sorted(smtp_server.handler.by_recipient()) == ["p0@example.org", "p2@example.org"]
    assert summary.skipped == {"désinscrit": 2} and summary.ok
    assert rows["p3@example.org"].status == "skipped" and "p1@example.org" not in rows


def test_rate_limit_spaces_messages_when_they_leave(tmp_path, smtp_server):
    time = FakeTime()
    summary, _ = send(tmp_path, smtp_env(smtp_server, COMMS_RATE_PER_MINUTE="120"), people(4),
                      time)
    assert summary.sent == 4 and time.sleeps == [0.5, 0.5, 0.5]


def test_the_outbox_is_not_rate_limited(tmp_path):
    time = FakeTime()
    env = {"COMMS_UNSUBSCRIBE_SECRET": SECRET, "COMMS_RATE_PER_MINUTE": "1"}
    summary, rows = send(tmp_path, env, people(3), time, transport="outbox")
    assert summary.sent == 3 and time.sleeps == []
    files = sorted((tmp_path / "var" / "outbox" / "new").iterdir())
    assert len(files) == 3
    msg = parse(files[0].read_bytes())
    assert msg["Delivered-To"] in {f"p{i}@example.org" for i in range(3)}
    assert msg["Message-ID"] == rows[msg["Delivered-To"]].message_id


def test_rate_limiter_measures_from_the_last_departure():
    time = FakeTime()
    limiter = RateLimiter(30, time.clock, time.sleep)
    limiter.wait()
    time.now += 5  # a slow message took longer than the interval
    limiter.wait()
    limiter.wait()
    assert time.sleeps == [2.0]


def test_retry_after_is_a_floor_and_long_waits_stop():
    policy = RetryPolicy(max_attempts=5, base=1, cap=60, max_wait=600)
    assert policy.delay(1, 30) == 30
    assert 4 <= policy.delay(4, None) <= 8
    assert policy.delay(20, None) <= 60


def test_missing_secret_is_generated_once_into_var_readable_by_its_owner_only(
        tmp_path, smtp_server):
    env = smtp_env(smtp_server)
    del env["COMMS_UNSUBSCRIBE_SECRET"]
    send(tmp_path, env, people(1))
    stored = tmp_path / "var" / "unsubscribe-secret"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    secret = stored.read_text().strip()
    assert len(secret) >= 32
    assert load_settings(tmp_path, environ=env).require_secret() == secret  # kept, not redone
    # The environment (or .env) wins over the generated file.
    assert load_settings(tmp_path, environ={**env, "COMMS_UNSUBSCRIBE_SECRET": SECRET}) \
        .require_secret() == SECRET
    assert len(smtp_server.handler.messages) == 1


def test_an_unusable_stored_secret_is_a_clear_error(tmp_path, smtp_server):
    env = smtp_env(smtp_server)
    del env["COMMS_UNSUBSCRIBE_SECRET"]
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "unsubscribe-secret").write_text("")
    with pytest.raises(ConfigError) as caught:
        send(tmp_path, env, people(1))
    assert caught.value.problems[0].field == "COMMS_UNSUBSCRIBE_SECRET"
    assert "sauvegarde" in caught.value.problems[0].hint
    assert smtp_server.handler.messages == []


# --- settings -------------------------------------------------------------------------------------

def test_settings_from_dotenv_environment_wins_and_secrets_are_masked(tmp_path):
    (tmp_path / ".env").write_text(
        "COMMS_TRANSPORT=smtp\nSMTP_HOST=relay.example.org\nSMTP_PASSWORD=hunter2-secret\n"
        "BREVO_API_KEY=xkeysib-123\nCOMMS_UNSUBSCRIBE_SECRET=abcdefghijklmnopqrstuvwxyz\n"
        "SMTP_HOTS=typo\n", encoding="utf-8")
    settings = load_settings(tmp_path, environ={"SMTP_HOST": "other.example.org"})
    assert settings.smtp_host == "other.example.org" and settings.smtp_port == 587
    assert settings.smtp_password == "hunter2-secret"
    shown = repr(settings) + str(settings)
    for secret in ("hunter2-secret", "xkeysib-123", "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in shown
    assert "<masqué>" in shown
    assert [(w.field, w.line) for w in settings.warnings] == [("SMTP_HOTS", 6)]
    assert "SMTP_HOST" in settings.warnings[0].hint


def test_wrong_setting_values_are_reported_with_their_line(tmp_path):
    (tmp_path / ".env").write_text("SMTP_SECURITY=startls\nCOMMS_RATE_PER_MINUTE=vite\n"
                                   "COMMS_UNSUBSCRIBE_SECRET=court\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    found = {(p.field, p.line) for p in caught.value.problems}
    assert found == {("SMTP_SECURITY", 1), ("COMMS_RATE_PER_MINUTE", 2),
                     ("COMMS_UNSUBSCRIBE_SECRET", 3)}
    assert "starttls" in next(p.hint for p in caught.value.problems
                              if p.field == "SMTP_SECURITY")


def test_every_setting_is_documented_in_env_example():
    from comms.inbox.settings import KNOWN as INBOX
    from comms.settings import KNOWN

    example = (Path(__file__).parent.parent / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    assert documented == set(KNOWN) | INBOX


def test_the_example_file_works_as_is(tmp_path):
    example = (Path(__file__).parent.parent / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(example, encoding="utf-8")
    settings = load_settings(tmp_path, environ={})
    assert (settings.transport, settings.smtp_port, settings.rate_per_minute) == \
        ("outbox", 587, 60)


def test_unknown_transport(tmp_path):
    settings = load_settings(tmp_path, environ={})
    with pytest.raises(ConfigError, match="vouliez-vous écrire « smtp »"):
        get_transport("smtpp", settings, tmp_path)


# --- commands ----------------------------------------------------------------------------------

PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter|copil;2026-01-10;
paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;newsletter|copil|gt-logement;2026-01-10;
lea.morel@ccas.example.org;Léa;Morel;CCAS;Directrice;newsletter;2026-01-10;2026-05-02
sans.nom@unafam.example.org;;;UNAFAM;;newsletter;2026-01-10;
karim@cmp.example.org;Karim;Haddad;CMP;Cadre;copil;2026-01-10;
"""


@pytest.fixture
def territory(root: Path) -> Path:
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    return root


def bound_secret(root: Path) -> str:
    """The territory-bound secret the commands use for ROOT (from its .env)."""
    return load_settings(root, environ={}).require_secret()



def outbox(root: Path) -> list[email.message.EmailMessage]:
    folder = root / "var" / "outbox" / "new"
    return [parse(p.read_bytes()) for p in sorted(folder.iterdir())] if folder.is_dir() else []


def test_dry_run_counts_and_sends_nothing(territory):
    result = cli("send", "2027-1", "--root", str(territory))
    assert result.exit_code == 0, result.output
    assert "3 destinataires la recevraient" in result.output
    assert "1 écarté\u00a0: 1 désinscrit dans l’annuaire" in result.output
    assert "rien n’a été envoyé" in result.output
    assert "déposés dans var/outbox\u00a0: rien ne partirait" in result.output
    assert outbox(territory) == []


def test_confirm_sends_personalised_copies_once(territory):
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory))
    assert result.exit_code == 0, result.output
    assert "déposés dans var/outbox\u00a0: 3" in result.output
    assert "déposés dans var/outbox\u00a0: rien n’est parti" in result.output
    messages = {m["Delivered-To"]: m for m in outbox(territory)}
    assert sorted(messages) == ["anne.durand@mairie.example.org", "paul.roche@ars.example.org",
                                "sans.nom@unafam.example.org"]
    anne = messages["anne.durand@mairie.example.org"]
    text = next(p for p in anne.iter_parts() if p.get_content_type() == "text/plain")
    assert "Bonjour Anne Durand," in text.get_content()
    token = make_token(bound_secret(territory), "anne.durand@mairie.example.org", "newsletter")
    assert f"https://sante.example.org/desinscription?t={token}" in text.get_content()
    nameless = messages["sans.nom@unafam.example.org"]
    assert "Bonjour," in next(nameless.iter_parts()).get_content()
    assert (territory / "build" / "2027-1" / "newsletter.html").is_file()

    again = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory))
    assert again.exit_code == 0 and "déposés dans var/outbox\u00a0: 0" in again.output
    assert "3 déjà déposés dans var/outbox" in again.output
    assert len(outbox(territory)) == 3


def test_an_outbox_trial_is_no_delivery(territory, smtp_server):
    """Trial through the default outbox, then the real thing over SMTP: every subscribed
    partner gets the issue once, with the Message-ID of the trial; status and report count
    only the real delivery."""
    assert cli("send", "2027-1", "--confirm", "--now", "--root", str(territory)).exit_code == 0
    trial = {m["Delivered-To"]: m["Message-ID"] for m in outbox(territory)}
    assert len(trial) == 3
    cli("report", "2027", "--root", str(territory))
    assert report_values(territory)["Lettres envoyées"] == ("0", "3")
    rows = (territory / "build" / "rapport-2027.csv").read_text(encoding="utf-8-sig")
    recipients = next(r for r in rows.splitlines() if "Destinataires de la lettre" in r)
    assert recipients.endswith("liste newsletter, pas encore envoyée")  # deposits only

    dry = cli("send", "2027-1", "--root", str(territory), env=smtp_env(smtp_server))
    assert "3 destinataires la recevraient" in dry.output
    assert "3 d’entre eux n’ont reçu qu’un essai" in dry.output
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory),
                 env=smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    assert "envoyés\u00a0: 3" in result.output and "outbox" not in result.output
    got = [m.message for m in smtp_server.handler.messages]
    assert sorted(m["To"].addresses[0].addr_spec for m in got) == sorted(trial)
    assert {m["To"].addresses[0].addr_spec: m["Message-ID"] for m in got} == trial
    again = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory),
                env=smtp_env(smtp_server))
    assert "envoyés\u00a0: 0" in again.output and len(smtp_server.handler.messages) == 3
    cli("report", "2027", "--root", str(territory))
    values = report_values(territory)
    assert values["Lettres envoyées"] == ("1", "3")
    assert values["Destinataires de la lettre 2027-1"] == ("3", "")


def report_values(root: Path) -> dict[str, tuple[str, str]]:
    rows = list(csv.reader((root / "build" / "rapport-2027.csv")
                           .read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    return {r[1]: (r[2], r[3]) for r in rows[1:]}


def test_unsubscribed_stay_unsubscribed_after_a_reimport(territory):
    assert cli("send", "2027-1", "--confirm", "--now", "--root", str(territory)).exit_code == 0
    # A new export forgot Léa's unsubscription, and Paul clicked his link meanwhile.
    write(territory, "content/partners.csv", PARTNERS.replace(";2026-05-02", ";"))
    token = make_token(bound_secret(territory), "paul.roche@ars.example.org", "newsletter")
    result = cli("unsubscribe", "--token", token, "--root", str(territory))
    assert result.exit_code == 0 and "paul.roche@ars.example.org est désinscrit" in result.output
    result = cli("send", "2027-2", "--confirm", "--now", "--root", str(territory))
    assert result.exit_code == 0, result.output
    new = [m["Delivered-To"] for m in outbox(territory)
           if m["Message-ID"].startswith("<newsletter-2027-2.")]
    assert sorted(new) == ["anne.durand@mairie.example.org", "sans.nom@unafam.example.org"]


def test_test_copy_is_outside_the_campaign(territory):
    result = cli("send", "2027-1", "--test", "karim@cmp.example.org", "--root", str(territory))
    assert result.exit_code == 0, result.output
    (copy,) = outbox(territory)
    assert copy["Subject"].startswith("[TEST] ")
    assert "Bonjour Karim Haddad," in next(copy.iter_parts()).get_content()
    with Journal.open(territory) as journal:
        assert journal.messages("newsletter-2027-1") == {}
    dry = cli("send", "2027-1", "--root", str(territory))
    assert "3 destinataires" in dry.output


def test_test_copy_refuses_a_header_injection(territory):
    result = cli("send", "2027-1", "--test", "x@example.org\r\nBcc: y@example.org",
                 "--root", str(territory))
    assert result.exit_code == 1
    assert "retour à la ligne" in result.output
    assert outbox(territory) == []


def test_unsubscribe_by_hand_and_bad_token(territory):
    result = cli("unsubscribe", "Anne.Durand@mairie.example.org", "--root", str(territory))
    assert result.exit_code == 0
    result = cli("unsubscribe", "anne.durand@mairie.example.org", "--root", str(territory))
    assert "déjà désinscrit" in result.output
    assert not re.search(r"depuis le \d{4}-", result.output), result.output  # a French date
    forged = make_token("not-the-right-secret-xyz", "paul.roche@ars.example.org", "all")
    result = cli("unsubscribe", "--token", forged, "--root", str(territory))
    # Made under another secret: named as such (another territory, or a secret not moved).
    assert result.exit_code == 1
    assert "Jeton de désinscription d’un autre territoire" in result.output
    result = cli("unsubscribe", "--token", forged[:-4], "--root", str(territory))
    assert result.exit_code == 1 and "Jeton de désinscription invalide" in result.output
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "instance:copil")
        assert not journal.is_suppressed("paul.roche@ars.example.org", "newsletter")


def test_send_refuses_when_content_has_errors(territory):
    write(territory, "content/news/2027-01-11-bad.md", "---\ntitle: X\ndate: 2027-13-45\n"
          "dispositif: CLSM\nsection: news\n---\nTexte.\n")
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory))
    assert result.exit_code == 1
    assert "Envoi refusé" in result.output and "2027-01-11-bad.md" in result.output
    assert outbox(territory) == []


def test_send_refuses_a_bad_directory_with_its_lines(territory):
    write(territory, "content/partners.csv", PARTNERS + "pas-une-adresse;A;B;;;newsletter;;\n")
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory))
    assert result.exit_code == 1
    assert "partners.csv:7: email" in result.output
    assert outbox(territory) == []


def test_unknown_issue(territory):
    result = cli("send", "2027-9", "--root", str(territory))
    assert result.exit_code == 1 and "n’existe pas" in result.output


def test_a_territory_without_env_works_with_a_generated_secret(territory):
    (territory / ".env").unlink()
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory))
    assert result.exit_code == 0, result.output
    secret = (territory / "var" / "unsubscribe-secret").read_text().strip()
    assert secret not in result.output
    (anne,) = [m for m in outbox(territory) if m["Delivered-To"].startswith("anne")]
    url = re.search(r"<(https://[^>]+)>", str(anne["List-Unsubscribe"])).group(1)
    result = cli("unsubscribe", "--token", url, "--root", str(territory))
    assert result.exit_code == 0, result.output
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")


def test_failures_give_a_non_zero_exit_and_a_summary(territory):
    with start(RefuseRecipients({"anne.durand@mairie.example.org"})) as server:
        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory),
                     env=smtp_env(server))
    assert result.exit_code == 1
    assert "en échec\u00a0: 1" in result.output
    assert "anne.durand@mairie.example.org\u00a0: adresse refusée\u00a0: 550" in result.output


def test_report_counts_and_csv(territory, smtp_server):
    assert cli("send", "2027-1", "--confirm", "--now", "--root", str(territory),
               env=smtp_env(smtp_server)).exit_code == 0
    cli("unsubscribe", "paul.roche@ars.example.org", "--root", str(territory))
    with Journal.open(territory) as journal:
        journal.record_campaign("invitation-copil-1", kind="invitation", ref="2027-03-copil",
                                scope="copil", year=2027, subject="Invitation")
        journal.add_messages("invitation-copil-1", [("a@example.org", "<i1@d>"),
                                                    ("b@example.org", "<i2@d>")])
        journal.mark_sending("invitation-copil-1", "a@example.org", "smtp")
        journal.mark_sent("invitation-copil-1", "a@example.org", "")
        journal.mark_failed("invitation-copil-1", "b@example.org", "550", permanent=True)
    result = cli("report", "2027", "--root", str(territory))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader((territory / "build" / "rapport-2027.csv")
                           .read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    values = {r[1]: (r[2], r[3]) for r in rows[1:]}
    assert values["Lettres envoyées"] == ("1", "3")
    assert values["Lettres prévues"] == ("2", "3")
    assert values["Destinataires de la lettre 2027-1"] == ("3", "")
    assert values["Invitations envoyées — Comité de pilotage"] == ("1", "")
    assert values["Messages en échec"] == ("1", "")
    assert "Désinscriptions" in values
    assert "Lettres envoyées" in result.output


def test_a_real_send_before_publication_needs_now(territory, smtp_server):
    from datetime import date

    from comms.dates import format_day

    days = (date(2027, 2, 15) - date.today()).days
    assert days > 1  # the sample issue 2027-1 comes out on 15 February 2027
    expected = f"parution prévue le {format_day(date(2027, 2, 15))} (dans {days} jours)"
    env = smtp_env(smtp_server)
    dry = cli("send", "2027-1", "--root", str(territory), env=env)
    assert dry.exit_code == 0 and expected in dry.output
    refused = cli("send", "2027-1", "--confirm", "--root", str(territory), env=env)
    assert refused.exit_code == 1
    assert f"Envoi refusé\u00a0: {expected}" in refused.output and "--now" in refused.output
    assert smtp_server.handler.messages == []
    with Journal.open(territory) as journal:
        assert journal.messages("newsletter-2027-1") == {}
    # A trial in the outbox is no real send: allowed, and says when the issue comes out.
    trial = cli("send", "2027-1", "--confirm", "--root", str(territory))
    assert trial.exit_code == 0 and expected in trial.output
    sent = cli("send", "2027-1", "--confirm", "--now", "--root", str(territory), env=env)
    assert sent.exit_code == 0 and "envoyés\u00a0: 3" in sent.output
    assert "lundi 15 février 2027" in format_day(date(2027, 2, 15))
