"""Crash drill: `comms send --confirm` to a real SMTP server, killed with SIGKILL at random
moments twenty times, then resumed to the end.

Every recipient must receive the issue; nobody unsubscribed may receive anything; a copy
received twice must be the message that was in flight when a kill came (the last one the
server accepted before that kill), with the same Message-ID both times.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import write
from smtp_servers import Recorder, smtp_env, start

from comms.send.journal import UNSUBSCRIBE, Journal

KILLS = 20
PARTNERS = 400
UNSUBSCRIBED_IN_DIRECTORY = 10
UNSUBSCRIBED_IN_JOURNAL = 5
SEED = 20270215


def address(i: int) -> str:
    return f"partenaire{i:03d}@structure{i % 7}.example.org"


def directory() -> tuple[str, set[str]]:
    """The CSV, and who must receive the issue (not those unsubscribed in the directory or,
    below, in the journal)."""
    rows = ["email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on"]
    expected = set()
    for i in range(PARTNERS):
        left = "2026-10-01" if i < UNSUBSCRIBED_IN_DIRECTORY else ""
        rows.append(f"{address(i)};Prénom{i};Nom{i};Structure {i % 7};;newsletter;2026-01-10;{left}")
        if not left and i < PARTNERS - UNSUBSCRIBED_IN_JOURNAL:
            expected.add(address(i))
    return "\n".join(rows) + "\n", expected


def command(root: Path) -> list[str]:
    return [sys.executable, "-m", "comms", "send", "2027-1", "--confirm", "--now", "--root", str(root)]


def wait_for(handler: Recorder, count: int, process: subprocess.Popen, limit: float) -> None:
    deadline = time.monotonic() + limit
    while len(handler.messages) < count and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.002)


def test_kill_nine_twenty_times_then_resume(root: Path):
    text, expected = directory()
    write(root, "content/partners.csv", text)
    rng = random.Random(SEED)
    with start(Recorder()) as server:
        env = smtp_env(server, SMTP_TIMEOUT="10")
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in env.items()))
        with Journal.open(root) as journal:  # unsubscribed by link, still in the directory
            for i in range(PARTNERS - UNSUBSCRIBED_IN_JOURNAL, PARTNERS):
                journal.suppress(address(i), UNSUBSCRIBE, "lien")
        handler = server.handler
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("COMMS_", "SMTP_", "BREVO_"))}
        killed_mid_send = 0
        for round_number in range(KILLS):
            before = len(handler.messages)
            handler.tag = round_number  # messages are traced to the process that sent them
            process = subprocess.Popen(command(root), env=child_env, cwd=root,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if rng.random() < 0.6:  # kill after a random number of accepted messages
                wait_for(handler, before + rng.randint(1, 12), process, limit=10)
                time.sleep(rng.random() * 0.004)
            else:  # kill at a random moment (start-up, planning, sending)
                time.sleep(rng.uniform(0.05, 0.9))
            process.send_signal(signal.SIGKILL)
            process.wait()
            time.sleep(0.05)
            killed_mid_send += len(handler.messages) > before

        handler.tag = "resume"
        final = subprocess.run(command(root), env=child_env, cwd=root, capture_output=True,
                               text=True, timeout=60)
        assert final.returncode == 0, final.stdout + final.stderr
        again = subprocess.run(command(root), env=child_env, cwd=root, capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 0 and "envoyés\u00a0: 0" in again.stdout

    received = handler.by_recipient()
    assert killed_mid_send >= KILLS // 3, "the drill must hit sends in progress"
    assert set(received) == expected, "everyone received it, and nobody unsubscribed did"
    with Journal.open(root) as journal:
        rows = journal.messages("newsletter-2027-1")
    assert {r.status for r in rows.values()} == {"sent"}
    # The message in flight at a kill is the last one the killed process got accepted.
    in_flight = {}
    for m in handler.messages:
        if isinstance(m.tag, int):
            in_flight[m.tag] = m.rcpt_tos[0].lower()
    duplicates = {a: copies for a, copies in received.items() if len(copies) > 1}
    assert len(duplicates) <= KILLS
    for who, copies in duplicates.items():
        assert in_flight.get(copies[0].tag) == who, f"{who} received twice, not in flight"
        assert {c.message_id for c in copies} == {rows[who].message_id}
