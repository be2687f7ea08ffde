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


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.new-"


@contextmanager
def _writing_beside(target: Path) -> Iterator[None]:
    """An exclusive flock on `target`'s parent folder (no lock file is left): writers of
    folders there take turns, and a staging folder found while holding it is one that a
    killed writer left behind."""
    fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; it replaces `target` only on success.

    The swap is two renames on the same file system. Writers of the same parent folder (two
    builds sharing an output folder) take turns; the staging folder and the `.old` folder
    that a killed writer left are removed by the next one.
    """
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    prefix = _staging_prefix(target)
    # (before the "new-" prefix, staging folders were named `.NAME.XXXXXXXX`)
    stale = re.compile(re.escape(f".{target.name}.") + r"(?:new-)?[a-z0-9_]{8}")
    with _writing_beside(target):
        for entry in target.parent.iterdir():
            if (entry == old or stale.fullmatch(entry.name)) and entry.is_dir() \
                    and not entry.is_symlink():
                shutil.rmtree(entry)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the output is meant to be published
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)


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
