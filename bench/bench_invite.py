"""Calendar invitations (iMIP) of one sample meeting to a 500-person audience, written to the
local outbox through the real send loop and journal: messages per second.

Target: 500 messages per second to the outbox. Anchor, measured in the same run: the send
loop writing the same number of prebuilt copies of one invitation to the outbox (what the
loop and the Maildir cost without building any message), each copy under its recipient's
address and Message-ID as in a real run (the outbox keeps one file per recipient and
Message-ID).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from harness import REPO, Bench, Stats, env_with_repo, run_command

AUDIENCE = 500
EVENT = "2027-03-copil"
TODAY = date(2027, 1, 15)
SECRET = "bench-secret-0123456789"


def territory(root: Path) -> None:
    for name in ("comms.yaml", "content", "calendars", "templates"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.is_file():
            shutil.copy(source, root / name)


def child(kind: str, out: Path) -> None:
    from comms.content import load_project
    from comms.directory import Directory, Partner
    from comms.invitations import plan as invitations
    from comms.model import Address
    from comms.send import campaign as campaigns
    from comms.send.campaign import Recipient
    from comms.send.journal import Journal
    from comms.send.message import OutgoingMessage
    from comms.send.transports import get_transport
    from comms.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        territory(root)
        project = load_project(root)
        event = project.event(EVENT)
        lists = invitations.audience_lists(project, event)
        partners = tuple(
            Partner(f"partenaire.{i}@structure{i % 97}.example.org", f"Prénom{i}", f"Nom{i}",
                    f"Structure {i % 97}", "", frozenset(lists), None, None, i + 2)
            for i in range(AUDIENCE))
        directory = Directory(root / "content" / "partners.csv", partners)
        settings = load_settings(root, environ={"COMMS_UNSUBSCRIBE_SECRET": SECRET,
                                                "COMMS_RATE_PER_MINUTE": "0"})
        transport = get_transport("outbox", settings, root)
        with Journal(root / "var" / "comms.sqlite") as journal:
            plans = invitations.plan_invitations(project, directory, journal, TODAY, [event])
            count = sum(len(p.deliveries) for p in plans)
            assert count >= AUDIENCE, count  # the instance's own members come too
            if kind == "invite":
                start = time.perf_counter()
                results = invitations.send_plans(project, plans, journal, transport, settings)
                seconds = time.perf_counter() - start
                assert sum(s.sent for _, _, s in results) == count, results
            else:  # the same loop and outbox, one prebuilt message for everybody
                plan = plans[0]
                version = next(d.version for d in plan.deliveries)
                recipients = invitations.recipients_of(plan, version)
                factory = invitations.InvitationFactory(project, plan.event, version, SECRET,
                                                        None, plan.revisions)
                first = factory(recipients[0], "<bench@example.org>")
                data = first.as_bytes()
                campaign = invitations.campaign_of(project, plan, version)

                def prebuilt(recipient: Recipient, mid: str) -> OutgoingMessage:
                    # The same bytes, under each recipient's address and Message-ID, as the
                    # loop and the outbox require (one file per recipient and Message-ID).
                    return OutgoingMessage(first.sender, Address(recipient.name,
                                                                 recipient.email),
                                           first.subject, "", message_id=mid,
                                           raw=lambda: data, checked=True)

                start = time.perf_counter()
                summary = campaigns.run(journal, campaign, recipients, prebuilt, transport,
                                        settings)
                seconds = time.perf_counter() - start
                assert summary.sent == len(recipients), summary
                count = len(recipients)
    out.write_text(f"{count / seconds}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return
    bench = Bench("invite", f"Invitations: {AUDIENCE} attendees of {EVENT} to the outbox")
    invite, prebuilt = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        for _ in range(bench.repeat):
            for kind, series in (("invite", invite), ("prebuilt", prebuilt)):
                run_command([sys.executable, __file__, "--child", kind, str(out)],
                            env={**env_with_repo(), "HOME": os.environ.get("HOME", tmp)})
                series.append(float(out.read_text()))
    bench.figure(f"invitations to {AUDIENCE} attendees", Stats(tuple(invite), "msg/s"),
                 anchor=("same loop, one prebuilt message", Stats(tuple(prebuilt), "msg/s")),
                 value_min=500)
    bench.finish()


if __name__ == "__main__":
    main()
