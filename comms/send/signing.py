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
import hashlib
import time
from collections import Counter
from concurrent.futures import Executor
from email.policy import SMTP
from pathlib import Path

import dkim
import idna
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from comms.errors import ConfigError, Problem
from comms.send.dkim_body import relaxed_body_sha256
from comms.send.message import OutgoingMessage, dot_stuff
from comms.settings import Settings

# The fields RFC 8058 §4 and the big mailbox providers ask to be signed. A field listed but
# absent from a message is signed as absent: nobody can add it on the way.
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                  b"list-unsubscribe", b"list-unsubscribe-post")
# Fields that change how the message reads or whom a reply goes to: signed too.
ALSO_SIGNED = (b"reply-to", b"cc", b"mime-version", b"content-type")
CANONICALIZE = (b"relaxed", b"relaxed")
MIN_KEY_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept shorter keys
_POLICY = dkim.CanonicalizationPolicy.from_c_value(b"/".join(CANONICALIZE))
GENERATE_KEY = "openssl genrsa -out var/dkim.pem 2048"
GUIDE = "docs/redaction.md, section «\u00a0Signature DKIM\u00a0»"


def signed_header_names(headers: list[list[bytes]]) -> list[bytes]:
    """The h= list for a message with these header fields: each of SIGNED_HEADERS and
    ALSO_SIGNED once per occurrence and once more (« over-signing », RFC 6376 §5.4.2 and
    §8.15): a field of that name added anywhere on the way, above or below, breaks the
    signature."""
    present = Counter(name.lower() for name, _ in headers)
    return [name for name in SIGNED_HEADERS + ALSO_SIGNED for _ in range(present[name] + 1)]


