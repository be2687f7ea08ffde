"""Mailbox settings for `comms inbox`, read from ROOT/.env and the environment like the
sending settings (`comms.settings`), with the same French errors.

One account is described by `IMAP_HOST`, `IMAP_PORT`, `IMAP_SECURITY`, `IMAP_USER`,
`IMAP_PASSWORD`, `IMAP_FOLDER`. Several accounts (each organiser's address and the
newsletter's reply address) are named in `IMAP_ACCOUNTS=claire,lettre`; account `claire` then
reads `IMAP_CLAIRE_HOST`, `IMAP_CLAIRE_USER`... and falls back to the unnamed `IMAP_*` value
for anything it does not set (the host and port are usually shared).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from comms.errors import ConfigError, Problem
from comms.french import count, plural
from comms.settings import ENV_FILE, _line_in

SECURITY_MODES = ("tls", "starttls", "none")
DEFAULT_PORTS = {"tls": 993, "starttls": 143, "none": 143}
DEFAULT_FOLDER = "INBOX"
DEFAULT_SOFT_BOUNCE_LIMIT = 3
FIELDS = ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "FOLDER", "DONE_FOLDER",
          "ALLOW_PLAIN_LOOPBACK", "TIMEOUT", "CA_FILE")
# Every variable of the unnamed account, as .env.example documents them (named accounts use
# IMAP_<NAME>_<FIELD>).
KNOWN = frozenset({f"IMAP_{f}" for f in FIELDS} | {"IMAP_ACCOUNTS", "BOUNCE_SOFT_LIMIT"})
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_TRUE = ("1", "true", "yes", "oui", "vrai", "on")
_FALSE = ("", "0", "false", "no", "non", "faux", "off")


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox to read. `name` is "" for the unnamed account."""

    name: str
    host: str
    port: int
    security: str  # tls | starttls | none
    user: str
    password: str
    folder: str  # the folder read (INBOX)
    done_folder: str  # handled messages are moved there; "" = flagged and left in place
    allow_plain_loopback: bool
    timeout: float  # seconds
    ca_file: Path | None
    env_file: Path

    def __repr__(self) -> str:
        return (f"ImapAccount(name={self.name!r}, host={self.host!r}, port={self.port}, "
                f"security={self.security!r}, user={self.user!r}, password=<masqué>, "
                f"folder={self.folder!r})")

    __str__ = __repr__

    @property
    def label(self) -> str:
        """How the summary names it: « claire (claire@…) » or the user name."""
        return f"{self.name} ({self.user})" if self.name else self.user

    @property
    def key(self) -> str:
        """What the journal records as the account (user@host): stable across renames."""
        return f"{self.user.lower()}@{self.host.lower()}"

    def variable(self, field: str) -> str:
        return f"IMAP_{self.name.upper()}_{field}" if self.name else f"IMAP_{field}"

    @property
    def host_is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class InboxSettings:
    accounts: tuple[ImapAccount, ...]
    soft_bounce_limit: int  # soft bounces in a row before an address is suppressed
    env_file: Path


def _values(root: Path, environ: Mapping[str, str] | None) -> tuple[dict[str, str], Path]:
    env_file = root.resolve() / ENV_FILE
    values = ({k: v or "" for k, v in dotenv_values(env_file).items()}
              if env_file.is_file() else {})
    environ = os.environ if environ is None else environ
    values.update({k: v for k, v in environ.items()
                   if k.startswith("IMAP_") or k == "BOUNCE_SOFT_LIMIT"})
    return values, env_file


