"""The body hash of a DKIM signature (bh=, RFC 6376 §3.7) in relaxed body canonicalisation
(§3.4.4), for a campaign whose bodies differ only by a few personal values.

Relaxed body canonicalisation works line by line (whitespace at the end of a line removed,
other runs of whitespace reduced to one space), except that the empty lines at the end of
the body are ignored. So a body made of segments of whole lines (each ending with CRLF) is
canonicalised segment by segment: the static segments, shared by every recipient, are
canonicalised once and SHA-256 is fed up to the first personal value once (a copy of that
state per message); per message, only the personal values are canonicalised. The
line-by-line steps are dkimpy's own functions, and `relaxed_body_sha256` (dkimpy on the
whole body) is the reference the tests compare with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dkim.canonicalization import Relaxed, compress_whitespace, strip_trailing_whitespace

CRLF = b"\r\n"


def relaxed_body_sha256(body: bytes) -> bytes:
    """The SHA-256 digest (32 bytes) of `body` (CRLF line ends) in relaxed body
    canonicalisation (RFC 6376 §3.4.4), by dkimpy on the whole body."""
    return hashlib.sha256(Relaxed.canonicalize_body(body)).digest()


def _canonical(segment: bytes) -> tuple[bytes, int]:
    """`segment` (whole lines) canonicalised (§3.4.4 a and b), as the lines up to its last
    non-empty one and the number of empty lines after them (§3.4.4 c: kept only if a
    non-empty line follows in a later segment). ValueError unless it ends with CRLF."""
    if segment and not segment.endswith(CRLF):
        raise ValueError("a body segment must end with CRLF")
    text = compress_whitespace(strip_trailing_whitespace(segment))
    end, empty = len(text), 0
    while text.endswith(CRLF, 0, end):
        end -= 2
        empty += 1
    if end == 0:  # nothing but empty lines
        return b"", empty
    return text[:end + 2], empty - 1


class SlottedBody:
    """Bodies made of the same static segments with personal values between them.

    `segments`: the body in order, bytes for a static segment and None for each personal
    value; every segment and value is whole lines (ends with CRLF), so that no line, and no
    run of whitespace, spans two of them.
    """

    def __init__(self, segments: Sequence[bytes | None]):
        items = [None if s is None else _canonical(s) for s in segments]
        self._start = hashlib.sha256()
        self._pending = 0  # empty lines held back (§3.4.4 c)
        while items and items[0] is not None:
            content, empty = items.pop(0)
            self._pending = self._feed(self._start, self._pending, content, empty)
        self._rest = items
        self.slots = sum(item is None for item in items)

    @staticmethod
    def _feed(hasher: hashlib._Hash, pending: int, content: bytes, empty: int) -> int:
        if not content:
            return pending + empty
        hasher.update(CRLF * pending + content if pending else content)
        return empty

    def sha256(self, values: Sequence[bytes]) -> bytes:
        """The SHA-256 digest (32 bytes) of the canonicalised body with `values` in its
        slots, in order: what `relaxed_body_sha256` gives for the whole body.
        ValueError when a value is not whole lines or the count is not `slots`."""
        if len(values) != self.slots:
            raise ValueError(f"{len(values)} values for {self.slots} slots")
        hasher, pending = self._start.copy(), self._pending
        given = iter(values)
        for item in self._rest:
            content, empty = _canonical(next(given)) if item is None else item
            pending = self._feed(hasher, pending, content, empty)
        return hasher.digest()
