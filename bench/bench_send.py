"""Send personalised copies of the sample issue to a local SMTP sink over one connection;
print messages per second and peak memory, for 1,000 and 10,000 recipients.

Targets: at least 250 messages per second on one connection; ten times more recipients
costs less than 1.5 times the memory. Each size runs in a fresh process (peak memory is per
process) through the real send loop: journal on disk (SQLite, synchronous=FULL), SMTP
transport, personalisation, no rate limit. The sink is Postfix's `smtp-sink` when installed
(`apt-get install postfix`), else aiosmtpd's Sink in a separate process.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000)
TARGET_RATE = 250
TARGET_MEMORY_RATIO = 1.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> tuple[subprocess.Popen, str]:
    sink = shutil.which("smtp-sink") or (Path("/usr/sbin/smtp-sink") if Path(
        "/usr/sbin/smtp-sink").exists() else None)
    if sink:
        command = [str(sink), "-c", f"127.0.0.1:{port}", "256"]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root without a user to become
            command[1:1] = ["-u", "postfix" if _user_exists("postfix") else "nobody"]
        name = "Postfix smtp-sink"
    else:
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                   "-l", f"127.0.0.1:{port}"]
        name = "aiosmtpd Sink (separate process)"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, name
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the SMTP sink did not start: {' '.join(command)}")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def child(count: int, port: int) -> None:
    """One measured send; prints `count seconds peak_before peak_after message_bytes`."""
    from comms.content import load_project
    from comms.directory import Directory, Partner
    from comms.send import campaign as campaigns
    from comms.send.campaign import Recipient
    from comms.send.journal import Journal
    from comms.send.newsletter import NewsletterFactory, audience, render_template
    from comms.send.transports import get_transport
    from comms.settings import load_settings

    project = load_project(REPO)
    issue = project.issue("2027-1")
    template = render_template(project, issue.id, "newsletter")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = load_settings(root, environ={
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
            "COMMS_RATE_PER_MINUTE": "0", "COMMS_UNSUBSCRIBE_SECRET": "bench-secret-0123456789"})
        partners = tuple(
            Partner(f"partenaire.{i}@structure{i % 97}.example.org", f"Prénom{i}", f"Nom{i}",
                    f"Structure {i % 97}", "", frozenset({"newsletter"}), None, None, i + 2)
            for i in range(count))
        recipients = [Recipient(p.email, p.name, p) for p in partners]

        directory = Directory(root / "partners.csv", partners)  # no 10,000-row CSV to parse
        plan = audience(project, issue, "newsletter", directory, template.subject)
        factory = NewsletterFactory(project.site, template, settings.unsubscribe_secret)
        size = len(factory(recipients[0], "<x@y>").as_bytes())
        before = peak_rss_mb()
        with Journal(root / "var" / "comms.sqlite") as journal:
            start = time.perf_counter()
            summary = campaigns.run(journal, plan.campaign, plan.recipients, factory,
                                    get_transport("smtp", settings, root), settings)
            seconds = time.perf_counter() - start
        assert summary.ok and summary.sent == count, summary
        print(count, seconds, before, peak_rss_mb(), size)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]))
        return
    port = free_port()
    sink, name = start_sink(port)
    results = {}
    try:
        print(f"Sink: {name} on 127.0.0.1:{port}; one SMTP connection, journal on disk.")
        for count in SIZES:
            out = subprocess.run([sys.executable, __file__, "--child", str(count), str(port)],
                                 capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
            n, seconds, before, after, size = out.stdout.split()
            results[count] = (float(seconds), float(before), float(after))
            print(f"{int(n):>6} recipients: {float(seconds):6.2f} s, "
                  f"{int(n) / float(seconds):6.0f} messages/s, message {int(size) // 1024} KB, "
                  f"peak memory {float(after):.0f} MB (after set-up {float(before):.0f} MB)")
    finally:
        sink.terminate()
        sink.wait()
    small, large = results[SIZES[0]], results[SIZES[-1]]
    rate = SIZES[-1] / large[0]
    ratio = large[2] / small[2]
    print(f"Throughput {rate:.0f} messages/s (target >= {TARGET_RATE}): "
          f"{'ok' if rate >= TARGET_RATE else 'BELOW TARGET'}")
    print(f"Memory x{ratio:.2f} for {SIZES[-1] // SIZES[0]}x the recipients "
          f"(target < {TARGET_MEMORY_RATIO}): "
          f"{'ok' if ratio < TARGET_MEMORY_RATIO else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
