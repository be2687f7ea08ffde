"""A trial through the default outbox is never a delivery: invitations deposited in
var/outbox are sent for real by the next run through SMTP (a real aiosmtpd server), once."""

from __future__ import annotations

import email
import email.policy

import icalendar
from cli_runner import cli
from smtp_servers import smtp_env

TODAY = "2027-01-10"



def deposited(root):
    folder = root / "var" / "outbox" / "new"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.iterdir())] if folder.is_dir() else []


def sequence_of(msg) -> tuple[str, int]:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    (event,) = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    return str(event["UID"]), int(event["SEQUENCE"])


def test_invitations_tried_in_the_outbox_then_sent_over_smtp_once(root, smtp_server):
    args = ("invite", "2027-03-copil", "--root", str(root), "--today", TODAY)
    dry = cli(*args)
    assert "déposés dans var/outbox\u00a0: rien ne partirait" in dry.output
    assert "Ce ne serait qu’un essai" in dry.output and "était" not in dry.output
    trial = cli(*args, "--confirm")
    assert trial.exit_code == 0, trial.output
    assert "déposés dans var/outbox\u00a0: rien n’est parti" in trial.output
    tried = {m["To"].addresses[0].addr_spec: sequence_of(m) for m in deposited(root)}
    assert len(tried) >= 2
    # A second trial deposits nothing more.
    assert cli(*args, "--confirm").exit_code == 0
    assert len(deposited(root)) == len(tried)

    env = smtp_env(smtp_server)
    real = cli(*args, "--confirm", env=env)
    assert real.exit_code == 0, real.output
    got = [m.message for m in smtp_server.handler.messages]
    assert {m["To"].addresses[0].addr_spec: sequence_of(m) for m in got} == tried
    assert len(got) == len(tried)  # each partner once, as the first version (SEQUENCE 0)
    again = cli(*args, "--confirm", env=env)
    assert again.exit_code == 0 and len(smtp_server.handler.messages) == len(tried)
    assert "toutes les invitations sont à jour" in again.output


def report_rows(root) -> dict[str, tuple[str, str]]:
    import csv

    text = (root / "build" / "rapport-2027.csv").read_text(encoding="utf-8-sig")
    return {r[1]: (r[2], r[4]) for r in list(csv.reader(text.splitlines(), delimiter=";"))[1:]}


def test_invitations_only_deposited_are_neither_reported_nor_awaiting_answers(root,
                                                                              smtp_server):
    args = ("invite", "2027-03-copil", "--root", str(root), "--today", TODAY)
    assert cli(*args, "--confirm").exit_code == 0  # the outbox trial
    tried = {m["To"].addresses[0].addr_spec for m in deposited(root)}
    assert cli("report", "2027", "--root", str(root)).exit_code == 0
    rows = report_rows(root)
    assert all(value == "0" for label, (value, _detail) in rows.items()
               if label.startswith("Invitations envoyées")), rows
    assert not any(detail.endswith("envois") or detail.endswith("envoi")
                   for label, (_value, detail) in rows.items()
                   if label.startswith("Invitations envoyées")), rows
    waiting = cli("rsvp", "2027-03-copil", "--root", str(root))
    assert not any(address in waiting.output for address in tried), waiting.output

    assert cli(*args, "--confirm", env=smtp_env(smtp_server)).exit_code == 0
    assert cli("report", "2027", "--root", str(root)).exit_code == 0
    rows = report_rows(root)
    assert rows["Invitations envoyées (personnes) — Comité de pilotage"][0] == str(len(tried))
    assert rows["Invitations envoyées — Comité de pilotage"] == (str(len(tried)), "1 envoi")
    waiting = cli("rsvp", "2027-03-copil", "--root", str(root))
    assert all(address in waiting.output for address in tried), waiting.output
