"""The SMTP transport against real SMTP servers on 127.0.0.1 (aiosmtpd, and a socket server
that drops the connection mid-DATA): reuse of one connection, reconnection, temporary and
permanent failures, TLS and AUTH, configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from smtp_servers import (
    Authenticator,
    Recorder,
    RefuseRecipients,
    Slow,
    free_port,
    smtp_env,
    start,
)

from comms.errors import ConfigError
from comms.model import Address
from comms.send.message import OutgoingMessage
from comms.send.transports import get_transport
from comms.send.transports.base import MaybeDeliveredError, PermanentError, TransientError
from comms.send.transports.smtp import SmtpTransport
from comms.settings import load_settings

SENDER = Address("Coordination santé", "lettre@sante.example.org")


def message(to: str = "anne@example.org", name: str = "Anne Durand") -> OutgoingMessage:
    return OutgoingMessage(sender=SENDER, to=Address(name, to), subject="Lettre n° 1",
                           text="Bonjour,\nUne ligne.\n", html="<p>Bonjour,</p>",
                           message_id=f"<n1.{to.split('@')[0]}@sante.example.org>")


def transport(tmp_path: Path, env: dict[str, str]) -> SmtpTransport:
    settings = load_settings(tmp_path, environ=env)
    t = get_transport("smtp", settings, tmp_path)
    assert isinstance(t, SmtpTransport)
    return t


def test_many_messages_over_one_connection(tmp_path, smtp_server):
    with transport(tmp_path, smtp_env(smtp_server)) as t:
        for i in range(5):
            t.send(message(f"p{i}@example.org"))
    handler = smtp_server.handler
    assert handler.connections == 1
    assert [m.rcpt_tos for m in handler.messages] == [[f"p{i}@example.org"] for i in range(5)]
    assert handler.messages[0].mail_from == "lettre@sante.example.org"
    assert handler.messages[0].message["Message-ID"] == "<n1.p0@sante.example.org>"


def test_421_is_temporary_and_the_next_send_reconnects(tmp_path, smtp_421):
    with transport(tmp_path, smtp_env(smtp_421)) as t:
        with pytest.raises(TransientError, match="421"):
            t.send(message())
        t.send(message())
    assert len(smtp_421.handler.messages) == 1
    assert smtp_421.handler.connections == 2


def test_451_is_temporary_and_nothing_is_kept(tmp_path, smtp_451):
    with transport(tmp_path, smtp_env(smtp_451)) as t:
        for _ in range(2):
            with pytest.raises(TransientError, match="451"):
                t.send(message())
        assert smtp_451.handler.messages == []
        t.send(message())
    assert len(smtp_451.handler.messages) == 1
    assert smtp_451.handler.connections == 1  # a 451 does not close the session


def test_550_on_data_is_permanent_but_not_a_bounce(tmp_path, smtp_550):
    with transport(tmp_path, smtp_env(smtp_550)) as t, \
            pytest.raises(PermanentError, match="550") as caught:
        t.send(message())
    assert caught.value.bounce is False


def test_550_on_the_recipient_is_a_bounce(tmp_path):
    with start(RefuseRecipients({"gone@example.org"})) as server, \
            transport(tmp_path, smtp_env(server)) as t:
        with pytest.raises(PermanentError, match=r"5\.1\.1") as caught:
            t.send(message("gone@example.org"))
        assert caught.value.bounce is True
        t.send(message("here@example.org"))  # the session goes on after the refusal
        assert [m.rcpt_tos for m in server.handler.messages] == [["here@example.org"]]


def test_connection_dropped_mid_data_is_temporary_then_reconnects(tmp_path, smtp_drop):
    big = OutgoingMessage(sender=SENDER, to=Address("", "anne@example.org"), subject="Gros",
                          text="x" * 200_000, message_id="<big@sante.example.org>")
    with transport(tmp_path, smtp_env(smtp_drop)) as t:
        with pytest.raises(TransientError, match="connexion perdue"):
            t.send(big)
        assert smtp_drop.handler.messages == []
        t.send(big)
    assert len(smtp_drop.handler.messages) == 1
    assert smtp_drop.handler.messages[0].message_id == "<big@sante.example.org>"


def test_a_final_reply_later_than_the_timeout_is_maybe_delivered(tmp_path, smtp_slow):
    with transport(tmp_path, smtp_env(smtp_slow, SMTP_DATA_TIMEOUT="0.2")) as t, \
            pytest.raises(MaybeDeliveredError, match="peut-être été remis"):
        t.send(message())


def test_per_stage_timeouts_follow_rfc_5321_by_default(tmp_path):
    t = transport(tmp_path, {"SMTP_HOST": "relais.example.org"})
    assert (t.timeouts.command, t.timeouts.data_start, t.timeouts.data_block,
            t.timeouts.data_end) == (300, 120, 180, 600)


def test_a_slow_server_within_the_timeout_is_fine(tmp_path):
    with start(Slow(0.2)) as server, transport(tmp_path, smtp_env(server)) as t:
        t.send(message())
        t.send(message("b@example.org"))
        assert len(server.handler.messages) == 2


def test_nobody_listening_is_temporary(tmp_path):
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), "SMTP_SECURITY": "none"}
    with pytest.raises(TransientError, match="impossible"):
        transport(tmp_path, env).open()


def test_starttls_and_auth(tmp_path, tls_files):
    auth = Authenticator("coord", "s3cret-pass")
    with start(Recorder(), tls_context=tls_files.server_context(), require_starttls=True,
               authenticator=auth, auth_required=True) as server:
        env = smtp_env(server, SMTP_SECURITY="starttls", SMTP_USER="coord",
                       SMTP_PASSWORD="s3cret-pass", SMTP_CA_FILE=str(tls_files.cert))
        with transport(tmp_path, env) as t:
            t.send(message())
        assert len(server.handler.messages) == 1
        assert auth.attempts == 1


def test_implicit_tls(tmp_path, tls_files):
    context = tls_files.server_context()
    with start(Recorder(), ssl_context=context) as server:
        env = smtp_env(server, SMTP_SECURITY="tls", SMTP_CA_FILE=str(tls_files.cert))
        with transport(tmp_path, env) as t:
            t.send(message())
        assert len(server.handler.messages) == 1


def test_wrong_credentials_are_a_clear_configuration_error(tmp_path, tls_files):
    auth = Authenticator("coord", "right")
    with start(Recorder(), tls_context=tls_files.server_context(), authenticator=auth,
               auth_required=True) as server:
        env = smtp_env(server, SMTP_SECURITY="starttls", SMTP_USER="coord",
                       SMTP_PASSWORD="wrong-password", SMTP_CA_FILE=str(tls_files.cert))
        with pytest.raises(ConfigError) as caught:
            transport(tmp_path, env).open()
    text = caught.value.message + " ".join(p.format() for p in caught.value.problems)
    assert "Identifiants SMTP refusés" in text and "535" in text
    assert "wrong-password" not in text


def test_starttls_missing_on_the_server_is_refused(tmp_path, smtp_server):
    with pytest.raises(ConfigError, match="STARTTLS"):
        transport(tmp_path, smtp_env(smtp_server, SMTP_SECURITY="starttls")).open()
    assert smtp_server.handler.messages == []


def test_implicit_tls_against_a_plain_server_is_refused(tmp_path, smtp_server):
    with pytest.raises(ConfigError, match="TLS"):
        transport(tmp_path, smtp_env(smtp_server, SMTP_SECURITY="tls")).open()


def test_an_untrusted_certificate_is_refused(tmp_path, tls_files):
    with start(Recorder(), tls_context=tls_files.server_context()) as server, \
            pytest.raises(ConfigError) as caught:
        transport(tmp_path, smtp_env(server, SMTP_SECURITY="starttls")).open()
    assert "certificate" in " ".join(p.message for p in caught.value.problems).lower()


def test_auth_in_clear_is_refused_unless_allowed_on_loopback(tmp_path):
    auth = Authenticator("coord", "pw-for-loopback")
    with start(Recorder(), authenticator=auth, auth_require_tls=False) as server:
        env = smtp_env(server, SMTP_USER="coord", SMTP_PASSWORD="pw-for-loopback")
        with pytest.raises(ConfigError, match="sans chiffrement"):
            transport(tmp_path, env)
        with transport(tmp_path, {**env, "SMTP_ALLOW_PLAIN_LOOPBACK": "true"}) as t:
            t.send(message())
        assert auth.attempts == 1 and len(server.handler.messages) == 1


def test_plain_auth_allowance_does_not_extend_beyond_loopback(tmp_path):
    env = {"SMTP_HOST": "smtp.example.org", "SMTP_SECURITY": "none", "SMTP_USER": "u",
           "SMTP_PASSWORD": "p", "SMTP_ALLOW_PLAIN_LOOPBACK": "true"}
    with pytest.raises(ConfigError, match="sans chiffrement"):
        transport(tmp_path, env)


def test_missing_host_names_the_setting(tmp_path):
    with pytest.raises(ConfigError) as caught:
        transport(tmp_path, {"COMMS_TRANSPORT": "smtp"})
    problem = caught.value.problems[0]
    assert problem.field == "SMTP_HOST" and ".env.example" in problem.hint


def test_missing_password_names_the_setting(tmp_path):
    with pytest.raises(ConfigError) as caught:
        transport(tmp_path, {"SMTP_HOST": "smtp.example.org", "SMTP_USER": "coord"})
    assert caught.value.problems[0].field == "SMTP_PASSWORD"
