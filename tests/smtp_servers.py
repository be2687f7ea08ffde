"""Real SMTP servers on 127.0.0.1 for the tests, including servers that fail on purpose.

`start(handler, ...)` runs an aiosmtpd server in a thread; the handlers below record what
they accept (`Recorder.messages`) and fail the way real relays do: 421 and 451 temporary
errors, 550 permanent ones, slowness. `DroppingServer` is a minimal SMTP server on a plain
socket that closes the connection in the middle of DATA. `tls_files` makes a self-signed
certificate for 127.0.0.1 with openssl. conftest.py loads the fixtures as a plugin; test
modules import the helpers they need by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tag: object = None  # Recorder.tag when the connection that carried it was opened

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def message_id(self) -> str:
        for line in self.data.split(b"\r\n\r\n", 1)[0].splitlines():
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().decode()
        return ""


class Recorder:
    """Accepts everything and keeps it."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.data_commands = 0
        self.connections = 0  # EHLO greetings seen: one per (re)connection
        # Set by a test to tell clients apart: each connection keeps the tag current when it
        # said EHLO, and so does every message it carries.
        self.tag: object = None
        self._tags: dict[object, object] = {}

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        self._tags[session.peer] = self.tag
        session.host_name = hostname
        return responses

    def keep(self, envelope, session=None) -> None:
        data = envelope.original_content or envelope.content
        tag = self._tags.get(session.peer) if session is not None else None
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data,
                                          tag))

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        self.keep(envelope, session)
        return "250 2.0.0 OK"

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for m in self.messages:
            for rcpt in m.rcpt_tos:
                out.setdefault(rcpt.lower(), []).append(m)
        return out


class FailData(Recorder):
    """Answers DATA with `reply` the first `times` times (always when None), then accepts."""

    def __init__(self, reply: str, times: int | None = None) -> None:
        super().__init__()
        self.reply = reply
        self.times = times

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        if self.times is None or self.data_commands <= self.times:
            return self.reply
        self.keep(envelope, session)
        return "250 2.0.0 OK"


class RefuseRecipients(Recorder):
    """Answers RCPT TO with 550 5.1.1 for the given addresses (a hard bounce)."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = {a.lower() for a in refused}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"


class RefuseRelay(Recorder):
    """Answers every RCPT TO with a policy refusal (a relay that does not know us)."""

    def __init__(self, reply: str = "554 5.7.1 <{address}>: Relay access denied") -> None:
        super().__init__()
        self.reply = reply
        self.rcpt_commands = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        self.rcpt_commands += 1
        return self.reply.format(address=address)


class Slow(Recorder):
    """Takes `delay` seconds before answering DATA (it still keeps the message)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class LateReply(Recorder):
    """Takes the message at once but answers the end of DATA only after `delay` seconds
    (a relay that queued it while the reply is lost on the way)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope) -> str:
        self.data_commands += 1
        self.keep(envelope, session)
        await asyncio.sleep(self.delay)
        return "250 2.0.0 OK"


@dataclass
class Server:
    host: str
    port: int
    handler: Recorder
    controller: Controller | None = field(default=None, repr=False)


@contextlib.contextmanager
def start(handler: Recorder, **kwargs) -> Iterator[Server]:
    """An aiosmtpd server on 127.0.0.1 and a free port, stopped on exit."""
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port, server_hostname="localhost",
                            ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield Server(HOST, port, handler, controller)
    finally:
        controller.stop()


# --- a server that drops the connection in the middle of DATA -------------------------------

class _DroppingHandler(socketserver.StreamRequestHandler):
    def send(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        state: DroppingServer = self.server.owner  # type: ignore[attr-defined]
        self.send("220 localhost ESMTP dropping test server")
        mail_from, rcpts = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.send("250 localhost")
            elif verb == "MAIL":
                mail_from, rcpts = line.decode().split(":", 1)[1].strip(" <>\r\n"), []
                self.send("250 OK")
            elif verb == "RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip(" <>\r\n"))
                self.send("250 OK")
            elif verb == "DATA":
                self.send("354 go ahead")
                with state.lock:
                    state.transfers += 1
                    drop = state.transfers <= state.drops
                if drop and state.after_message:
                    # The whole message, final dot included, then a clean close and no
                    # reply: the message is taken (and counted) but the client never knows.
                    chunks = []
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    with state.lock:
                        state.messages.append(Received(mail_from, rcpts, b"".join(chunks)))
                    if state.reset:
                        # The message taken, a proxy or firewall resets the connection
                        # while the reply is awaited (an abortive close: RST).
                        time.sleep(0.2)
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                        self.connection.close()
                        return
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if drop:
                    self.rfile.read(state.after_bytes)  # part of the message, then gone
                    # Reset at once (no lingering FIN): the client is still writing.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                chunks = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with state.lock:
                    state.messages.append(Received(mail_from, rcpts, b"".join(chunks)))
                self.send("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpts = "", []
                self.send("250 OK")
            elif verb == "NOOP":
                self.send("250 OK")
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 command not implemented")


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # A small receive window: a message of a few hundred KB cannot all be in flight
        # when the connection is dropped, as with a real relay mid-transfer.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        super().server_bind()


class DroppingServer(Recorder):
    """Resets the connection after `after_bytes` of the message, the first `drops` times;
    with `after_message`, reads the whole message (and keeps it) then closes without a
    reply: cleanly, or with a reset (RST) when `reset`."""

    def __init__(self, drops: int, after_bytes: int = 2000, after_message: bool = False,
                 reset: bool = False) -> None:
        super().__init__()
        self.drops = drops
        self.after_bytes = after_bytes
        self.after_message = after_message
        self.reset = reset
        self.transfers = 0


@contextlib.contextmanager
def start_dropping(drops: int, after_bytes: int = 2000, after_message: bool = False,
                   reset: bool = False) -> Iterator[Server]:
    state = DroppingServer(drops, after_bytes, after_message, reset)
    server = _ThreadingServer((HOST, 0), _DroppingHandler)
    server.owner = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(HOST, server.server_address[1], state)
    finally:
        server.shutdown()
        server.server_close()


# --- TLS and AUTH -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_tls_files(folder: Path) -> TlsFiles:
    """A self-signed certificate valid for 127.0.0.1 (clients trust it via SMTP_CA_FILE)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return TlsFiles(cert, key)