def _signature_field(headers: list[list[bytes]], body_sha256: bytes, domain: bytes,
                     selector: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """The `DKIM-Signature:` field (folded, CRLF-terminated) for a message with these
    header fields (dkimpy's `rfc822_parse`) and this body hash (RFC 6376 §3.7): dkimpy's
    own steps and tags, the RSA operation by OpenSSL (RSASSA-PKCS1-v1_5, RFC 8017 §8.2)."""
    name = b"DKIM-Signature"
    signed = signed_header_names(headers)
    fields = [(b"v", b"1"), (b"a", b"rsa-sha256"), (b"c", b"/".join(CANONICALIZE)),
              (b"d", domain), (b"i", b"@" + domain), (b"q", b"dns/txt"), (b"s", selector),
              (b"t", str(int(time.time())).encode("ascii")),
              (b"h", b" : ".join(signed)),
              (b"bh", base64.b64encode(body_sha256)),
              # A placeholder as long as a signature line, so that b= folds onto its own
              # line and adding the signature does not move the other tags.
              (b"b", b"0" * 60)]
    value = dkim.fold(b"; ".join(b"=".join(x) for x in fields), namelen=len(name))
    unsigned = (name, b" " + dkim.RE_BTAG.sub(b"\\1", value))
    hasher = hashlib.sha256()
    dkim.hash_headers(hasher, _POLICY, _POLICY.canonicalize_headers(headers),
                      signed, unsigned, dict(fields))
    signature = key.sign(hasher.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    fields[-1] = (b"b", base64.b64encode(signature))
    value = b"; ".join(b"=".join(x) for x in fields) + b"\r\n"
    return name + b": " + dkim.fold(value, namelen=len(name), linesep=b"\r\n")


def _problem(settings: Settings, name: str, path: Path | None, message: str,
             hint: str) -> ConfigError:
    return ConfigError(f"Signature DKIM impossible\u00a0: réglage {name}. Rien n’a été envoyé.",
                       [Problem(path or settings.env_file, None, name, message, hint)])


def aligned(dkim_domain: str, from_domain: str) -> bool:
    """Whether `dkim_domain` is `from_domain` or one of its parents (relaxed alignment,
    RFC 7489 §3.1.1), a parent having at least one dot (never a bare top-level domain)."""
    d, f = _a_labels(dkim_domain), _a_labels(from_domain)
    return "." in d and (f == d or f.endswith("." + d))


def _a_labels(domain: str) -> str:
    """`domain` in lower case and in its ASCII form (IDNA 2008 with UTS 46 mapping, as
    DKIM_DOMAIN is read): an accented sender domain compares with its published form."""
    domain = domain.lower().rstrip(".")
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def _unreadable(exc: OSError) -> str:
    """French words for why a file could not be read."""
    if isinstance(exc, FileNotFoundError):
        return "introuvable\u00a0: aucun fichier à cet endroit"
    if isinstance(exc, IsADirectoryError):
        return "illisible\u00a0: ce chemin désigne un dossier, pas un fichier"
    if isinstance(exc, PermissionError):
        return "illisible\u00a0: lecture refusée par les droits du fichier"
    return f"illisible (erreur système {exc.errno})"


def _private_key(settings: Settings, path: Path, pem: bytes) -> rsa.RSAPrivateKey:
    """The unencrypted RSA private key in `pem`; ConfigError saying what the file holds
    instead (a public key, an encrypted key, an Ed25519 or EC key, something else)."""
    def refuse(message: str, hint: str) -> ConfigError:
        return _problem(settings, "DKIM_PRIVATE_KEY_FILE", path, message,
                        f"{hint} ({GUIDE})")

    create = f"créez une clé RSA avec\u00a0: {GENERATE_KEY}, publiez sa clé publique dans le DNS"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:  # a passphrase protects it
        raise refuse("clé privée chiffrée par une phrase de passe\u00a0: comms ne peut pas la "
                     "lire sans surveillance", "enregistrez-en une copie non chiffrée, lisible "
                     "par vous seul\u00a0: openssl pkey -in CLÉ-CHIFFRÉE.pem -out var/dkim.pem "
                     "puis chmod 600 var/dkim.pem") from None
    except (ValueError, UnsupportedAlgorithm):
        if b"PUBLIC KEY-----" in pem:
            raise refuse("ce fichier contient une clé publique (celle qui se publie dans le "
                         "DNS), pas la clé privée qui signe", "indiquez le fichier de la clé "
                         "privée, qui commence par «\u00a0-----BEGIN PRIVATE KEY-----\u00a0» "
                         "ou «\u00a0-----BEGIN RSA PRIVATE KEY-----\u00a0»") from None
        raise refuse("ce fichier n’est pas une clé privée RSA ou Ed25519 au format PEM",
                     f"{create} puis indiquez son chemin ici") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raise refuse("clé Ed25519\u00a0: comms signe en RSA (rsa-sha256), que toutes les "
                     "messageries vérifient\u00a0; une signature Ed25519 (RFC 8463) ne "
                     "s’emploie qu’en plus d’une signature RSA", create) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise refuse("ce fichier n’est pas une clé privée RSA ou Ed25519 au format PEM",
                     f"{create} puis indiquez son chemin ici")
    return key


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
        private key (a public key, an encrypted, Ed25519 or EC key are each named), or
        shorter than 1024 bits. DKIM_DOMAIN and DKIM_SELECTOR syntax is checked when the
        settings are read (`comms.settings`)."""
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
                           f"clé privée {_unreadable(exc)}",
                           f"vérifiez le chemin dans {settings.env_file} (relatif à la racine "
                           "du territoire) et les droits du fichier, ou créez la clé "
                           f"avec\u00a0: {GENERATE_KEY} ({GUIDE})") from None
        key = _private_key(settings, path, pem)
        if key.key_size < MIN_KEY_BITS:
            raise _problem(settings, "DKIM_PRIVATE_KEY_FILE", path,
                           f"clé de {key.key_size}\u00a0bits, trop courte (les messageries "
                           "l’ignorent)", f"créez une clé de 2048\u00a0bits\u00a0: "
                           f"{GENERATE_KEY} ({GUIDE})")
        return cls(settings.dkim_domain.lower().rstrip("."), settings.dkim_selector, pem, path)

    def check_aligned(self, from_address: str, settings: Settings) -> None:
        """ConfigError unless the signing domain is aligned with `from_address`'s domain
        (the newsletter's sender.email, or an instance organizer's address)."""
        from_domain = from_address.rpartition("@")[2]
        if not aligned(self.domain, from_domain):
            raise _problem(settings, "DKIM_DOMAIN", None,
                           f"«\u00a0{self.domain}\u00a0» ne correspond pas au domaine de "
                           f"l’expéditeur «\u00a0{from_domain}\u00a0» ({from_address})\u00a0: "
                           "les messageries ignoreraient la signature",
                           f"écrivez DKIM_DOMAIN={from_domain.lower()} (ou un domaine parent "
                           f"de celui-ci) dans {settings.env_file.name}, avec une clé publiée "
                           "sous ce domaine, ou changez cette adresse dans comms.yaml "
                           f"(sender.email, ou l’organisateur de l’instance) ({GUIDE})")

    def signature(self, data: bytes) -> bytes:
        """The `DKIM-Signature:` field (folded, CRLF-terminated) for the RFC 5322 message
        `data` (CRLF line ends): rsa-sha256, relaxed/relaxed, over-signing
        `signed_header_names`."""
        head, _, body = data.partition(b"\r\n\r\n")
        return self.head_signature(head + b"\r\n\r\n", relaxed_body_sha256(body))

    def head_signature(self, head: bytes, body_sha256: bytes) -> bytes:
        """The `DKIM-Signature:` field for a message with this header block (CRLF line
        ends, up to and including the empty line) and this SHA-256 of its body in relaxed
        canonicalisation (RFC 6376 §3.4.4): the body itself is not needed."""
        headers, _ = dkim.rfc822_parse(head)
        return _signature_field(headers, body_sha256, self.domain.encode("ascii"),
                                self.selector.encode("ascii"), self._key)

    def sign(self, message: OutgoingMessage, settings: Settings,
             executor: Executor | None = None) -> OutgoingMessage:
        """`message` whose bytes (raw and SMTP DATA alike) start with its DKIM signature;
        the signature is made once, at the transport's first read: from the message's
        `dkim_input` when it has one (the whole body is then never canonicalised), else
        from its whole bytes. With an `executor`, a message with `dkim_input` is signed
        there at once (the RSA operation runs outside the GIL, beside the sending of the
        message before it). ConfigError when its From is not aligned with the signing
        domain."""
        self.check_aligned(message.sender.email, settings)
        signed: list[bytes] = []
        if message.dkim_input is not None and message.raw is not None \
                and message.stuffed is not None:
            original_raw, original_stuffed, dkim_input = \
                message.raw, message.stuffed, message.dkim_input
            # In the executor, the header block and body hash are made too: the transport
            # reads the bytes only through `field()` first, so never before they are done.
            future = executor.submit(lambda: self.head_signature(*dkim_input())) \
                if executor is not None else None

            def field() -> bytes:
                if not signed:
                    signed.append(future.result() if future is not None
                                  else self.head_signature(*dkim_input()))
                return signed[0]

            # The field's lines start with a letter or a space: no dot-stuffing to do.
            message.raw = lambda: field() + original_raw()
            message.stuffed = lambda: field() + original_stuffed()
            return message
        original = message.raw
        build = original if original is not None else \
            (lambda: message.as_email().as_bytes(policy=SMTP))

        def raw() -> bytes:
            if not signed:
                data = _crlf(build())
                signed.append(self.signature(data) + data)
            return signed[0]

        message.raw = raw
        message.stuffed = lambda: dot_stuff(raw())
        return message


def _crlf(data: bytes) -> bytes:
    """`data` with CRLF line ends throughout (what is signed is what is sent)."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") == crlf and data.count(b"\r") == crlf:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
