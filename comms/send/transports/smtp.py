"""`smtp`: any SMTP relay, through smtplib, over one connection reused for many messages.

STARTTLS (port 587) or implicit TLS (465) with certificate checks; AUTH only over TLS, or in
clear on a loopback relay when SMTP_ALLOW_PLAIN_LOOPBACK says so. A dropped connection is a
temporary failure and the next attempt reconnects, except once the whole message has been
handed over: a final reply lost then means "maybe delivered" (`MaybeDeliveredError`).

Each stage waits as long as RFC 5321 §4.5.3.2 recommends (`SmtpTimeouts`). Refusals are
sorted by their RFC 3463 enhanced status code (`classify`): an address refused (5.1.x) is a
bounce, a policy refusal (5.7.x, relay denied) a configuration problem.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import smtplib
import socket
import ssl
import struct
from dataclasses import dataclass

from comms.errors import ConfigError, Problem
from comms.send.message import OutgoingMessage
from comms.send.transports.base import (
    MaybeDeliveredError,
    PermanentError,
    PolicyRefusal,
    SendResult,
    TransientError,
    Transport,
)
from comms.settings import Settings

# RFC 3463 §2: class.subject.detail at the start of the reply text.
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# Address-specific permanent refusals: bad mailbox / destination / syntax (5.1.x, except
# 5.1.7 and 5.1.8, which speak of the sender) and a disabled mailbox (5.2.1).
_ADDRESS_CODES = {(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 6), (1, 10), (2, 1)}
# A refusal without an enhanced code that names the relay or authentication is about us.
_POLICY_WORDS = re.compile(r"relay|relaying|auth|not permitted|access denied", re.I)
ADDRESS, POLICY, OTHER = "address", "policy", "other"
RELAY_CHECK = ("vérifiez que ce relais accepte d’envoyer pour vous : SMTP_HOST et "
               "SMTP_PORT, l’identification (SMTP_USER, SMTP_PASSWORD, souvent exigée pour "
               "relayer), et que l’adresse d’expéditeur (sender.email dans comms.yaml) est "
               "autorisée par ce relais")


@dataclass(frozen=True)
class SmtpTimeouts:
    """Seconds to wait at each stage (RFC 5321 §4.5.3.2): commands (greeting, MAIL, RCPT:
    5 min), the DATA command (2 min), each block of message data (3 min) and the reply to
    the end of the data (10 min)."""

    command: float = 300.0
    data_start: float = 120.0
    data_block: float = 180.0
    data_end: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTimeouts:
        command = settings.smtp_timeout
        return cls(command, min(command, cls.data_start), min(command, cls.data_block),
                   settings.smtp_data_timeout)


def classify(code: int, text: str) -> str:
    """`ADDRESS`, `POLICY` or `OTHER` for a permanent (5xx) refusal, from its RFC 3463
    enhanced status code when there is one, else from the basic code and wording."""
    match = _ENHANCED.match(text)
    if match:
        subject, detail = int(match.group(2)), int(match.group(3))
        if (subject, detail) in _ADDRESS_CODES:
            return ADDRESS
        if subject == 7 or (subject, detail) in ((1, 7), (1, 8)):
            return POLICY
        return OTHER
    if code in (530, 535, 554) or _POLICY_WORDS.search(text):
        return POLICY
    return ADDRESS if code in (550, 551, 553) else OTHER


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def _without(reply: str, address: str) -> str:
    """The reply with the recipient's address taken out (to compare two refusals)."""
    return re.sub(re.escape(address), "<adresse>", reply, flags=re.I)


