"""The send loop's fast path: messages dot-stuffed once per campaign for their static parts,
bodies built only for the transports that read them, one journal commit per message with
the kill-and-resume guarantee intact."""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from factories import PARIS, make_site
from smtp_servers import Recorder, smtp_env, start

from comms.model import Address
from comms.send import campaign as campaigns
from comms.send.campaign import Campaign, Recipient
from comms.send.journal import SENDING, SENT, Journal
from comms.send.message import OutgoingMessage, dot_stuff
from comms.send.personalize import GREETING_MARK, UNSUBSCRIBE_MARK, MessageTemplate
from comms.send.transports import get_transport
from comms.send.transports.outbox import OutboxTransport
from comms.settings import load_settings

SECRET = "test-secret-0123456789abcdef"
# Dots at the start of lines everywhere: in static text, right after a marker, at a
# quoted-printable soft break inside a long line, and a lone dot (which SMTP would read as
# the end of the data if it were not doubled).
TEXT = (f".Premier point.\n{GREETING_MARK}\n.\n..deux points\n" + "x" * 75 + ".suite\n"
        f"{UNSUBSCRIBE_MARK}\n.fin\n")
HTML = ("<p>" + "a" * 74 + ".b" + "c" * 200 + f"</p>{GREETING_MARK}.<p>\n.</p>"
        f'<a href="{UNSUBSCRIBE_MARK}">.lien</a>' + ".x" * 300 + "\n")


def template() -> MessageTemplate:
    site = make_site()
    return MessageTemplate(subject="Lettre n°\u00a01", html_body=HTML, text_body=TEXT,
                           sender=site.sender, reply_to=site.reply_to,
                           list_id='"La Lettre" <newsletter.sante.example.org>', zone=PARIS)


def personalised(tmpl: MessageTemplate, i: int = 0, name: str = "") -> OutgoingMessage:
    # A name long enough for the greeting to wrap, with dots where lines may start.
    name = name or "." + "Élodie." * (i % 13 + 1)
    url = "https://sante.example.org/desinscription?t=" + "." * (i % 7) + "abc" * 30
    return tmpl.personalize(
        to=Address("Élodie Durand", f"elodie{i}@exemple.fr"), greeting=f"Bonjour {name},",
        unsubscribe_url=url, list_unsubscribe=f"<{url}>, <mailto:d@example.org?subject=x>",
        message_id=f"<m{i}@example.org>")


def without_date(data: bytes) -> bytes:
    return b"\r\n".join(line for line in data.split(b"\r\n") if not line.startswith(b"Date:"))


@pytest.mark.parametrize("i", range(14))
def test_stuffed_bytes_are_what_smtplib_would_send(i):
    message = personalised(template(), i)
    raw = message.as_bytes()
    assert b"\r\n." in raw  # the case is exercised
    expected = smtplib._quote_periods(raw)
    assert without_date(message.smtp_data()) == without_date(expected)


def test_generic_messages_are_stuffed_too():
    message = OutgoingMessage(Address("S", "s@example.org"), Address("", "a@example.org"),
                              "Objet", ".début\n.\nfin")
    raw = message.as_bytes()
    assert raw.endswith(b"\r\n") and b"\r\n..d" not in raw
    assert without_date(message.smtp_data()) == without_date(smtplib._quote_periods(raw))


@pytest.mark.parametrize("data, expected", [
    (b".a\r\n.\r\nb", b"..a\r\n..\r\nb\r\n"),
    (b"a\nb\r.c\r\n", b"a\r\nb\r\n..c\r\n"),
    (b"", b"\r\n"),
])
def test_dot_stuff(data, expected):
    assert dot_stuff(data) == expected


def test_smtp_server_receives_the_message_unchanged():
    tmpl = template()
    messages = [personalised(tmpl, i) for i in range(5)]
    with start(Recorder()) as server:
        settings = load_settings(Path("/nonexistent"), environ=smtp_env(server))
        transport = get_transport("smtp", settings, Path("/nonexistent"))
        with transport:
            sent = []
            for message in messages:
                transport.send(message)
                sent.append(message.as_bytes())
    received = [m.data for m in server.handler.messages]
    assert [without_date(r) for r in received] == [without_date(s) for s in sent]
    bodies = [m.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
              for m in server.handler.messages]
    assert all(b.startswith(".Premier point.\n") and ".fin\n" in b for b in bodies)


class Untouchable:
    """A body that must not be built."""

    def __call__(self) -> str:
        raise AssertionError("a body was built that the transport does not read")


def test_smtp_and_outbox_never_build_the_text_and_html_strings(tmp_path):
    tmpl = template()
    first = personalised(tmpl, 1)
    message = OutgoingMessage(
        first.sender, first.to, first.subject, Untouchable(), Untouchable(),
        message_id=first.message_id, headers=first.headers, raw=first.raw,
        stuffed=first.stuffed, checked=True)
    with start(Recorder()) as server:
        settings = load_settings(tmp_path, environ=smtp_env(server))
        with get_transport("smtp", settings, tmp_path) as transport:
            transport.send(message)
    assert len(server.handler.messages) == 1
    with OutboxTransport(tmp_path / "outbox") as outbox:
        outbox.send(message)
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1


def test_bodies_given_as_functions_are_built_once_on_first_read():
    calls = []

    def text() -> str:
        calls.append(1)
        return "corps"

    message = OutgoingMessage(Address("S", "s@example.org"), Address("", "a@example.org"),
                              "Objet", text)
    assert calls == []
    assert message.text == "corps" and message.text == "corps"
    assert calls == [1]
    assert personalised(template()).text.startswith(".Premier point.\nBonjour .Élodie.,")


