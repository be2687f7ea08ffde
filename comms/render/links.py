"""Link targets in Markdown that cannot be what the coordinator meant, for `comms check`.

A mail client has no base URL: a relative link only works because the renderer joins it to
`web_base_url`, so `www.exemple.fr` becomes `https://…/lettre/www.exemple.fr`, a 404 for the
partner. Local files and intranet hosts open on the coordinator's computer and nowhere else,
and a scheme the renderer does not keep leaves plain text where a link was written.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from comms.render.markdown import LINK_SCHEMES
from comms.uri import split_url

NBSP = "\u00a0"
# [text](target "title"), ![alt](target), and <scheme:…> autolinks.
_INLINE = re.compile(r"\]\(\s*<?([^\s)>]+)")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s>]*)>")
_EMAIL = re.compile(r"^[^@/\s:]+@[^@/\s]+\.[A-Za-z]{2,}$")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
# Top-level domains common in French partners' addresses: `exemple.fr/page` is a site, not a
# relative path (a file such as `rapport.pdf` is not taken for one).
_TLDS = {"fr", "com", "org", "net", "eu", "info", "be", "ch", "re", "io", "gouv"}


@dataclass(frozen=True)
class BadLink:
    line: int  # 1-based, in the Markdown text given
    target: str
    message: str  # French: what is wrong
    hint: str  # French: what to write instead


def _looks_like_a_site(target: str) -> bool:
    first = target.split("/", 1)[0].split("?", 1)[0].lower()
    if first.startswith("www."):
        return True
    labels = first.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1] in _TLDS


def _internal_host(host: str) -> bool:
    if not host or host == "localhost" or host.endswith((".local", ".lan", ".intra")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_private or address.is_loopback or address.is_link_local


def _judge(target: str) -> tuple[str, str] | None:
    """(message, hint) when `target` cannot work in an email, else None."""
    shown = f"«{NBSP}{target}{NBSP}»"
    if _DRIVE.match(target) or target.startswith("\\\\") or "\\" in target \
            or target.lower().startswith("file:"):
        return (f"le lien {shown} désigne un fichier de votre ordinateur, que les "
                "partenaires ne peuvent pas ouvrir",
                "déposez le document sur le site de la coordination et liez son adresse "
                "https://…, ou joignez-le à l’actualité (image ou fichier dans content/)")
    parts = split_url(target)
    if parts is None:
        return (f"le lien {shown} n’est pas une adresse valable (crochet ou numéro de port "
                "mal placé) : il ne mènerait nulle part",
                "recopiez l’adresse depuis la barre d’adresse du navigateur")
    scheme = parts.scheme.lower()
    if not scheme:
        if _EMAIL.match(target):
            return (f"le lien {shown} est une adresse électronique sans «{NBSP}mailto:{NBSP}»"
                    "\u00a0: dans le message, il mènerait à une page introuvable",
                    f"écrivez (mailto:{target})")
        if _looks_like_a_site(target):
            return (f"le lien {shown} n’a pas de «{NBSP}https://{NBSP}»\u00a0: une messagerie "
                    "le lirait comme une page de la lettre, introuvable",
                    f"écrivez l’adresse complète\u00a0: (https://{target})")
        return None
    if scheme not in LINK_SCHEMES:
        return (f"le lien {shown} n’est pas une adresse web, électronique ou de téléphone"
                f"\u00a0: il ne sera pas cliquable",
                "écrivez une adresse qui commence par https://, mailto: ou tel:")
    if scheme in ("http", "https") and _internal_host((parts.hostname or "").lower()):
        return (f"le lien {shown} mène à une adresse interne (réseau de la structure ou "
                "votre ordinateur), que les partenaires ne peuvent pas joindre",
                "liez l’adresse publique de la page, celle qu’un partenaire ouvrirait de "
                "chez lui")
    return None


def bad_links(md: str) -> list[BadLink]:
    """Every link or image target of `md` that cannot work in an email, with its line."""
    found = []
    in_code = False
    for number, text in enumerate(md.splitlines(), 1):
        if text.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        if in_code:
            continue
        text = re.sub(r"`[^`]*`", "", text)  # inline code is not a link
        for target in [*_INLINE.findall(text), *_AUTOLINK.findall(text)]:
            judged = _judge(target)
            if judged:
                found.append(BadLink(number, target, *judged))
    return found
