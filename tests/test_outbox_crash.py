"""Crash drill of the outbox, which makes its deposits durable a batch at a time:
`comms invite --confirm` to the default outbox, killed with SIGKILL at random moments, then
resumed to the end.

After every kill, each message the journal records as deposited has its file in
var/outbox/new. At the end, each attendee has exactly one file (a batch deposited again
after a kill replaces its own files, named after Message-ID and recipient), under the
Message-ID the journal holds; nobody suppressed or unsubscribed has any; tmp/ is empty.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import icalendar
from conftest import write
from test_invitations import PARTNERS_HEADER, TODAY, copil

from comms.send.journal import UNSUBSCRIBE, Journal
from comms.send.transports.outbox import OutboxTransport, file_name

KILLS = 8
PEOPLE = 500  # about eight batches of the outbox
UNSUBSCRIBED_IN_DIRECTORY = 4
UNSUBSCRIBED_IN_JOURNAL = 5
SEED = 20270115
SECRET = "test-secret-0123456789abcdef"


def address(i: int) -> str:
    return f"p{i:03d}@structure{i % 7}.example.org"


def territory(root: Path) -> tuple[set[str], set[str]]:
    """(who must get the invitation, who must not)."""
    rows = [PARTNERS_HEADER.strip()]
    for i in range(PEOPLE):
        left = "2026-10-01" if i < UNSUBSCRIBED_IN_DIRECTORY else ""
        rows.append(f"{address(i)};Prénom{i};Nom{i};S;;copil;2026-01-10;{left}")
    write(root, "content/partners.csv", "\n".join(rows) + "\n")
    write(root, "calendars/events/2027-03-copil.md", copil(extra=address(PEOPLE - 1)))
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    excluded = {address(i) for i in range(UNSUBSCRIBED_IN_DIRECTORY)} | {
        address(i) for i in range(PEOPLE - UNSUBSCRIBED_IN_JOURNAL, PEOPLE)}
    return {address(i) for i in range(PEOPLE)} - excluded, excluded


def deposited_rows(root: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(campaign, recipient) -> (status, message_id, provider_id) of outbox rows."""
    with Journal.open(root) as journal:
        return {(r["campaign"], r["recipient"]): (r["status"], r["message_id"],
                                                 r["provider_id"])
                for r in journal.db.execute("SELECT * FROM messages WHERE campaign LIKE "
                                            "'invite-2027-03-copil-%'")}