class SmtpTransport(Transport):
    name = "smtp"

    def __init__(self, settings: Settings):
        if not settings.smtp_host:
            raise settings.missing("SMTP_HOST")
        if settings.smtp_user and not settings.smtp_password:
            raise settings.missing("SMTP_PASSWORD")
        plain_ok = settings.smtp_allow_plain_loopback and settings.smtp_host_is_loopback
        if settings.smtp_user and settings.smtp_security == "none" and not plain_ok:
            raise ConfigError(
                "Authentification SMTP refusée sans chiffrement.",
                [Problem(settings.env_file, None, "SMTP_SECURITY",
                         "SMTP_USER est renseigné mais SMTP_SECURITY=none\u00a0: le mot de "
                         "passe circulerait en clair",
                         "écrivez SMTP_SECURITY=starttls (port 587) ou tls (port 465)\u00a0; "
                         "pour un relais local sur 127.0.0.1 seulement, "
                         "SMTP_ALLOW_PLAIN_LOOPBACK=true")])
        self.settings = settings
        self.timeouts = SmtpTimeouts.from_settings(settings)
        self._conn: smtplib.SMTP | None = None
        self._handed_over = False

    @property
    def _where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.settings.smtp_ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def _tls_refused(self, exc: Exception) -> ConfigError:
        return ConfigError(
            f"Connexion TLS au serveur SMTP {self._where} impossible.",
            [Problem(self.settings.env_file, None, "SMTP_SECURITY",
                     f"la négociation TLS a échoué ({exc})",
                     "vérifiez SMTP_SECURITY et SMTP_PORT (starttls avec 587, tls avec "
                     "465) et, pour un certificat interne, SMTP_CA_FILE")])

    def open(self) -> None:
        if self._conn is None:
            self._conn = self._connect()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP | None = None
        try:
            if s.smtp_security == "tls":
                conn = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=self.timeouts.command,
                                        context=self._tls_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeouts.command)
            conn.ehlo()
            if s.smtp_security == "starttls":
                if not conn.has_extn("starttls"):
                    raise ConfigError(
                        f"Le serveur SMTP {self._where} ne propose pas STARTTLS.",
                        [Problem(s.env_file, None, "SMTP_SECURITY",
                                 "le chiffrement STARTTLS n’est pas disponible sur ce serveur",
                                 "vérifiez SMTP_HOST et SMTP_PORT, ou écrivez "
                                 "SMTP_SECURITY=tls pour le port 465")])
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.smtp_user:
                _login(conn, s.smtp_user, s.smtp_password)
            return conn
        except ConfigError:
            _close_quietly(conn)
            raise
        except ssl.SSLError as exc:
            _close_quietly(conn)
            raise self._tls_refused(exc) from None
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(conn)
            raise ConfigError(
                f"Identifiants SMTP refusés par {self._where}.",
                [Problem(s.env_file, None, "SMTP_USER",
                         f"le serveur a répondu {_reply(exc.smtp_code, exc.smtp_error)}",
                         "vérifiez SMTP_USER et SMTP_PASSWORD dans .env")]) from None
        except smtplib.SMTPNotSupportedError:
            _close_quietly(conn)
            raise ConfigError(
                f"Le serveur SMTP {self._where} ne propose pas l’authentification.",
                [Problem(s.env_file, None, "SMTP_USER", "AUTH indisponible sur ce serveur",
                         "laissez SMTP_USER vide si le relais n’en demande pas")]) from None
        except smtplib.SMTPResponseException as exc:
            _close_quietly(conn)
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"{self._where}\u00a0: "
                                     f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
            raise ConfigError(f"Le serveur SMTP {self._where} refuse la connexion\u00a0: "
                              f"{_reply(exc.smtp_code, exc.smtp_error)}.") from None
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(conn)
            raise TransientError(f"connexion à {self._where} impossible ({exc})") from None

    def _drop(self) -> None:
        _close_quietly(self._conn)
        self._conn = None

    def send(self, message: OutgoingMessage) -> SendResult:
        self.open()
        assert self._conn is not None
        rcpt = message.recipient
        self._handed_over = False
        try:
            self._transaction(self._conn, message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (0, b""))
            if code == 421:
                self._drop()
            if not 500 <= code < 600:
                raise TransientError(f"destinataire refusé pour l’instant\u00a0: "
                                     f"{_reply(code, text)}") from None
            reply = _reply(code, text)
            kind = classify(code, reply[4:])
            if kind == POLICY:
                raise PolicyRefusal(f"le relais {self._where} refuse l’envoi\u00a0: {reply}",
                                    RELAY_CHECK) from None
            raise PermanentError(f"adresse refusée\u00a0: {reply}", bounce=kind == ADDRESS,
                                 reply=_without(reply, rcpt)) from None
        except smtplib.SMTPSenderRefused as exc:
            if 400 <= exc.smtp_code < 500:
                if exc.smtp_code == 421:
                    self._drop()
                raise TransientError(_reply(exc.smtp_code, exc.smtp_error)) from None
            raise ConfigError(
                f"Le serveur SMTP refuse l’expéditeur {message.envelope_from}\u00a0: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}.",
                [Problem(None, None, "sender.email",
                         "adresse d’expéditeur refusée par le relais",
                         "utilisez dans comms.yaml une adresse que ce relais autorise")]) from None
        except smtplib.SMTPDataError as exc:
            if 400 <= exc.smtp_code < 500:
                if exc.smtp_code == 421:
                    self._drop()
                raise TransientError(_reply(exc.smtp_code, exc.smtp_error)) from None
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if classify(exc.smtp_code, reply[4:]) == POLICY and not self._handed_over:
                raise PolicyRefusal(f"le relais {self._where} refuse l’envoi\u00a0: {reply}",
                                    RELAY_CHECK) from None
            raise PermanentError(f"message refusé\u00a0: {reply}",
                                 reply=_without(reply, rcpt)) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            if 400 <= exc.smtp_code < 500:
                raise TransientError(_reply(exc.smtp_code, exc.smtp_error)) from None
            raise PermanentError(_reply(exc.smtp_code, exc.smtp_error)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            reason = str(exc) or type(exc).__name__
            if self._handed_over:
                raise MaybeDeliveredError(
                    f"message entièrement transmis à {self._where}, mais sa réponse finale "
                    f"n’est pas arrivée ({reason})\u00a0: il a peut-être été remis") from None
            raise TransientError(f"connexion perdue avec {self._where} ({reason})") from None
        return SendResult()

    def _transaction(self, conn: smtplib.SMTP, message: OutgoingMessage) -> None:
        """MAIL, RCPT, DATA with the timeout of each stage, as `smtplib.SMTP.sendmail` does
        for one recipient; raises smtplib's errors. `_handed_over` becomes True once every
        byte of the message (and the final dot) has left."""
        timeouts = self.timeouts
        data = message.smtp_data()  # dot-stuffed: a campaign stuffs its static parts once
        _timeout(conn, timeouts.command)
        options = [f"size={len(data)}"] if conn.does_esmtp and conn.has_extn("size") else []
        code, text = conn.mail(message.envelope_from, options)
        if code != 250:
            if code != 421:
                conn.rset()
            raise smtplib.SMTPSenderRefused(code, text, message.envelope_from)
        code, text = conn.rcpt(message.recipient)
        if code not in (250, 251):
            if code != 421:
                conn.rset()
            raise smtplib.SMTPRecipientsRefused({message.recipient: (code, text)})
        _timeout(conn, timeouts.data_start)
        code, text = conn.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, text)
        _timeout(conn, timeouts.data_block)
        payload = data + b".\r\n"
        acks = _Acknowledged(conn.sock)
        try:
            conn.send(payload)
            self._handed_over = True  # from here on, the server may have the whole message
            _timeout(conn, timeouts.data_end)
            try:
                code, text = conn.getreply()
            except smtplib.SMTPServerDisconnected:
                # Closed or reset: delivered only if the server's system acknowledged
                # every byte (a reset may come from a proxy after the whole message).
                if acks.short_of(len(payload)):
                    self._handed_over = False
                raise
        finally:
            acks.close()
        if code != 250:
            raise smtplib.SMTPDataError(code, text)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _login(conn: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH as smtplib does, except that a user name or password outside ASCII is sent in
    UTF-8 with PLAIN (RFC 4616 §2), where smtplib would fail to encode it."""
    if (user + password).isascii():
        conn.login(user, password)
        return
    if "plain" not in conn.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("AUTH PLAIN")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, text = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, text)


class _Acknowledged:
    """How many bytes the peer's TCP acknowledged since creation (Linux TCP_INFO
    `tcpi_bytes_acked`), read on a duplicate of the socket so that it can still be asked
    once smtplib has closed the connection after a failure."""

    _BYTES_ACKED = 120  # offset of tcpi_bytes_acked in struct tcp_info (Linux >= 4.1)

    def __init__(self, sock: socket.socket | None):
        self._probe: socket.socket | None = None
        self._start = -1
        if sock is None or not hasattr(socket, "TCP_INFO"):
            return
        try:
            self._probe = socket.socket(fileno=os.dup(sock.fileno()))
            self._start = self._acked()
        except OSError:
            self.close()

    def _acked(self) -> int:
        assert self._probe is not None
        info = self._probe.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        if len(info) < self._BYTES_ACKED + 8:
            raise OSError("tcp_info without bytes_acked")
        return struct.unpack_from("Q", info, self._BYTES_ACKED)[0]

    def short_of(self, count: int) -> bool:
        """True when fewer than `count` bytes were acknowledged (so the end of what was sent
        never arrived); False when they all were, or when the system cannot tell."""
        if self._probe is None or self._start < 0:
            return False
        try:
            return self._acked() - self._start < count
        except OSError:
            return False

    def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()


def _timeout(conn: smtplib.SMTP, seconds: float) -> None:
    conn.timeout = seconds
    if conn.sock is not None:
        conn.sock.settimeout(seconds)




def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
