"""The systemd unit of `comms serve` (deploy/comms-serve.service) lets it write everything
its start-up publication writes: under ProtectSystem=strict, any other write fails."""

from __future__ import annotations

import configparser
from pathlib import Path

from conftest import REPO, write
from web_server import running

UNIT = REPO / "deploy" / "comms-serve.service"
SECRET = "test-secret-0123456789abcdef"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser["Service"]


def writable_folders() -> list[Path]:
    """ReadWritePaths, relative to the territory (WorkingDirectory)."""
    section = service()
    territory = Path(section["WorkingDirectory"])
    return [Path(p).relative_to(territory) for p in section["ReadWritePaths"].split()]


def files(root: Path) -> dict[Path, tuple[int, int]]:
    """relative path -> (inode, mtime in ns) of every file of the territory."""
    return {p.relative_to(root): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def test_serve_writes_only_where_its_unit_allows(root):
    # Events never published yet: the start-up publication gives them their first revision.
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    assert not (root / "calendars" / "revisions.json").exists()
    before = files(root)
    with running("serve", "--port", "0", "--root", str(root), "--today", "2027-03-01"):
        pass
    written = {path for path, stamp in files(root).items() if before.get(path) != stamp}
    assert Path("build/site/index.html") in written  # it did publish
    allowed = writable_folders()
    outside = sorted(p for p in written if not any(p.is_relative_to(a) for a in allowed))
    assert outside == [], f"{UNIT.name} must make these writable: {outside}"
