"""Reading a mailbox's backlog: classify 1,000 mails of the shapes `comms inbox` meets
(the five clients' REPLYs, DSNs, auto-replies, unsubscribes, other mail), beside the floor of
parsing the same bytes with the standard library's `email` parser alone.

Target: classifying costs less than 8 times the bare parse (the iCalendar and DSN readers on
top of it), and stays under 2.5 s for 1,000 mails (a coordinator's mailbox gets tens a day;
the first run on a years-old mailbox reads thousands).
"""

from __future__ import annotations

import email
import email.policy
import sys

from harness import REPO, Bench, time_call

sys.path.insert(0, str(REPO / "tests"))  # the mail shapes the tests build

import inbox_mail as mails
from inbox_mail import Reply

from comms.inbox.classify import classify

COUNT = 1000
UID = "2027-03-copil@sante.example.org"


def backlog() -> list[bytes]:
    shapes = []
    for i, build in enumerate(mails.CLIENTS.values()):
        shapes.append(build(Reply(UID, f"p{i}@structure.example.org", "ACCEPTED")))
    shapes += [mails.postfix_dsn("x@dead.example.org", "<m@s>"),
               mails.exchange_ndr("y@dead.example.org", "<m@s>"),
               mails.gmail_delayed("z@full.example.org", "<m@s>"),
               mails.qmail_bounce("q@old.example.net"),
               mails.out_of_office("a@b.example.org"), mails.absence("a@b.example.org"),
               mails.unsubscribe_mail("a@b.example.org", "A" * 86),
               mails.unrelated("a@b.example.org")]
    return [shapes[i % len(shapes)] for i in range(COUNT)]


def main() -> None:
    bench = Bench("inbox", "Classifying a mailbox backlog")
    data = backlog()
    bench.say(f"{COUNT:,} mails, {sum(map(len, data)) / 1024:.0f} KB, "
              f"{len(set(data))} shapes")
    floor = time_call(lambda: [email.message_from_bytes(d, policy=email.policy.compat32)
                               for d in data], bench.repeat)
    work = time_call(lambda: [classify(d) for d in data], bench.repeat)
    bench.figure(f"classify {COUNT:,} mails", work,
                 anchor=("email.message_from_bytes alone", floor), ratio_max=8,
                 value_max=2.5)
    bench.finish()


if __name__ == "__main__":
    main()