def test_kill_nine_during_outbox_deposits_then_resume(root: Path):
    expected, excluded = territory(root)
    with Journal.open(root) as journal:  # unsubscribed by link, still in the directory
        for i in range(PEOPLE - UNSUBSCRIBED_IN_JOURNAL, PEOPLE):
            journal.suppress(address(i), UNSUBSCRIBE, "lien")
    new = root / "var" / "outbox" / "new"
    command = [sys.executable, "-m", "comms", "invite", "2027-03-copil", "--confirm",
               "--root", str(root), "--today", TODAY]
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    rng = random.Random(SEED)
    hit = in_flight = 0
    for _ in range(KILLS):
        before = len(os.listdir(new)) if new.is_dir() else 0
        process = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        wanted = before + rng.randint(1, 100)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline and (
                not new.is_dir() or len(os.listdir(new)) < wanted):
            time.sleep(0.002)
        time.sleep(rng.random() * 0.06)
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = len(os.listdir(new)) if new.is_dir() else 0
        hit += before < after < len(expected)
        # The journal never says deposited for a file that is not there; a batch left
        # `sending` (its files in tmp/ or already in new/) is deposited again next run.
        for (_campaign, who), (status, mid, _name) in deposited_rows(root).items():
            if status == "sent":
                assert (new / file_name(mid, who)).is_file(), who
            in_flight += status == "sending"
        if after == len(expected):
            break
    assert hit >= KILLS // 3, "the drill must kill runs in the middle of their deposits"
    assert in_flight, "the drill must kill runs while a batch is being deposited"
    final = subprocess.run(command, env=child_env, capture_output=True, text=True,
                           timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    again = subprocess.run(command, env=child_env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and "Rien à envoyer" in again.stdout, again.stdout

    rows = deposited_rows(root)
    received: dict[str, list[email.message.EmailMessage]] = {}
    for path in new.iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        who = msg["To"].addresses[0].addr_spec
        received.setdefault(who, []).append(msg)
        status, message_id, name = rows[(next(c for c, r in rows if r == who), who)]
        assert (status, name) == ("sent", path.name)
        assert msg["Message-ID"] == message_id and path.name == file_name(message_id, who)
        assert msg["Delivered-To"] == who
        part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
        (vevent,) = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
        assert str(vevent["ATTENDEE"]) == f"mailto:{who}"
    assert set(received) == expected  # everyone, and nobody unsubscribed or suppressed
    assert not set(received) & excluded
    assert all(len(copies) == 1 for copies in received.values())  # never twice
    assert list((root / "var" / "outbox" / "tmp").iterdir()) == []


def test_a_message_sent_twice_in_one_batch_keeps_one_file(tmp_path):
    """The same message and recipient handed over twice before a flush: one file, the
    second copy."""
    from comms.model import Address
    from comms.send.message import OutgoingMessage

    def message(subject: str) -> OutgoingMessage:
        return OutgoingMessage(Address("S", "s@example.org"), Address("", "a@example.org"),
                               subject, "corps", message_id="<m@example.org>")

    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.open()
    outbox.send(message("Premier"))
    outbox.send(message("Second"))
    other = OutgoingMessage(Address("S", "s@example.org"), Address("", "b@example.org"),
                            "Premier", "corps", message_id="<m@example.org>")
    outbox.send(other)  # the same Message-ID to another recipient: its own file
    outbox.flush()
    outbox.close()
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 2
    subjects = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)[
        "Subject"] for p in files}
    assert subjects == {"Second", "Premier"}


def test_an_address_suppressed_during_a_run_gets_nothing_from_the_later_batches(tmp_path):
    """An unsubscribe recorded while the outbox deposits (another process: the web app)
    is read before each batch is built: that address gets nothing afterwards."""
    from comms.model import Address
    from comms.send import campaign as campaigns
    from comms.send.campaign import Campaign, Recipient
    from comms.send.message import OutgoingMessage
    from comms.settings import load_settings

    people = [f"p{i:03d}@example.org" for i in range(3 * OutboxTransport.batch)]
    late = people[2 * OutboxTransport.batch - 1]  # in a later batch than the unsubscribe
    path = tmp_path / "var" / "comms.sqlite"

    def factory(recipient: Recipient, mid: str) -> OutgoingMessage:
        if recipient.email == people[1]:  # the web app records an unsubscribe meanwhile
            with Journal(path) as other:
                other.suppress(late, UNSUBSCRIBE, "lien")
        return OutgoingMessage(Address("S", "s@example.org"), Address("", recipient.email),
                               "Objet", "corps", message_id=mid)

    settings = load_settings(tmp_path, environ={"COMMS_UNSUBSCRIBE_SECRET": SECRET,
                                               "COMMS_RATE_PER_MINUTE": "0"})
    campaign = Campaign("newsletter-2027-1", "newsletter", "2027-1", "newsletter", 2027,
                        "Lettre", "sante.example.org")
    with Journal(path) as journal:
        summary = campaigns.run(journal, campaign, [Recipient(p) for p in people], factory,
                                OutboxTransport(tmp_path / "outbox"), settings)
        rows = journal.messages(campaign.id)
    assert summary.sent == len(people) - 1 and sum(summary.skipped.values()) == 1
    assert rows[late].status == "skipped"
    files = list((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == len(people) - 1
    assert all(not p.read_bytes().startswith(f"Delivered-To: {late}".encode()) for p in files)
