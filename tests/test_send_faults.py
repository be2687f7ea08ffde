"""Faults of the relay never turn into mass suppression, duplicates or silent loss: a relay
refusing everyone (5.7.1), the same refusal for several recipients in a row, a final DATA
reply that comes too late, a connection closed after the whole message was sent; lifting a
suppression with its reason recorded; suppressions by reason in the report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import write
from smtp_servers import LateReply, RefuseRecipients, RefuseRelay, smtp_env, start
from test_send import CAMPAIGN, PARTNERS, SECRET, cli, people, send

from comms.send.journal import BOUNCE, Journal
from comms.send.transports.base import PermanentError, PolicyRefusal
from comms.send.transports.smtp import ADDRESS, OTHER, POLICY, classify


def journal_of(folder: Path) -> Journal:
    return Journal(folder / "var" / "comms.sqlite")


@pytest.mark.parametrize(("code", "text", "kind"), [
    (550, "5.1.1 <a@b.fr>: Recipient address rejected: User unknown", ADDRESS),
    (550, "5.2.1 Mailbox disabled", ADDRESS),
    (554, "5.7.1 <a@b.fr>: Relay access denied", POLICY),
    (550, "5.7.1 Client host rejected: access denied", POLICY),
    (553, "5.1.8 Sender address rejected", POLICY),
    (552, "5.3.4 Message size exceeds fixed limit", OTHER),
    (554, "Relay access denied", POLICY),
    (550, "relay not permitted", POLICY),
    (530, "Authentication required", POLICY),
    (550, "No such user here", ADDRESS),
])
def test_refusals_are_sorted_by_their_enhanced_status_code(code, text, kind):
    assert classify(code, text) == kind


def test_a_relay_refusing_everyone_suppresses_nobody_and_stops(tmp_path, smtp_relay_denied):
    summary, rows = send(tmp_path, smtp_env(smtp_relay_denied), people(8))
    assert summary.sent == 0 and not summary.ok
    assert "Relay access denied" in summary.stopped and "Personne" in summary.stopped
    assert "SMTP_USER" in summary.check and "sender.email" in summary.check
    assert smtp_relay_denied.handler.rcpt_commands == 1  # stopped at the first refusal
    assert summary.remaining == 8 and summary.failed == []
    assert {r.status for r in rows.values()} == {"pending"}
    with journal_of(tmp_path) as journal:
        assert journal.suppressed() == {}


def test_the_relay_refusal_through_the_command_exits_non_zero(tmp_path, root):
    write(root, "content/partners.csv", PARTNERS)
    with start(RefuseRelay()) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
    assert result.exit_code == 1
    assert "Envoi arrêté" in result.output and "5.7.1" in result.output
    assert "SMTP_USER" in result.output and "envoyés\u00a0: 0" in result.output
    with Journal.open(root) as journal:  # only the directory's own unsubscribe
        assert {s.reason for s in journal.suppressed().values()} == {"unsubscribe"}
        assert {r.status for r in journal.messages("newsletter-2027-1").values()} == {"pending"}
    # Once the relay is right, the same command sends everything.
    with start(RefuseRecipients(set())) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
        assert result.exit_code == 0, result.output
        assert len(server.handler.messages) == 3


def test_the_same_refusal_for_several_recipients_in_a_row_suppresses_none(tmp_path):
    everyone = {f"p{i}@example.org" for i in range(6)}
    with start(RefuseRecipients(everyone)) as server:
        summary, rows = send(tmp_path, smtp_env(server), people(6))
        assert len(server.handler.messages) == 0
    assert "3 destinataires de suite refusés" in summary.stopped
    assert summary.check and summary.failed == [] and summary.remaining == 6
    assert {r.status for r in rows.values()} == {"pending"}
    with journal_of(tmp_path) as journal:
        assert journal.suppressed() == {}


def test_address_refusals_among_deliveries_are_bounces(tmp_path):
    refused = {"p1@example.org", "p2@example.org", "p5@example.org"}
    with start(RefuseRecipients(refused)) as server:
        summary, _ = send(tmp_path, smtp_env(server), people(6))
        assert len(server.handler.messages) == 3
    assert summary.sent == 3 and not summary.stopped
    assert sorted(a for a, _ in summary.failed) == sorted(refused)
    with journal_of(tmp_path) as journal:
        assert set(journal.suppressed()) == refused
        assert {s.reason for s in journal.suppressed().values()} == {BOUNCE}


def test_the_transport_tells_a_policy_refusal_from_a_bounce(tmp_path, smtp_relay_denied):
    from test_transports_smtp import message, transport

    with transport(tmp_path, smtp_env(smtp_relay_denied)) as t:
        with pytest.raises(PolicyRefusal, match="Relay access denied") as caught:
            t.send(message())
        assert "SMTP_PASSWORD" in caught.value.check
    with start(RefuseRecipients({"gone@example.org"})) as server, \
            transport(tmp_path, smtp_env(server)) as t:
        with pytest.raises(PermanentError) as refused:
            t.send(message("gone@example.org"))
        assert refused.value.bounce and "gone@example.org" not in refused.value.reply


# --- lifting a suppression and the report ------------------------------------------------------

def test_unsuppress_lifts_a_bounce_and_keeps_the_reason(tmp_path, root):
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    with Journal.open(root) as journal:
        journal.suppress("anne.durand@mairie.example.org", BOUNCE, "smtp", "550 5.1.1")
    result = cli("unsuppress", "Anne.Durand@mairie.example.org", "--reason",
                 "boîte rétablie, confirmé par téléphone", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "peut de nouveau recevoir" in result.output and "échec définitif" in result.output
    with Journal.open(root) as journal:
        assert journal.suppression("anne.durand@mairie.example.org") is None
        lifts = journal.db.execute("SELECT email, reason, why FROM suppression_lifts").fetchall()
    assert [tuple(r) for r in lifts] == [("anne.durand@mairie.example.org", "bounce",
                                          "boîte rétablie, confirmé par téléphone")]
    again = cli("unsuppress", "anne.durand@mairie.example.org", "--reason", "x",
                "--root", str(root))
    assert again.exit_code == 0 and "rien à faire" in again.output
    missing = cli("unsuppress", "anne.durand@mairie.example.org", "--root", str(root))
    assert missing.exit_code != 0 and "--reason" in missing.output


def test_report_shows_suppressions_by_reason_and_lifts(tmp_path, root):
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    with Journal.open(root) as journal:
        journal.now = lambda: "2027-03-01T10:00:00+00:00"
        journal.suppress("a@example.org", BOUNCE, "smtp")
        journal.suppress("b@example.org", BOUNCE, "smtp")
        journal.suppress("c@example.org", "unsubscribe", "lien")
        journal.lift_suppression("b@example.org", "adresse corrigée")
    assert cli("report", "2027", "--root", str(root)).exit_code == 0
    rows = list(csv.reader((root / "build" / "rapport-2027.csv")
                           .read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    values = {r[1]: (r[2], r[4]) for r in rows[1:]}
    assert values["Adresses en échec définitif"][0] == "1"
    assert values["Désinscriptions"][0] == "1"
    assert values["Exclusions levées"] == ("1", "1 échec définitif")


# --- lost final replies ------------------------------------------------------------------------

def test_a_late_final_reply_is_maybe_delivered_never_repeated(tmp_path):
    with start(LateReply(0.4)) as server:
        env = smtp_env(server, SMTP_DATA_TIMEOUT="0.1")
        first, rows = send(tmp_path, env, people(2))
        second, _ = send(tmp_path, env, people(2))
        copies = server.handler.by_recipient()
    assert first.sent == 0 and not first.ok and first.failed == []
    assert [a for a, _ in first.maybe_delivered] == ["p0@example.org", "p1@example.org"]
    assert all(rows[a].attempts == 1 and rows[a].status == "failed" for a in rows)
    assert second.sent == 0 and second.skipped["peut-être déjà remis"] == 2
    assert {a: len(c) for a, c in copies.items()} == {"p0@example.org": 1, "p1@example.org": 1}


def test_a_close_after_the_message_is_maybe_delivered_across_two_runs(
        tmp_path, smtp_close_after_message):
    server = smtp_close_after_message
    first, _ = send(tmp_path, smtp_env(server), people(4))
    second, _ = send(tmp_path, smtp_env(server), people(4))
    assert first.sent == 2 and len(first.maybe_delivered) == 2
    assert second.sent == 0 and second.skipped["peut-être déjà remis"] == 2
    copies = {a: len(c) for a, c in server.handler.by_recipient().items()}
    assert copies == {f"p{i}@example.org": 1 for i in range(4)}


def test_a_reset_after_the_whole_message_is_maybe_delivered_across_two_runs(tmp_path):
    """A proxy or a relay that resets the connection (RST, not a clean close) once it has
    the whole message: the message may well be delivered, so it is never repeated."""
    from smtp_servers import start_dropping

    with start_dropping(drops=2, after_message=True, reset=True) as server:
        first, _ = send(tmp_path, smtp_env(server), people(4))
        second, _ = send(tmp_path, smtp_env(server), people(4))
        copies = {a: len(c) for a, c in server.handler.by_recipient().items()}
    assert first.sent == 2 and len(first.maybe_delivered) == 2
    assert second.sent == 0 and second.skipped["peut-être déjà remis"] == 2
    assert copies == {f"p{i}@example.org": 1 for i in range(4)}


def test_maybe_delivered_is_resent_only_on_request(tmp_path, root):
    from smtp_servers import start_dropping

    write(root, "content/partners.csv", PARTNERS)
    with start_dropping(drops=1, after_message=True) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        first = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
        assert first.exit_code == 1 and "peut-être remis" in first.output
        again = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
        assert again.exit_code == 0 and "envoyés\u00a0: 0" in again.output
        assert len(server.handler.messages) == 3
        plan = cli("send", "2027-1", "--resend-maybe-delivered", "--root", str(root))
        assert "1 message peut-être remis" in plan.output
        resent = cli("send", "2027-1", "--confirm", "--now", "--resend-maybe-delivered",
                     "--root", str(root))
        assert resent.exit_code == 0 and "envoyés\u00a0: 1" in resent.output
        by = server.handler.by_recipient()
    assert sorted(len(c) for c in by.values()) == [1, 1, 2]
    twice = next(c for c in by.values() if len(c) == 2)
    assert twice[0].message_id == twice[1].message_id  # the same message, not a new one
    assert CAMPAIGN.id == "newsletter-2027-1"


def test_an_invitation_maybe_delivered_is_resent_only_on_request(root):
    from smtp_servers import start_dropping

    with start_dropping(drops=1, after_message=True) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))

        def invite(*extra: str):
            return cli("invite", "2027-03-copil", "--confirm", *extra, "--root", str(root),
                       "--today", "2027-02-01")

        first = invite()
        assert first.exit_code == 1 and "peut-être remis" in first.output
        assert len(server.handler.messages) == 2  # both attendees, one reply lost
        again = invite()
        assert again.exit_code == 0 and len(server.handler.messages) == 2
        resent = invite("--resend-maybe-delivered")
        assert resent.exit_code == 0, resent.output
        copies = sorted(len(c) for c in server.handler.by_recipient().values())
    assert copies == [1, 2]


@pytest.mark.parametrize("command", [("invite", "--confirm"), ("due", "--run", "--confirm")])
def test_a_configuration_stop_ends_every_later_campaign_of_the_command(root, command):
    """The copil's invitees refused with the same reply prove the relay refuses everyone:
    the working group's lone invitee, in the next campaign, is neither tried nor
    suppressed."""
    header = "email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on\n"
    copil = [f"membre{i}@copil.example.org" for i in range(4)]
    write(root, "content/partners.csv", header + "".join(
        f"{a};Prénom;Nom;Org;;copil;2026-01-10;\n" for a in copil)
        + "seule@gt.example.org;Prénom;Nom;Org;;gt-logement;2026-01-10;\n")
    with start(RefuseRecipients({*copil, "seule@gt.example.org"})) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        today = "--today" if command[0] == "invite" else "--date"
        result = cli(*command, "--root", str(root), today, "2027-02-01")
    assert result.exit_code == 1, result.output
    assert "3 destinataires de suite refusés" in result.output
    assert "2027-04-gt ·" not in result.output  # never attempted
    with Journal.open(root) as journal:
        assert journal.suppressed() == {}
