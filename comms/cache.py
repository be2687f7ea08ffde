"""Results kept between runs in the user's cache folder, each checked before it is used.

The folder is $XDG_CACHE_HOME/comms/NAME, else ~/.cache/comms/NAME (XDG Base Directory
Specification 0.8: a relative $XDG_CACHE_HOME is ignored). Every cache is optional: when its
folder cannot be created, read or written, callers compute the result again.

An entry is one file named by a key the caller derives from everything the result depends
on (`key`). It is written atomically and carries the SHA-256 of its name and body, so that a
truncated or damaged entry, or a whole one copied under another name, is never trusted: it
reads as missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from comms.write import atomic_write

ENTRY_MAGIC = b"comms-cache 2\n"
_DIGEST_HEX = 64  # characters of a SHA-256 in hexadecimal


def cache_folder(name: str) -> Path | None:
    """The folder of the cache `name`, created if needed; None when it cannot be (no home,
    a read-only file system, a file in the way)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
        folder = root / "comms" / name
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
        return None
    return folder


def key(*parts: str | bytes | int) -> str:
    """A file name (64 hexadecimal characters) that changes with any of `parts`: the SHA-256
    of each part, length-prefixed so that no two different lists of parts give the same
    input."""
    digest = hashlib.sha256()
    for part in parts:
        raw = part if isinstance(part, bytes) else str(part).encode("utf-8")
        digest.update(len(raw).to_bytes(8, "big"))
        digest.update(raw)
    return digest.hexdigest()


def _check(name: str, body: bytes) -> bytes:
    """The SHA-256 (hexadecimal) that an entry named `name` holding `body` carries."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + body).hexdigest().encode("ascii")


def read_entry(folder: Path | None, name: str) -> bytes | None:
    """The body stored under `name`, or None when there is none or it fails its check
    (truncated, damaged, unreadable, written under another name)."""
    if folder is None:
        return None
    try:
        raw = (folder / name).read_bytes()
    except OSError:
        return None
    start = len(ENTRY_MAGIC) + _DIGEST_HEX + 1
    if not raw.startswith(ENTRY_MAGIC) or raw[start - 1:start] != b"\n":
        return None
    body = raw[start:]
    if _check(name, body) != raw[len(ENTRY_MAGIC):start - 1]:
        return None
    return body


def write_entry(folder: Path | None, name: str, body: bytes) -> None:
    """Store `body` under `name`, atomically (a reader sees the old entry, the new one or
    none); a cache that cannot be written is left as it is, silently."""
    if folder is None:
        return
    with contextlib.suppress(OSError):
        atomic_write(folder / name, ENTRY_MAGIC + _check(name, body) + b"\n" + body)
