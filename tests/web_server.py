"""`comms serve` and `comms preview` run as real processes (uvicorn on 127.0.0.1, port 0)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STARTUP_SECONDS = 60


@dataclass
class Running:
    process: subprocess.Popen
    site_url: str  # e.g. http://127.0.0.1:41234/lettre/
    unsubscribe_url: str
    output: list[str] = field(default_factory=list)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    env.update(extra or {})
    return env


@contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    """Start `python -m comms ARGS` and wait for the addresses it prints; stop it after."""
    process = subprocess.Popen([sys.executable, "-m", "comms", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=child_env(env))
    lines: list[str] = []
    urls: dict[str, str] = {}

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            m = re.match(r"^(Site|Désinscription|Aperçu)\u00a0: (http\S+)", line)
            if m:
                urls[m.group(1)] = m.group(2)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while not ({"Site", "Désinscription"} <= set(urls) or "Aperçu" in urls):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + "".join(lines))
            time.sleep(0.05)
        yield Running(process, urls.get("Site") or urls["Aperçu"],
                      urls.get("Désinscription", ""), lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        thread.join(timeout=5)


