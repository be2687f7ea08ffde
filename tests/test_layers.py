"""The package layers of docs/architecture.md, read from the source: the iCalendar format
layer imports nothing from rendering, sending or the workflows above it."""

from __future__ import annotations

import ast
from pathlib import Path

import comms

PACKAGE = Path(comms.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in sorted((PACKAGE / package).glob("*.py")):
        hits = sorted(m for m in imported_modules(path)
                      if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[path.name] = hits
    return bad


def test_the_calendar_format_layer_imports_no_sending_rendering_or_workflow():
    forbidden = ("comms.send", "comms.render", "comms.invitations", "comms.due",
                 "comms.review", "comms.build", "comms.commands", "comms.cli")
    assert forbidden_imports("calendar", forbidden) == {}


def test_the_invitation_workflow_lives_above_the_format_layer():
    assert {p.name for p in (PACKAGE / "invitations").glob("*.py")} >= {
        "imip.py", "plan.py", "sequence.py"}
    assert not any((PACKAGE / "calendar" / name).exists()
                   for name in ("imip.py", "invitations.py", "sequence.py"))
    # The workflow is built on the format layer, not beside a copy of it.
    assert "comms.calendar.ics" in imported_modules(PACKAGE / "invitations" / "imip.py")


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from comms.send.headers import list_id\n")
    assert "comms.send.headers" in imported_modules(sample)
