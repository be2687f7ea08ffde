"""`smtp`: any SMTP relay, through smtplib, over one connection reused for many messages.

STARTTLS (port 587) or implicit TLS (465) with certificate checks; AUTH only over TLS, or in
clear on a loopback relay when SMTP_ALLOW_PLAIN_LOOPBACK says so. A dropped connection is a
temporary failure and the next attempt reconnects.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from comms.errors import ConfigError, Problem
from comms.send.message import OutgoingMessage
from comms.send.transports.base import PermanentError, SendResult, TransientError, Transport
from comms.settings import Settings


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


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
        self._conn: smtplib.SMTP | None = None

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
                conn = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                        context=self._tls_context())
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
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
                conn.login(s.smtp_user, s.smtp_password)
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
        try:
            self._conn.sendmail(message.envelope_from, [rcpt], message.as_bytes())
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (0, b""))
            if code == 421:
                self._drop()
            if not 500 <= code < 600:
                raise TransientError(f"destinataire refusé pour l’instant\u00a0: "
                                     f"{_reply(code, text)}") from None
            raise PermanentError(f"adresse refusée\u00a0: {_reply(code, text)}",
                                 bounce=True) from None
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
            raise PermanentError(f"message refusé\u00a0: "
                                 f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            if 400 <= exc.smtp_code < 500:
                raise TransientError(_reply(exc.smtp_code, exc.smtp_error)) from None
            raise PermanentError(_reply(exc.smtp_code, exc.smtp_error)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            reason = str(exc) or type(exc).__name__
            raise TransientError(f"connexion perdue avec {self._where} ({reason})") from None
        return SendResult()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


def _close_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