class Authenticator:
    """Accepts one user and password; counts attempts."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.attempts = 0

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.attempts += 1
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def smtp_server() -> Iterator[Server]:
    with start(Recorder()) as server:
        yield server


@pytest.fixture
def smtp_421() -> Iterator[Server]:
    """421 (service closing) on the first DATA, then accepts."""
    with start(FailData("421 4.3.2 Service shutting down", times=1)) as server:
        yield server


@pytest.fixture
def smtp_451() -> Iterator[Server]:
    """451 (local error, try later) on the first two DATA, then accepts."""
    with start(FailData("451 4.3.0 Temporary local problem", times=2)) as server:
        yield server


@pytest.fixture
def smtp_550() -> Iterator[Server]:
    """550 on every DATA: the message is refused (not the address)."""
    with start(FailData("550 5.7.1 Message content rejected")) as server:
        yield server


@pytest.fixture
def smtp_drop() -> Iterator[Server]:
    """Drops the connection in the middle of the first DATA, then accepts."""
    with start_dropping(drops=1) as server:
        yield server


@pytest.fixture
def smtp_relay_denied() -> Iterator[Server]:
    """554 5.7.1 Relay access denied to every RCPT."""
    with start(RefuseRelay()) as server:
        yield server


@pytest.fixture
def smtp_close_after_message() -> Iterator[Server]:
    """Takes the whole first two messages, then closes without the final reply."""
    with start_dropping(drops=2, after_message=True) as server:
        yield server


@pytest.fixture
def smtp_slow() -> Iterator[Server]:
    """Answers DATA after 0.6 s."""
    with start(Slow(0.6)) as server:
        yield server


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def smtp_env(server: Server, **extra: str) -> dict[str, str]:
    """Settings (as environment variables) for a plain connection to `server`."""
    env = {
        "COMMS_TRANSPORT": "smtp",
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": "5",
        "SMTP_DATA_TIMEOUT": "5",
        "COMMS_UNSUBSCRIBE_SECRET": "test-secret-0123456789abcdef",
        "COMMS_RATE_PER_MINUTE": "0",
        "COMMS_RETRY_BASE_SECONDS": "0.01",
        "COMMS_ONLINE_CHECK": "false",  # test territories' web pages are not online
    }
    env.update(extra)
    return env


def take(server: Server) -> list[email.message.EmailMessage]:
    """The messages `server` received since the last call, parsed (oldest first)."""
    handler = server.handler
    with handler.lock:
        batch, handler.messages = handler.messages, []
    return [m.message for m in batch]
