"""Sending settings and secrets, read from ROOT/.env (python-dotenv) and the environment.

Real environment variables win over `.env`, so a server or a CI job can override a value
without editing the file. Secrets are never shown: the repr masks them. A missing or wrong
setting is a `ConfigError` naming the variable and pointing to `.env.example`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

import idna
import yaml
from slugify import slugify

from comms.errors import ConfigError, Problem, closest
from comms.french import count
from comms.uri import split_url

ENV_FILE = ".env"
SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_BREVO_URL = "https://api.brevo.com/v3"
# A small relay (an association's hosting plan, a town hall's server) accepts about one
# message a second; raise it for a provider that allows more. 0 means no limit.
DEFAULT_RATE_PER_MINUTE = 60
MIN_SECRET_LENGTH = 16
# Where the unsubscribe secret is generated on first need when neither the environment nor
# .env gives one (mode 0600; keep it with the journal when moving a territory).
SECRET_FILE = Path("var/unsubscribe-secret")

# Every variable read here, with the default used when it is absent (None = no default).
KNOWN = {
    "COMMS_TRANSPORT": "outbox",
    "COMMS_PARTNERS": "",
    "COMMS_RATE_PER_MINUTE": str(DEFAULT_RATE_PER_MINUTE),
    "COMMS_MAX_ATTEMPTS": "5",
    "COMMS_RETRY_BASE_SECONDS": "2",
    "COMMS_RETRY_MAX_WAIT_SECONDS": "600",
    "COMMS_UNSUBSCRIBE_SECRET": "",
    "SMTP_HOST": "",
    "SMTP_PORT": "",
    "SMTP_SECURITY": "starttls",
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "SMTP_ALLOW_PLAIN_LOOPBACK": "false",
    # RFC 5321 §4.5.3.2: 5 min for the greeting and commands, 10 min for the reply to the
    # end of the message.
    "SMTP_TIMEOUT": "300",
    "SMTP_DATA_TIMEOUT": "600",
    "SMTP_CA_FILE": "",
    "BREVO_API_KEY": "",
    "BREVO_API_URL": DEFAULT_BREVO_URL,
    "BREVO_TIMEOUT": "30",
    "COMMS_ONLINE_CHECK": "true",
    # DKIM signing (comms.send.signing): all three, or none for unsigned mail.
    "DKIM_DOMAIN": "",
    "DKIM_SELECTOR": "",
    "DKIM_PRIVATE_KEY_FILE": "",
}
SECRETS = frozenset({"SMTP_PASSWORD", "BREVO_API_KEY", "COMMS_UNSUBSCRIBE_SECRET"})
SECRET_FIELDS = frozenset({"smtp_password", "brevo_api_key", "unsubscribe_secret"})
PREFIXES = ("COMMS_", "SMTP_", "BREVO_", "DKIM_")
# One DNS label (RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1): letters, digits, inner hyphens.
DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
GENERATE = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


@dataclass(frozen=True)
class Settings:
    root: Path
    env_file: Path
    transport: str
    partners: Path | None
    rate_per_minute: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_wait_seconds: float
    unsubscribe_secret: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    smtp_allow_plain_loopback: bool
    smtp_timeout: float
    smtp_data_timeout: float
    smtp_ca_file: Path | None
    brevo_api_key: str
    brevo_api_url: str
    brevo_timeout: float
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_private_key_file: Path | None = None
    warnings: tuple[Problem, ...] = ()
    territory: str = ""  # comms.yaml `territory`, what unsubscribe tokens are bound to
    # Before a real send, check that the page and images answer online.
    online_check: bool = True

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "warnings":
                continue
            if f.name in SECRET_FIELDS:
                shown.append(f"{f.name}={'<masqué>' if value else '<vide>'}")
            else:
                shown.append(f"{f.name}={value!r}")
        return "Settings(" + ", ".join(shown) + ")"

    __str__ = __repr__

    def missing(self, name: str, hint: str = "") -> ConfigError:
        """The error for a required setting that is empty."""
        return ConfigError(
            f"Réglage {name} manquant.",
            [Problem(self.env_file, None, name, "réglage obligatoire pour cet envoi, absent",
                     hint or f"ajoutez une ligne « {name}=… » dans {self.env_file} "
                     "(modèle commenté\u00a0: .env.example)")],
        )

    def require_secret(self) -> str:
        """The territory's secret for unsubscribe tokens and Message-IDs: the unsubscribe
        secret (COMMS_UNSUBSCRIBE_SECRET from the environment or .env, else ROOT/var/
        unsubscribe-secret, generated on first need with mode 0600), bound to the territory's
        name so that a token of another territory is refused even under the same secret.
        ConfigError when var/ cannot hold the generated secret or the file was tampered
        with."""
        raw = self.unsubscribe_secret or self._stored_secret()
        label = slugify(self.territory) if self.territory else ""
        return f"{raw}\x1f{label}" if label else raw

    def _stored_secret(self) -> str:
        path = self.root / SECRET_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_urlsafe(32) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                "Secret de désinscription illisible.",
                [Problem(path, None, "COMMS_UNSUBSCRIBE_SECRET",
                         f"fichier illisible ou impossible à créer ({exc.strerror or exc})",
                         f"rendez {path.parent} accessible en écriture, ou mettez "
                         f"« COMMS_UNSUBSCRIBE_SECRET=… » dans {self.env_file} (valeur "
                         f"générée par\u00a0: {GENERATE})")]) from None
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "Secret de désinscription trop court.",
                [Problem(path, 1, "COMMS_UNSUBSCRIBE_SECRET",
                         "fichier vide ou tronqué", "restaurez ce fichier depuis une "
                         "sauvegarde de var/ (les liens déjà envoyés en dépendent)\u00a0; "
                         "avant tout premier envoi, supprimez-le simplement")])
        return value

    @property
    def smtp_host_is_loopback(self) -> bool:
        if self.smtp_host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.smtp_host).is_loopback
        except ValueError:
            return False


def _line_in(path: Path, name: str) -> int | None:
    if not path.is_file():
        return None
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(name)}\s*=")
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                  .splitlines(), 1):
        if pattern.match(text):
            return number
    return None


class _Reader:
    """Turns raw strings into typed values, collecting every problem before raising."""

    def __init__(self, values: Mapping[str, str], env_file: Path):
        self.values = values
        self.env_file = env_file
        self.problems: list[Problem] = []

    def raw(self, name: str) -> str:
        """The value, or the default when absent or left empty (`SMTP_PORT=`)."""
        return (self.values.get(name) or "").strip() or KNOWN[name]

    def bad(self, name: str, message: str, hint: str) -> None:
        self.problems.append(Problem(self.env_file, _line_in(self.env_file, name), name,
                                     message, hint))

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name).lower()
        if value not in choices:
            guess = closest(value, choices)
            self.bad(name, f"« {value} » n’est pas une valeur possible",
                     (f"vouliez-vous écrire « {guess} »\u00a0? " if guess else "")
                     + "valeurs possibles\u00a0: " + ", ".join(choices))
            return choices[0]
        return value

    def integer(self, name: str, minimum: int = 0) -> int:
        value = self.raw(name)
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < minimum:
            self.bad(name, f"« {value} » n’est pas un nombre entier valable",
                     f"écrivez un nombre entier supérieur ou égal à {minimum}")
            return int(KNOWN[name] or minimum)
        return number

    def number(self, name: str) -> float:
        value = self.raw(name).replace(",", ".")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number < 0:
            self.bad(name, f"« {value} » n’est pas une durée en secondes",
                     "écrivez un nombre positif, par exemple 30")
            return float(KNOWN[name])
        return number

    def api_url(self, name: str) -> str:
        """An HTTP API's base URL: https (http only towards this machine, for tests), a
        host, nothing that would be read as a second address or hidden."""
        value = self.raw(name)
        parts = split_url(value) or urlsplit("")
        loopback = (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")
        if (parts.scheme != "https" and not (parts.scheme == "http" and loopback)) \
                or not parts.hostname or re.search(r"[\s<>\",\x00-\x1f\x7f]", value) \
                or parts.query or parts.fragment:
            self.bad(name, f"«\u00a0{value}\u00a0» n’est pas une adresse d’API valable",
                     f"écrivez l’adresse complète, par exemple {KNOWN[name]} (ou retirez la "
                     "ligne pour garder celle par défaut)")
            return KNOWN[name]
        return value.rstrip("/")

    def dkim_domain(self, name: str) -> str:
        """A DNS name of at least two labels (RFC 1035 §2.3.1, RFC 6376 §3.5 `d=`), lower
        case, without the final dot; an internationalised name is written in its ASCII
        form (IDNA 2008 with UTS 46 mapping, RFC 5891), as it is published in the DNS."""
        value = self.raw(name)
        if not value:
            return ""
        hint = (f"écrivez seulement le domaine de l’adresse d’expéditeur (sender.email dans "
                f"comms.yaml) ou un domaine parent, par exemple {name}=sante.example.org, "
                "sans « @ », sans « https:// » ni « / »")
        domain = value.rstrip(".")
        if not domain.isascii():
            try:
                domain = idna.encode(domain, uts46=True).decode("ascii")
            except idna.IDNAError:
                self.bad(name, f"« {value} » n’est pas un nom de domaine "
                         "international valable", hint)
                return ""
        labels = domain.lower().split(".")
        if len(labels) < 2 or len(domain) > 253 or labels[-1].isdigit() or not all(
                DNS_LABEL.fullmatch(label) for label in labels):
            self.bad(name, f"« {value} » n’est pas un nom de domaine", hint)
            return ""
        return ".".join(labels)

    def dkim_selector(self, name: str) -> str:
        """A selector as RFC 6376 §3.1 defines it: one or more DNS labels separated by dots
        (letters, digits, inner hyphens), without the `._domainkey` that DNS adds."""
        value = self.raw(name)
        if not value:
            return ""
        labels = value.split(".")
        if labels[-1].lower() == "_domainkey" or "._domainkey." in value.lower():
            bare = value.lower().partition("._domainkey")[0]
            self.bad(name, f"« {value} » contient « ._domainkey », que "
                     "le DNS ajoute de lui-même", f"écrivez seulement le sélecteur : "
                     f"{name}={bare}")
            return ""
        if len(value) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
            self.bad(name, f"« {value} » n’est pas un sélecteur DKIM",
                     "écrivez le nom sous lequel la clé publique est publiée dans le DNS "
                     f"(avant « ._domainkey ») : lettres sans accents, chiffres "
                     f"et tirets, par exemple {name}=comms2027")
            return ""
        return value

    def boolean(self, name: str) -> bool:
        value = self.raw(name).lower()
        if value in ("1", "true", "yes", "oui", "vrai", "on"):
            return True
        if value in ("", "0", "false", "no", "non", "faux", "off"):
            return False
        self.bad(name, f"« {value} » n’est ni vrai ni faux", "écrivez true ou false")
        return False


def _territory(root: Path) -> str:
    """comms.yaml's top-level `territory`, or "" when it cannot be read here (content checks
    report that). Only that one line is parsed."""
    try:
        text = (root / "comms.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    line = re.search(r"^territory[ \t]*:.*$", text, re.MULTILINE)
    try:
        data = yaml.safe_load(line.group(0)) if line else None
    except yaml.YAMLError:
        return ""
    value = data.get("territory") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else ""


def load_settings(root: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for the content root; raises ConfigError listing every wrong value."""
    root = root.resolve()
    env_file = root / ENV_FILE
    from_file = {}
    if env_file.is_file():
        from dotenv import dotenv_values  # only a root with a .env pays for its import

        from_file = {k: v or "" for k, v in dotenv_values(env_file).items()}
    environ = os.environ if environ is None else environ
    values = dict(from_file)
    values.update({k: v for k, v in environ.items() if k in KNOWN})
    read = _Reader(values, env_file)

    warnings = []
    for name in from_file:
        if name.startswith(PREFIXES) and name not in KNOWN:
            guess = closest(name, KNOWN)
            warnings.append(Problem(
                env_file, _line_in(env_file, name), name, "variable inconnue, ignorée",
                f"vouliez-vous écrire « {guess} »\u00a0?" if guess else
                "voir la liste dans .env.example", level="avertissement"))

    transport = read.raw("COMMS_TRANSPORT").lower()  # checked by get_transport
    security = read.choice("SMTP_SECURITY", SECURITY_MODES)
    port = read.integer("SMTP_PORT", 1) if read.raw("SMTP_PORT") else DEFAULT_PORTS[security]
    secret = read.raw("COMMS_UNSUBSCRIBE_SECRET")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        read.bad("COMMS_UNSUBSCRIBE_SECRET", "secret trop court (on pourrait le deviner)",
                 f"utilisez au moins {MIN_SECRET_LENGTH} caractères aléatoires, par exemple "
                 f"générés par\u00a0: {GENERATE}")
    partners = read.raw("COMMS_PARTNERS")
    ca_file = read.raw("SMTP_CA_FILE")
    dkim_key = read.raw("DKIM_PRIVATE_KEY_FILE")
    settings = Settings(
        root=root,
        env_file=env_file,
        transport=transport,
        partners=(root / partners) if partners else None,
        rate_per_minute=read.integer("COMMS_RATE_PER_MINUTE", 0),
        max_attempts=read.integer("COMMS_MAX_ATTEMPTS", 1),
        retry_base_seconds=read.number("COMMS_RETRY_BASE_SECONDS"),
        retry_max_wait_seconds=read.number("COMMS_RETRY_MAX_WAIT_SECONDS"),
        unsubscribe_secret=secret,
        smtp_host=read.raw("SMTP_HOST"),
        smtp_port=port,
        smtp_security=security,
        smtp_user=read.raw("SMTP_USER"),
        smtp_password=values.get("SMTP_PASSWORD") or "",
        smtp_allow_plain_loopback=read.boolean("SMTP_ALLOW_PLAIN_LOOPBACK"),
        smtp_timeout=read.number("SMTP_TIMEOUT"),
        smtp_data_timeout=read.number("SMTP_DATA_TIMEOUT"),
        smtp_ca_file=(root / ca_file) if ca_file else None,
        brevo_api_key=read.raw("BREVO_API_KEY"),
        brevo_api_url=read.api_url("BREVO_API_URL"),
        brevo_timeout=read.number("BREVO_TIMEOUT"),
        dkim_domain=read.dkim_domain("DKIM_DOMAIN"),
        dkim_selector=read.dkim_selector("DKIM_SELECTOR"),
        dkim_private_key_file=(root / dkim_key) if dkim_key else None,
        warnings=tuple(warnings),
        territory=_territory(root),
        online_check=read.boolean("COMMS_ONLINE_CHECK"),
    )
    if read.problems:
        raise ConfigError(f"{count(len(read.problems), 'réglage invalide')} dans {env_file}.",
                          read.problems)
    return settings
