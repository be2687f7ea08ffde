"""Requests per second of `comms serve` under uvicorn on 127.0.0.1: a feed (GET of
`calendars/agenda.ics` of the sample territory) and the RFC 8058 one-click POST (a distinct
address each time, so that every request commits a suppression to the journal on disk).

Anchor, measured in the same run with the same client: a bare Starlette application under
the same uvicorn settings answering a fixed 2-byte text, the floor of the stack and of the
client. Target: at least 500 feed requests per second on this 2-core machine. The client runs
CLIENTS threads with one keep-alive connection each, in this process.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from harness import REPO, Bench, Stats

CLIENTS = 4
SECONDS = 2.0
FEED_TARGET = 500  # requests per second
ANCHOR_APP = """
import sys
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from comms.web import server
app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
sock = server.bind("127.0.0.1", 0)
print("Site\\u00a0: " + server.base_url(sock) + "/", flush=True)
print("Désinscription\\u00a0: " + server.base_url(sock) + "/", flush=True)
server.run(app, sock)
"""


@contextmanager
def started(argv: list[str], env: dict[str, str]) -> Iterator[dict[str, str]]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    urls: dict[str, str] = {}
    assert process.stdout is not None
    try:
        for line in process.stdout:
            m = re.match(r"^(Site|Désinscription)\u00a0: (http\S+)", line)
            if m:
                urls[m.group(1)] = m.group(2)
            if len(urls) == 2:
                break
        else:
            raise SystemExit(f"server did not start: {process.wait()}")
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield urls
    finally:
        process.terminate()
        process.wait(timeout=20)


def rate(url: str, request: Callable[[http.client.HTTPConnection, int], None],
         seconds: float = SECONDS) -> float:
    """Requests per second over `seconds`, CLIENTS keep-alive connections in threads."""
    parts = urlsplit(url)
    counts = [0] * CLIENTS
    stop = threading.Event()
    failures: list[str] = []

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = 0
        while not stop.is_set():
            try:
                request(connection, index * 1_000_000 + n)
            except (AssertionError, OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                return
            n += 1
        counts[index] = n
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    if failures:
        raise SystemExit(f"requests failed: {failures[0]}")
    return sum(counts) / elapsed


def get(path: str) -> Callable[[http.client.HTTPConnection, int], None]:
    def request(connection: http.client.HTTPConnection, _n: int) -> None:
        connection.request("GET", path)
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
    return request


def territory(folder: Path) -> Path:
    root = folder / "territoire"
    root.mkdir()
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    for name in ("content", "calendars"):
        shutil.copytree(REPO / name, root / name)
    (root / ".env").write_text("COMMS_UNSUBSCRIBE_SECRET=bench-secret-0123456789abcdef\n",
                               encoding="utf-8")
    return root


def main() -> None:
    bench = Bench("web", "comms serve: requests per second for a feed and a one-click POST")
    sys.path.insert(0, str(REPO))
    from comms.send.tokens import make_token
    from comms.settings import load_settings

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = territory(Path(tmp))
        secret = load_settings(root, environ={}).require_secret()
        total = int(5000 * SECONDS * bench.repeat)  # more than the server can take
        tokens = [make_token(secret, f"p{i}@bench.example.org", "newsletter")
                  for i in range(min(total, 40_000))]
        anchor_stats, feed_stats, post_stats = [], [], []
        with started([sys.executable, "-c", ANCHOR_APP], env) as urls:
            for _ in range(bench.repeat):
                anchor_stats.append(rate(urls["Site"], get("/")))
        serve = [sys.executable, "-m", "comms", "serve", "--port", "0", "--root", str(root)]
        with started(serve, env) as urls:
            site = urlsplit(urls["Site"]).path
            for _ in range(bench.repeat):
                feed_stats.append(rate(urls["Site"], get(f"{site}calendars/agenda.ics")))
            unsubscribe = urlsplit(urls["Désinscription"]).path
            used = iter(tokens)
            lock = threading.Lock()

            def post(connection: http.client.HTTPConnection, _n: int) -> None:
                with lock:
                    token = next(used)
                connection.request("POST", f"{unsubscribe}?t={token}",
                                   body="List-Unsubscribe=One-Click", headers={
                                       "Content-Type": "application/x-www-form-urlencoded"})
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 200, answer.status

            for _ in range(bench.repeat):
                post_stats.append(rate(urls["Site"], post))
        anchor = ("bare Starlette app, same server", Stats(tuple(anchor_stats), "req/s"))
        bench.say(f"{CLIENTS} keep-alive client threads, {SECONDS:g} s per measurement; "
                  "journal on disk (SQLite WAL, synchronous=FULL)")
        bench.figure("feed agenda.ics (GET)", Stats(tuple(feed_stats), "req/s"),
                     anchor=anchor, value_min=FEED_TARGET)
        bench.figure("one-click unsubscribe (POST)", Stats(tuple(post_stats), "req/s"),
                     anchor=anchor)
    bench.finish()


if __name__ == "__main__":
    main()
