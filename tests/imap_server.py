"""A real Dovecot IMAP server on 127.0.0.1 for the tests (Debian `dovecot-imapd`).

One throw-away configuration per test session, in its own temporary folder: a passwd-file
of users with `{PLAIN}` passwords, Maildirs, and the server's runtime files; a free port for
plain IMAP (STARTTLS offered on it with a self-signed certificate) and one for IMAPS. Each
test gets its own user (`mailbox` fixture), so tests never see each other's messages; Dovecot
reads the passwd-file again when it changes. Messages are put in with IMAP APPEND, the way a
mail server delivers them, never by writing Maildir files.

Run as root, Dovecot refuses uid 0 for mail: the mail then belongs to `nobody`, and the
login and internal processes run as the package's `dovenull` and `dovecot` users.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from smtp_servers import TlsFiles, free_port, make_tls_files

HOST = "127.0.0.1"
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

CONFIG = """\
protocols = imap
listen = {host}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:{base}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
    ssl = yes
  }}
}}
"""


SPARE_USERS = 60  # enough for the suite without making Dovecot reread its passwd-file


def _new_user() -> tuple[str, str]:
    return f"coord-{secrets.token_hex(4)}@sante.example.org", secrets.token_urlsafe(12)


def available() -> bool:
    return os.path.exists(DOVECOT) and os.path.exists(DOVEADM)


@dataclass
class Dovecot:
    """A running Dovecot; `add_user` makes a fresh mailbox."""

    base: Path
    port: int
    tls_port: int
    tls: TlsFiles
    users: dict[str, str] = field(default_factory=dict)
    spare: list[str] = field(default_factory=list)  # users nobody has had yet

    @property
    def config(self) -> Path:
        return self.base / "dovecot.conf"

    def add_user(self) -> Mailbox:
        """A user of its own: taken from those written before the server started, or added
        (Dovecot then reads the passwd-file again, at most once a second: wait for it)."""
        if self.spare:
            name = self.spare.pop()
            return Mailbox(self, name, self.users[name])
        name, password = _new_user()
        self.users[name] = password
        self._write_users()
        time.sleep(1.1)
        return Mailbox(self, name, password)

    def _write_users(self) -> None:
        text = "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items())
        (self.base / "passwd").write_text(text, encoding="utf-8")

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([DOVEADM, "-c", str(self.config), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


@dataclass
class Mailbox:
    """One user's mailbox on the test server."""

    server: Dovecot
    user: str
    password: str

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self.server.port

    def client(self) -> IMAPClient:
        client = IMAPClient(HOST, port=self.server.port, ssl=False, timeout=10)
        try:
            if self.password.isascii():
                client.login(self.user, self.password)
            else:  # LOGIN is ASCII only
                client.plain_login(self.user, self.password)
        except LoginError:
            raise AssertionError(f"login refused for {self.user}:\n"
                                 + self.server.log()[-2000:]) from None
        return client

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """APPEND each message, unread, as a mail server would file it."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for data in messages:
                client.append(folder, data, flags=())

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            return {uid: tuple(data[b"FLAGS"]) for uid, data in
                    client.fetch(client.search("ALL"), ["FLAGS"]).items()}

    def env(self, **extra: str) -> dict[str, str]:
        """Settings (as environment variables) for a plain loopback connection."""
        values = {
            "IMAP_HOST": HOST,
            "IMAP_PORT": str(self.server.port),
            "IMAP_SECURITY": "none",
            "IMAP_ALLOW_PLAIN_LOOPBACK": "true",
            "IMAP_USER": self.user,
            "IMAP_PASSWORD": self.password,
            "IMAP_TIMEOUT": "10",
        }
        values.update(extra)
        return values


def _wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"Dovecot did not answer on port {port}")


def start_dovecot(tls: TlsFiles) -> Dovecot:
    """Write a throw-away configuration and start Dovecot in the background."""
    base = Path(tempfile.mkdtemp(prefix="comms-dovecot-"))
    base.chmod(0o755)  # the mail user (nobody, when run as root) must reach its Maildir
    (base / "mail").mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        os.chown(base / "mail", uid, gid)
        login_user, internal_user = "dovenull", "dovecot"
    else:
        uid, gid = os.getuid(), os.getgid()
        login_user = internal_user = pwd.getpwuid(uid).pw_name
    server = Dovecot(base, free_port(), free_port(), tls)
    server.config.write_text(CONFIG.format(
        host=HOST, base=base, cert=tls.cert, key=tls.key, login_user=login_user,
        internal_user=internal_user, uid=uid, gid=gid, port=server.port,
        tls_port=server.tls_port), encoding="utf-8")
    server.users = dict(_new_user() for _ in range(SPARE_USERS))
    server.spare = list(server.users)
    server._write_users()
    # The daemon keeps the descriptors it inherits: give it files, not pipes to wait on.
    with open(base / "start.err", "wb") as errors:
        result = subprocess.run([DOVECOT, "-c", str(server.config)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errors, timeout=30)
    if result.returncode != 0:
        raise RuntimeError("Dovecot refused to start: "
                           f"{(base / 'start.err').read_text(errors='replace')}{server.log()}")
    try:
        _wait_for(server.port, time.monotonic() + 15)
    except RuntimeError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    if not available():
        pytest.fail("Dovecot is not installed: apt-get install dovecot-imapd (see .ci/run)")
    tls = make_tls_files(tmp_path_factory.mktemp("imap-tls"))
    server = start_dovecot(tls)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    """A fresh, empty mailbox of its own on the session's Dovecot."""
    return dovecot.add_user()
