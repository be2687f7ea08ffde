"""DKIM signatures (RFC 6376) on the raw bytes the send loop hands to SMTP and the outbox.

Gmail and Yahoo honour one-click unsubscribe (List-Unsubscribe-Post, RFC 8058 §4) only when
a DKIM signature covers it. The signature is made with dkimpy (header selection, relaxed/
relaxed canonicalisation, the DKIM-Signature field); only the RSA operation itself goes to
OpenSSL through `cryptography`, since dkimpy's pure-Python RSA costs about 20 ms a message.

The signing domain (d=) must be aligned with the From domain: the same, or a parent of it
(DMARC relaxed alignment, RFC 7489 §3.1.1), otherwise receivers ignore the signature for
DMARC and one-click.
"""

from __future__ import annotations

import base64
from email.policy import SMTP
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from comms.errors import ConfigError, Problem
from comms.send.message import OutgoingMessage, dot_stuff
from comms.settings import Settings

# The fields RFC 8058 §4 and the big mailbox providers ask to be signed. A field listed but
# absent from a message is signed as absent: nobody can add it on the way.
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                  b"list-unsubscribe", b"list-unsubscribe-post")
CANONICALIZE = (b"relaxed", b"relaxed")
MIN_KEY_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept shorter keys
GENERATE_KEY = "openssl genrsa -out var/dkim.pem 2048"
GUIDE = "docs/redaction.md, section «\u00a0Signature DKIM\u00a0»"


class _OpenSslDKIM(dkim.DKIM):
    """dkimpy's signer with the RSA step done by OpenSSL (same bytes, RFC 8017 §8.2)."""

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey):
        head, sep, body = message.partition(b"\r\n\r\n")
        if sep and message.count(b"\n") == message.count(b"\r\n"):
            # CRLF throughout: dkimpy parses the header only, and takes the body as it is
            # (what its line-by-line parse would rebuild, byte for byte).
            super().__init__(head + b"\r\n\r\n", linesep=b"\r\n")
            self.body = body
        else:
            super().__init__(message, linesep=b"\r\n")
        self._key = key

    def gen_header(self, fields: list[tuple[bytes, bytes]], include_headers: tuple[bytes, ...],
                   canon_policy: object, header_name: bytes, pk: object,
                   standardize: bool = False) -> bytes:
        """The folded field value with b= (dkimpy's own steps; `pk` is not used)."""
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        hasher = dkim.HashThrough(self.hasher(), self.debug_content)
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(hasher, canon_policy, headers,
                                                include_headers, header, dict(fields))
        signature = self._key.sign(hasher.digest(), padding.PKCS1v15(),
                                   Prehashed(hashes.SHA256()))
        index = next(i for i, (name, _) in enumerate(fields) if name == b"b")
        fields[index] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep)


def _problem(settings: Settings, name: str, path: Path | None, message: str,
             hint: str) -> ConfigError:
    return ConfigError(f"Signature DKIM impossible\u00a0: réglage {name}. Rien n’a été envoyé.",
                       [Problem(path or settings.env_file, None, name, message, hint)])


def aligned(dkim_domain: str, from_domain: str) -> bool:
    """Whether `dkim_domain` is `from_domain` or one of its parents (relaxed alignment,
    RFC 7489 §3.1.1), a parent having at least one dot (never a bare top-level domain)."""
    d, f = dkim_domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return "." in d and (f == d or f.endswith("." + d))