def is_configured(root: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Whether .env or the environment names a mailbox at all."""
    values, _ = _values(root, environ)
    return bool((values.get("IMAP_HOST") or "").strip() or
                (values.get("IMAP_ACCOUNTS") or "").strip())


def load_inbox_settings(root: Path, environ: Mapping[str, str] | None = None
                        ) -> InboxSettings:
    """The accounts to read; ConfigError listing every missing or wrong value (the
    password is never shown)."""
    values, env_file = _values(root, environ)
    problems: list[Problem] = []

    def bad(name: str, message: str, hint: str) -> None:
        problems.append(Problem(env_file, _line_in(env_file, name), name, message, hint))

    names = [n.strip() for n in (values.get("IMAP_ACCOUNTS") or "").split(",") if n.strip()]
    for name in names:
        if not _NAME.match(name):
            bad("IMAP_ACCOUNTS", f"« {name} » n’est pas un nom de compte possible",
                "des lettres, chiffres ou « _ », séparés par des virgules, par exemple "
                "IMAP_ACCOUNTS=claire,lettre")
    accounts = []
    for name in names or [""]:
        if not _NAME.match(name or "x"):
            continue

        def raw(field: str, name: str = name) -> tuple[str, str]:
            own = f"IMAP_{name.upper()}_{field}" if name else f"IMAP_{field}"
            value = (values.get(own) or "").strip()
            if not value and name:
                return (values.get(f"IMAP_{field}") or "").strip(), f"IMAP_{field}"
            return value, own

        host, _ = raw("HOST")
        if not host:
            where = f"IMAP_{name.upper()}_HOST" if name else "IMAP_HOST"
            problems.append(Problem(
                env_file, None, where, "réglage obligatoire pour lire la boîte aux lettres, "
                "absent", f"ajoutez une ligne « {where}=imap.exemple.fr » dans {env_file} "
                "(modèle commenté\u00a0: .env.example)"))
            continue
        security, var = raw("SECURITY")
        security = (security or "tls").lower()
        if security not in SECURITY_MODES:
            bad(var, f"« {security} » n’est pas une valeur possible",
                "valeurs possibles\u00a0: tls (port 993), starttls (port 143) ou none")
            security = "tls"
        port_text, var = raw("PORT")
        port = DEFAULT_PORTS[security]
        if port_text:
            if port_text.isdigit() and 0 < int(port_text) < 65536:
                port = int(port_text)
            else:
                bad(var, f"« {port_text} » n’est pas un numéro de port",
                    "écrivez un nombre, par exemple 993 (tls) ou 143 (starttls)")
        user, var_user = raw("USER")
        password = values.get(f"IMAP_{name.upper()}_PASSWORD" if name else "IMAP_PASSWORD") \
            or (values.get("IMAP_PASSWORD") if name else "") or ""
        if not user:
            bad(var_user, "identifiant de la boîte aux lettres absent",
                f"ajoutez « {var_user}=adresse@exemple.fr » dans {env_file}")
        elif not password:
            var = f"IMAP_{name.upper()}_PASSWORD" if name else "IMAP_PASSWORD"
            bad(var, "mot de passe de la boîte aux lettres absent",
                f"ajoutez « {var}=… » dans {env_file}")
        plain, var = raw("ALLOW_PLAIN_LOOPBACK")
        if plain.lower() not in _TRUE + _FALSE:
            bad(var, f"« {plain} » n’est ni vrai ni faux", "écrivez true ou false")
        timeout_text, var = raw("TIMEOUT")
        try:
            timeout = float((timeout_text or "30").replace(",", "."))
            if timeout <= 0:
                raise ValueError
        except ValueError:
            bad(var, f"« {timeout_text} » n’est pas une durée en secondes",
                "écrivez un nombre positif, par exemple 30")
            timeout = 30.0
        ca, _ = raw("CA_FILE")
        folder, _ = raw("FOLDER")
        done, _ = raw("DONE_FOLDER")
        accounts.append(ImapAccount(
            name=name, host=host, port=port, security=security, user=user,
            password=password, folder=folder or DEFAULT_FOLDER, done_folder=done,
            allow_plain_loopback=plain.lower() in _TRUE, timeout=timeout,
            ca_file=(root.resolve() / ca) if ca else None, env_file=env_file))

    limit_text = (values.get("BOUNCE_SOFT_LIMIT") or "").strip()
    limit = DEFAULT_SOFT_BOUNCE_LIMIT
    if limit_text:
        if limit_text.isdigit() and int(limit_text) >= 1:
            limit = int(limit_text)
        else:
            bad("BOUNCE_SOFT_LIMIT", f"« {limit_text} » n’est pas un nombre entier valable",
                "écrivez un nombre entier supérieur ou égal à 1, par exemple 3")
    for account in accounts:
        if account.security == "none" and not (account.allow_plain_loopback
                                               and account.host_is_loopback):
            bad(account.variable("SECURITY"),
                "sans chiffrement, le mot de passe de la boîte circulerait en clair",
                "écrivez tls (port 993) ou starttls (port 143)\u00a0; pour un serveur sur "
                f"cette machine (127.0.0.1) seulement, {account.variable('ALLOW_PLAIN_LOOPBACK')}"
                "=true")
    if problems:
        n = len(problems)
        raise ConfigError(f"{count(n, 'réglage')} de boîte aux lettres "
                          f"{plural(n, 'invalide ou manquant', 'invalides ou manquants')} dans "
                          f"{env_file}.", problems)
    return InboxSettings(tuple(accounts), limit, env_file)
