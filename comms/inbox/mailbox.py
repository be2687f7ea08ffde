"""One IMAP mailbox, through `imapclient` (RFC 3501): connect over IMAPS or STARTTLS (plain
only to a loopback server when allowed), list the messages not handled yet, fetch them
without setting \\Seen (BODY.PEEK), and mark handled ones.

A handled message gets \\Seen and the keyword `$CommsTraite`, and is moved to the account's
done folder when one is set (MOVE, RFC 6851, or COPY + delete where MOVE is missing).
Messages left for the coordinator are not touched at all: they stay unread.
Every failure a coordinator can meet (refused login, TLS, unknown folder, server gone)
becomes a French `ConfigError` or `MailboxError` naming the setting to check; the password
is never part of a message.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from comms.errors import CommsError, ConfigError, Problem
from comms.inbox.settings import ImapAccount

HANDLED_KEYWORD = "$CommsTraite"
FETCH_BATCH = 50  # messages per FETCH: bounded memory for a big backlog


class MailboxError(CommsError):
    """The server could not be reached or broke off; nothing was half-recorded."""


@dataclass(frozen=True)
class Fetched:
    uid: int
    data: bytes  # the whole message as stored (RFC 5322)


class Mailbox:
    """A logged-in connection to one account, with its folder selected."""

    def __init__(self, account: ImapAccount, dry_run: bool = False):
        self.account = account
        self.dry_run = dry_run  # then nothing is created, flagged or moved on the server
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.can_move = False

    # --- connection -----------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"{self.account.host}:{self.account.port}"

    def _problem(self, field: str, message: str, hint: str) -> Problem:
        return Problem(self.account.env_file, None, self.account.variable(field), message, hint)

    def _context(self) -> ssl.SSLContext:
        ca = self.account.ca_file
        return ssl.create_default_context(cafile=str(ca) if ca else None)

    def open(self) -> Mailbox:
        a = self.account
        try:
            client = IMAPClient(a.host, port=a.port, ssl=a.security == "tls",
                                ssl_context=self._context() if a.security == "tls" else None,
                                timeout=a.timeout)
        except ssl.SSLError as exc:
            raise self._tls_refused(exc) from None
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"Serveur de messagerie {self._where} injoignable ({exc}).", [
                self._problem("HOST", "connexion impossible",
                              "vérifiez IMAP_HOST et IMAP_PORT, et que cette machine a accès "
                              "au réseau\u00a0; relancez la commande plus tard")]) from None
        self.client = client
        try:
            if a.security == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise ConfigError(
                        f"Le serveur de messagerie {self._where} ne propose pas STARTTLS.",
                        [self._problem("SECURITY", "chiffrement STARTTLS indisponible",
                                       "écrivez IMAP_SECURITY=tls avec le port 993")])
                client.starttls(self._context())
            self._login(client)
            self._select(a.folder)
            self._prepare_done_folder()
            self.can_move = client.has_capability("MOVE")
        except ssl.SSLError as exc:
            self.close()
            raise self._tls_refused(exc) from None
        except LoginError:
            self.close()
            raise ConfigError(f"Identifiants refusés par le serveur de messagerie "
                              f"{self._where} pour {a.user}.", [
                self._problem("USER", "identifiant ou mot de passe refusé",
                              f"vérifiez {a.variable('USER')} et {a.variable('PASSWORD')} "
                              "dans .env")]) from None
        except CommsError:
            self.close()
            raise
        except (OSError, IMAPClientError) as exc:
            self.close()
            raise MailboxError(f"Échange interrompu avec {self._where} ({_plain(exc)}). "
                               "Rien n’a été enregistré\u00a0; relancez la commande.") from None
        return self

    def _login(self, client: IMAPClient) -> None:
        """LOGIN carries ASCII only (RFC 3501): an identifier or password with accents goes
        through AUTHENTICATE PLAIN, which is UTF-8 (RFC 4616)."""
        a = self.account
        if (a.user + a.password).isascii():
            client.login(a.user, a.password)
        elif client.has_capability("AUTH=PLAIN"):
            client.plain_login(a.user, a.password)
        else:
            raise ConfigError(
                f"Le serveur de messagerie {self._where} n’accepte pas d’identifiant ni de "
                "mot de passe accentué.", [
                    self._problem("PASSWORD", "caractères hors ASCII (accents…) refusés par "
                                  "ce serveur",
                                  "choisissez pour cette boîte un mot de passe sans accents ni "
                                  "caractères spéciaux non ASCII, puis reportez-le dans "
                                  f"{a.variable('PASSWORD')}")])

    def _tls_refused(self, exc: Exception) -> ConfigError:
        return ConfigError(f"Connexion chiffrée au serveur de messagerie {self._where} "
                           "impossible.", [
            self._problem("SECURITY", f"la négociation TLS a échoué ({exc})",
                          "vérifiez IMAP_SECURITY et IMAP_PORT (tls avec 993, starttls avec "
                          "143) et, pour un certificat interne, IMAP_CA_FILE")])

    def _select(self, folder: str) -> None:
        assert self.client is not None
        if not self.client.folder_exists(folder):
            known = sorted(_folder_name(f) for f in self.client.list_folders())
            raise ConfigError(f"Le dossier «\u00a0{folder}\u00a0» n’existe pas dans la boîte "
                              f"{self.account.user}.", [
                self._problem("FOLDER", f"dossier «\u00a0{folder}\u00a0» introuvable",
                              "dossiers existants\u00a0: " + ", ".join(known))])
        info = self.client.select_folder(folder)
        self.uidvalidity = int(info.get(b"UIDVALIDITY", 0))

    def _prepare_done_folder(self) -> None:
        """Create IMAP_DONE_FOLDER before anything is read, so a name the server refuses
        (a « / » where it separates sub-folders with « . ») stops the run with the setting
        to fix, rather than after a message was recorded, at every run."""
        assert self.client is not None
        done = self.account.done_folder
        if not done or self.dry_run or self.client.folder_exists(done):
            return
        try:
            self.client.create_folder(done)
        except IMAPClientError as exc:
            delimiter = next((_text(f[1]) for f in self.client.list_folders()
                              if f[1]), "")
            hint = ("choisissez un autre nom, ou créez ce dossier dans votre messagerie puis "
                    "relancez la commande")
            if delimiter:
                hint = (f"sur ce serveur, les sous-dossiers se séparent par « {delimiter}"
                        f" » (par exemple Traités{delimiter}comms) ; " + hint)
            raise ConfigError(f"Le serveur de messagerie {self._where} refuse de créer le "
                              f"dossier « {done} » ({_plain(exc)}). Rien n’a été "
                              "lu ni enregistré.", [
                self._problem("DONE_FOLDER", f"dossier « {done} » impossible à "
                              "créer", hint)]) from None

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, IMAPClientError):
            with contextlib.suppress(OSError, IMAPClientError):
                client.shutdown()

    def __enter__(self) -> Mailbox:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- messages -------------------------------------------------------------------------

    def unhandled(self) -> list[int]:
        """UIDs of the folder's messages without the handled keyword, in order."""
        assert self.client is not None
        return sorted(self._call(self.client.search, ["NOT", "KEYWORD", HANDLED_KEYWORD]))

    def fetch(self, uids: Iterable[int]) -> Iterator[Fetched]:
        """The messages, in UID order, FETCH_BATCH at a time; \\Seen is not set."""
        assert self.client is not None
        ordered = sorted(uids)
        for start in range(0, len(ordered), FETCH_BATCH):
            batch = ordered[start:start + FETCH_BATCH]
            answer = self._call(self.client.fetch, batch, ["BODY.PEEK[]"])
            for uid in batch:
                data = answer.get(uid, {}).get(b"BODY[]")
                if data is not None:
                    yield Fetched(uid, bytes(data))

    def mark_handled(self, uid: int) -> None:
        """\\Seen + keyword, then moved to the done folder when there is one."""
        assert self.client is not None
        client = self.client
        self._call(client.add_flags, [uid], [b"\\Seen", HANDLED_KEYWORD.encode()])
        done = self.account.done_folder
        if not done:
            return
        if not self._call(client.folder_exists, done):
            self._call(client.create_folder, done)
        if self.can_move:
            self._call(client.move, [uid], done)
        else:
            self._call(client.copy, [uid], done)
            self._call(client.delete_messages, [uid])
            self._call(client.uid_expunge, [uid])

    def _call(self, method, *args):
        try:
            return method(*args)
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"Échange interrompu avec {self._where} ({_plain(exc)}). Ce "
                               "qui a été traité est enregistré\u00a0; relancez la commande "
                               "pour finir.") from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _folder_name(entry: tuple) -> str:
    return _text(entry[2])


def _plain(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("\r", " ").replace("\n", " ")[:200]
