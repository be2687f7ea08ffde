"""Atomic writing: a failed build leaves the previous output untouched."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def staging_prefix(target: Path) -> str:
    """The name prefix of the staging folders (tempfile.mkdtemp) of `target`."""
    return f".{target.name}.new-"


@contextmanager
def writing_beside(target: Path) -> Iterator[None]:
    """An exclusive flock on `target`'s parent folder (no lock file is left): writers of
    folders there (builds sharing an output folder, publications) take turns, and a staging
    folder found while holding it is one that a killed writer left behind."""
    fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale(target: Path) -> int:
    """Remove the staging folders (`.NAME.new-XXXXXXXX`, formerly `.NAME.XXXXXXXX`) and the
    `.NAME.old` folder that a killed writer of `target` left beside it; nothing else. Call
    it holding `writing_beside`. Returns how many were removed."""
    stale = re.compile(re.escape(f".{target.name}.") + r"(?:(?:new-)?[a-z0-9_]{8}|old)")
    removed = 0
    for entry in target.parent.iterdir():
        if stale.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def swap(staging: Path, target: Path) -> None:
    """Put the folder `staging` in the place of `target` (two renames on one file system);
    if the second rename fails, the previous `target` is put back."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old.exists() and not target.exists():
            old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; it replaces `target` only on success.

    Writers of the same parent folder (two builds sharing an output folder) take turns; the
    staging and `.old` folders that a killed writer left are removed by the next one.
    """
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with writing_beside(target):
        remove_stale(target)
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(target), dir=target.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the output is meant to be published
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        swap(staging, target)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace `path` in one step: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # published files: readable by the web server
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
