"""Send personalised copies of the sample issue over one SMTP connection to Postfix's
`smtp-sink`, beside two anchors measured in the same run on the same sink: a bare smtplib
loop sending prebuilt bytes of the same size, and Postfix's own C client `smtp-source`.

Targets (the sample's message): comms' send loop at least 0.35 of `smtp-source` and 0.8 of
the bare smtplib loop; ten times more recipients costs less than 1.2 times the peak memory.
Each measurement runs in a fresh process (peak memory is per process) through the real send
loop: journal on disk (SQLite, synchronous=FULL), SMTP transport, personalisation, no rate
limit. Without `smtp-sink` (Debian package `postfix`), aiosmtpd's Sink in a separate process
stands in and the `smtp-source` anchor is left out.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, Bench, Stats, env_with_repo, run_command

SIZES = (1_000, 10_000)
SHORT_REPEAT = 7  # rounds of the smallest size, at least


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postfix_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def start_sink(port: int) -> tuple[subprocess.Popen, str]:
    sink = postfix_tool("smtp-sink")
    if sink:
        command = [sink, "-c", f"127.0.0.1:{port}", "256"]
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
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _settings(root: Path, port: int):
    from comms.settings import load_settings

    return load_settings(root, environ={
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
        "COMMS_RATE_PER_MINUTE": "0", "COMMS_UNSUBSCRIBE_SECRET": "bench-secret-0123456789"})


def _setup(count: int, root: Path, port: int):
    """The sample issue's campaign for `count` generated partners, ready to send."""
    from comms.content import load_project
    from comms.directory import Directory, Partner
    from comms.send.newsletter import NewsletterFactory, audience, render_template

    project = load_project(REPO)
    issue = project.issue("2027-1")
    template = render_template(project, issue.id, "newsletter")
    settings = _settings(root, port)
    lists = frozenset({"newsletter"})  # one set shared by all, as the directory reader does
    partners = tuple(
        Partner(f"partenaire.{i}@structure{i % 97}.example.org", f"Prénom{i}", f"Nom{i}",
                f"Structure {i % 97}", "", lists, None, None, i + 2)
        for i in range(count))
    directory = Directory(root / "partners.csv", partners)  # no 10,000-row CSV to parse
    plan = audience(project, issue, "newsletter", directory, template.subject)
    factory = NewsletterFactory(project.site, template, settings.unsubscribe_secret)
    return settings, plan, factory


def timed_run(count: int, root: Path, settings, plan, factory, out: Path) -> None:
    """Run the campaign through the real send loop and SMTP transport; writes `seconds
    message_bytes` to OUT."""
    from comms.send import campaign as campaigns
    from comms.send.journal import Journal
    from comms.send.transports import get_transport

    size = len(factory(plan.recipients[0], "<x@y>").as_bytes())
    with Journal(root / "var" / "comms.sqlite") as journal:
        start = time.perf_counter()
        summary = campaigns.run(journal, plan.campaign, plan.recipients, factory,
                                get_transport("smtp", settings, root), settings)
        seconds = time.perf_counter() - start
    assert summary.ok and summary.sent == count, summary
    out.write_text(f"{seconds} {size}")


def child_comms(count: int, port: int, out: Path) -> None:
    """comms' send loop; writes `seconds message_bytes` to OUT."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings, plan, factory = _setup(count, root, port)
        timed_run(count, root, settings, plan, factory, out)


def child_smtplib(count: int, port: int, message: Path, out: Path) -> None:
    """A bare smtplib loop over one connection, every message prebuilt; writes seconds."""
    import smtplib

    data = message.read_bytes()
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(count):
            conn.sendmail("lettre@example.org", [f"partenaire.{i}@example.org"], data)
    out.write_text(str(time.perf_counter() - start))


def write_message(port: int, path: Path) -> int:
    """One personalised copy of the sample issue, as comms would send it; its size."""
    with tempfile.TemporaryDirectory() as tmp:
        _, plan, factory = _setup(1, Path(tmp), port)
        data = factory(plan.recipients[0], "<bench@example.org>").as_bytes()
    path.write_bytes(data)
    return len(data)


def measure(argv: list[str], out: Path) -> tuple[float, float]:
    """(seconds reported by the child, peak MB of the child process)."""
    _, peak = run_command(argv, env=env_with_repo())
    return float(out.read_text().split()[0]), peak


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        kind, count, port, *rest = sys.argv[1:]
        if kind == "--child-comms":
            child_comms(int(count), int(port), Path(rest[0]))
        else:
            child_smtplib(int(count), int(port), Path(rest[0]), Path(rest[1]))
        return
    bench = Bench("send", "Send: personalised copies of the sample issue over one SMTP "
                          "connection")
    repeat = bench.repeat
    port = free_port()
    sink, name = start_sink(port)
    source = postfix_tool("smtp-source") if name.startswith("Postfix") else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            message = tmp_path / "message.eml"
            size = write_message(port, message)
            # smtp-source reads lines and ends each with CRLF itself.
            lf_message = tmp_path / "message-lf.eml"
            lf_message.write_bytes(message.read_bytes().replace(b"\r\n", b"\n"))
            bench.say(f"sink: {name} on 127.0.0.1:{port}; message {size / 1024:.0f} KB; "
                      "journal on disk (synchronous=FULL)")
            if source is None:
                bench.say("smtp-source not found (Debian package postfix): its anchor is "
                          "left out")
            out = tmp_path / "out.txt"
            comms: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
            bare: dict[int, list[float]] = {n: [] for n in SIZES}
            reference: dict[int, list[float]] = {n: [] for n in SIZES}
            # Interleaved, so that noise hits every series alike. The short runs (a couple of
            # seconds at 1,000 copies) swing most with the machine's load: they get more rounds.
            for round_ in range(max(repeat, SHORT_REPEAT)):
                for count in SIZES:
                    if round_ >= repeat and count != SIZES[0]:
                        continue
                    comms[count].append(measure(
                        [sys.executable, __file__, "--child-comms", str(count), str(port),
                         str(out)], out))
                    bare[count].append(measure(
                        [sys.executable, __file__, "--child-smtplib", str(count), str(port),
                         str(message), str(out)], out)[0])
                    if source:
                        wall, _ = run_command([source, "-d", "-s", "1", "-m", str(count),
                                               "-F", str(lf_message), "-f",
                                               "lettre@example.org", "-t",
                                               "partenaire@example.org",
                                               f"127.0.0.1:{port}"])
                        reference[count].append(wall)
    finally:
        sink.terminate()
        sink.wait()
    for count in SIZES:
        rate = Stats(tuple(count / s for s, _ in comms[count]), "msg/s")
        bench.figure(f"comms send loop, {count:,} recipients", rate,
                     anchor=("bare smtplib loop, prebuilt bytes",
                             Stats(tuple(count / s for s in bare[count]), "msg/s")),
                     ratio_min=0.8)
        if source:
            bench.figure(f"comms send loop, {count:,} recipients", rate,
                         anchor=("Postfix smtp-source",
                                 Stats(tuple(count / s for s in reference[count]), "msg/s")),
                         ratio_min=0.35)
    small, large = SIZES[0], SIZES[-1]
    bench.figure(f"comms send loop peak memory, {large:,} recipients",
                 Stats(tuple(p for _, p in comms[large]), "MB"),
                 anchor=(f"same, {small:,} recipients",
                         Stats(tuple(p for _, p in comms[small]), "MB")), ratio_max=1.2)
    bench.finish()


if __name__ == "__main__":
    main()
