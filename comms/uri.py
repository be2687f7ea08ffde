"""IRIs written by people made into the URIs that headers and links require.

Coordinators write addresses as they read them: `https://santé.example.org/désinscription`.
RFC 2369 and RFC 8058 want `<URI>` items in List-Unsubscribe, and an RFC 2047 encoded-word
there is no link at all (RFC 2047 section 5); HTML attributes and calendar URL properties
want URIs too. `to_uri` is the one conversion (RFC 3987 section 3.1): the host in IDNA
(RFC 5891, with UTS #46 mapping), every other non-ASCII character as percent-encoded UTF-8.
It is applied where configuration and content supply a URL (`comms.content.fields.url`),
and again, harmlessly, where a URL enters a header.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import idna

# What RFC 3986 allows unescaped in a URI (reserved and unreserved characters) plus `%`,
# so that an address already percent-encoded is left as it is.
_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class InvalidIRI(ValueError):
    """The host name cannot be written in IDNA (the message says why, in English)."""


def split_url(text: str) -> SplitResult | None:
    """`text` split as `urllib.parse.urlsplit` does, or None when it cannot be: an unclosed
    or misplaced IPv6 bracket, a port that is not a number from 0 to 65535 (where urlsplit
    and its `port` raise ValueError)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return parts


def _host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidIRI(f"host {host!r}: {exc}") from None


def to_uri(iri: str) -> str:
    """The URI of `iri` (RFC 3987 section 3.1): NFC, IDNA host, percent-encoded UTF-8 for
    any other non-ASCII character; an ASCII URI comes back unchanged (idempotent).

    Raises InvalidIRI when the host is not a valid internationalised domain name.
    """
    if iri.isascii() and not _STRAY_PERCENT.search(iri):
        return iri
    text = unicodedata.normalize("NFC", iri)
    parts = split_url(text)
    if parts is None:
        raise InvalidIRI(f"not a URL: {text!r}")
    netloc = parts.netloc
    if netloc:
        userinfo, at, hostport = netloc.rpartition("@")
        if hostport.startswith("["):  # an IPv6 literal
            host, port = hostport, ""
        else:
            host, colon, port = hostport.partition(":")
            port = colon + port
        netloc = (quote(userinfo, safe=_SAFE) + at if at else "") + _host(host) + port

    def escape(part: str) -> str:
        return _STRAY_PERCENT.sub("%25", quote(part, safe=_SAFE))

    return urlunsplit((parts.scheme, netloc, escape(parts.path), escape(parts.query),
                       escape(parts.fragment)))