# --- the journal: one commit per message ------------------------------------------------------

def campaign() -> Campaign:
    return Campaign("newsletter-2027-1", "newsletter", "2027-1", "newsletter", 2027, "Lettre",
                    "sante.example.org")


def test_one_commit_per_message(tmp_path):
    count = 30
    tmpl = template()
    recipients = [Recipient(f"p{i}@example.org", f"P {i}") for i in range(count)]
    settings = load_settings(tmp_path, environ={"COMMS_UNSUBSCRIBE_SECRET": SECRET,
                                               "COMMS_RATE_PER_MINUTE": "0"})
    statements: list[str] = []
    with Journal(tmp_path / "var" / "comms.sqlite") as journal:
        journal.db.set_trace_callback(statements.append)
        summary = campaigns.run(journal, campaign(), recipients,
                                lambda r, mid: personalised(tmpl, 0), OutboxTransport(
                                    tmp_path / "outbox"), settings)
        journal.db.set_trace_callback(None)
        assert summary.sent == count
        assert {r.status for r in journal.messages("newsletter-2027-1").values()} == {SENT}
    updates = [s for s in statements if s.startswith("UPDATE messages")]
    # Every UPDATE outside an explicit transaction commits (and syncs) on its own.
    commits = sum(s == "COMMIT" for s in statements)
    autocommits = 0
    in_transaction = False
    for s in statements:
        if s.startswith("BEGIN"):
            in_transaction = True
        elif s in ("COMMIT", "ROLLBACK"):
            in_transaction = False
        elif s.startswith(("UPDATE", "INSERT", "DELETE")) and not in_transaction:
            autocommits += 1
    assert len(updates) == 2 * count  # sending and sent for each
    assert commits + autocommits <= count + 3  # planning, the first `sending`, the last `sent`


HOLD_THEN_DIE = """
import os, sqlite3, sys
from pathlib import Path
from comms.send.journal import Journal
journal = Journal(Path(sys.argv[1]))
other = sqlite3.connect(sys.argv[1])  # another process reading the journal
query = "SELECT status FROM messages WHERE recipient = 'a@example.org'"
journal.record_campaign("c", kind="newsletter", ref="r", scope="s", year=2027, subject="x")
journal.add_messages("c", [("a@example.org", "<a@x>"), ("b@example.org", "<b@x>")])
journal.mark_sending("c", "a@example.org", "smtp")
journal.mark_sent("c", "a@example.org", "", hold=True)
print(other.execute(query).fetchone()[0], flush=True)
if sys.argv[2] == "next":
    journal.mark_sending("c", "b@example.org", "smtp")
    print(other.execute(query).fetchone()[0], flush=True)
os._exit(0)  # no close, no commit: as a kill -9
"""


def test_a_held_sent_is_committed_with_the_next_sending(tmp_path):
    path = tmp_path / "comms.sqlite"
    out = subprocess.run([sys.executable, "-c", HOLD_THEN_DIE, str(path), "next"],
                         capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.split() == [SENDING, SENT]
    with Journal(path) as journal:
        assert journal.message("c", "a@example.org").status == SENT
        assert journal.message("c", "b@example.org").status == SENDING


def test_a_kill_before_the_next_message_leaves_the_message_in_flight(tmp_path):
    path = tmp_path / "comms.sqlite"
    out = subprocess.run([sys.executable, "-c", HOLD_THEN_DIE, str(path), "die"],
                         capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.split() == [SENDING]
    with Journal(path) as journal:  # sent again on resume, with its Message-ID
        row = journal.message("c", "a@example.org")
        assert (row.status, row.message_id) == (SENDING, "<a@x>")


def test_closing_the_journal_commits_a_held_sent(tmp_path):
    path = tmp_path / "comms.sqlite"
    with Journal(path) as journal:
        journal.record_campaign("c", kind="newsletter", ref="r", scope="s", year=2027,
                                subject="x")
        journal.add_messages("c", [("a@example.org", "<a@x>")])
        journal.mark_sending("c", "a@example.org", "smtp")
        journal.mark_sent("c", "a@example.org", "id-1", hold=True)
    with Journal(path) as journal:
        assert journal.message("c", "a@example.org").status == SENT


def test_a_rate_limited_run_commits_before_each_pause(tmp_path):
    tmpl = template()
    recipients = [Recipient(f"p{i}@example.org") for i in range(3)]
    settings = load_settings(tmp_path, environ={"COMMS_UNSUBSCRIBE_SECRET": SECRET,
                                               "COMMS_RATE_PER_MINUTE": "60"})
    path = tmp_path / "var" / "comms.sqlite"
    seen = []

    def sleep(seconds: float) -> None:  # during a pause, another reader sees `sent`
        with Journal(path) as other:
            seen.append(sorted(r.status for r in other.messages(campaign().id).values()))

    class Outbox(OutboxTransport):
        rate_limited = True

    with Journal(path) as journal:
        campaigns.run(journal, campaign(), recipients, lambda r, mid: personalised(tmpl),
                      Outbox(tmp_path / "outbox"), settings, sleep=sleep,
                      clock=lambda: 0.0)  # time stands still: a pause before each message
    assert seen == [["pending", "pending", "sent"], ["pending", "sent", "sent"]]


def test_a_caller_transaction_around_journal_changes_stays_the_caller_s(tmp_path):
    with Journal(tmp_path / "comms.sqlite") as journal:
        journal.db.execute("BEGIN IMMEDIATE")
        journal.suppress("a@example.org", "unsubscribe", "lien")
        journal.db.execute("ROLLBACK")
        assert journal.suppression("a@example.org") is None