class Signer:
    """Signs whole messages for one domain and selector with one RSA key."""

    def __init__(self, domain: str, selector: str, key_pem: bytes, key_file: Path):
        self.domain = domain
        self.selector = selector
        self.key_file = key_file
        self._pem = key_pem
        self._key = serialization.load_pem_private_key(key_pem, password=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        """The signer DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE describe, or None
        when none of them is set. ConfigError (French, naming the setting or the file) when
        one is missing, or the key file is missing, unreadable, not an unencrypted RSA PEM
        key, or shorter than 1024 bits."""
        values = {"DKIM_DOMAIN": settings.dkim_domain, "DKIM_SELECTOR": settings.dkim_selector,
                  "DKIM_PRIVATE_KEY_FILE": str(settings.dkim_private_key_file or "")}
        if not any(values.values()):
            return None
        for name, value in values.items():
            if not value:
                raise _problem(settings, name, None, "réglage absent alors que la signature "
                               "DKIM est demandée (un autre réglage DKIM_ est rempli)",
                               f"complétez les trois réglages DKIM_ dans {settings.env_file}, "
                               f"ou videz-les tous pour envoyer sans signature ({GUIDE})")
        path = settings.dkim_private_key_file
        assert path is not None
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise _problem(settings, "DKIM_PRIVATE_KEY_FILE", path,
                           f"clé privée introuvable ou illisible ({exc.strerror or exc})",
                           f"vérifiez le chemin dans {settings.env_file} et les droits du "
                           f"fichier, ou créez la clé avec\u00a0: {GENERATE_KEY} ({GUIDE})"
                           ) from None
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise _problem(settings, "DKIM_PRIVATE_KEY_FILE", path,
                           "ce fichier n’est pas une clé privée RSA au format PEM non chiffrée",
                           f"créez-en une avec\u00a0: {GENERATE_KEY}, publiez sa clé publique "
                           f"dans le DNS puis indiquez son chemin ici ({GUIDE})")
        if key.key_size < MIN_KEY_BITS:
            raise _problem(settings, "DKIM_PRIVATE_KEY_FILE", path,
                           f"clé de {key.key_size}\u00a0bits, trop courte (les messageries "
                           "l’ignorent)", f"créez une clé de 2048\u00a0bits\u00a0: "
                           f"{GENERATE_KEY} ({GUIDE})")
        return cls(settings.dkim_domain.lower().rstrip("."), settings.dkim_selector, pem, path)

    def check_aligned(self, from_address: str, settings: Settings) -> None:
        """ConfigError unless the signing domain is aligned with `from_address`'s domain."""
        from_domain = from_address.rpartition("@")[2]
        if not aligned(self.domain, from_domain):
            raise _problem(settings, "DKIM_DOMAIN", None,
                           f"« {self.domain} » ne correspond pas au domaine de l’expéditeur "
                           f"« {from_domain} » ({from_address})",
                           f"écrivez DKIM_DOMAIN={from_domain.lower()} (ou un domaine parent "
                           "de celui-ci), avec une clé publiée sous ce domaine, ou changez "
                           f"l’adresse d’expéditeur (sender.email) ({GUIDE})")

    def signature(self, data: bytes) -> bytes:
        """The `DKIM-Signature:` field (folded, CRLF-terminated) for the RFC 5322 message
        `data` (CRLF line ends): rsa-sha256, relaxed/relaxed, over `SIGNED_HEADERS`."""
        signer = _OpenSslDKIM(data, self._key)
        return signer.sign(self.selector.encode("ascii"), self.domain.encode("ascii"),
                           self._pem, canonicalize=CANONICALIZE,
                           include_headers=list(SIGNED_HEADERS))

    def sign(self, message: OutgoingMessage, settings: Settings) -> OutgoingMessage:
        """`message` whose bytes (raw and SMTP DATA alike) start with its DKIM signature;
        the bytes are built and signed once, at the transport's first read.
        ConfigError when its From is not aligned with the signing domain."""
        self.check_aligned(message.sender.email, settings)
        original = message.raw
        build = original if original is not None else \
            (lambda: message.as_email().as_bytes(policy=SMTP))
        signed: list[bytes] = []

        def raw() -> bytes:
            if not signed:
                data = build()
                signed.append(self.signature(data) + data)
            return signed[0]

        message.raw = raw
        message.stuffed = lambda: dot_stuff(raw())
        return message
