"""Problems found in a coordinator's content, and the errors that carry them.

Every problem names the file, the line and the field, says what is wrong and what to write
instead, in French. Nothing is rendered, written or sent while an error-level problem exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ERROR = "erreur"
WARNING = "avertissement"


@dataclass(frozen=True)
class Problem:
    path: Path | None
    line: int | None
    field: str | None
    message: str
    hint: str = ""
    level: str = ERROR

    @property
    def is_error(self) -> bool:
        return self.level == ERROR

    def format(self, root: Path | None = None) -> str:
        """`file:line: field: what is wrong — what to write instead`."""
        where = ""
        if self.path is not None:
            shown = self.path
            if root is not None:
                try:
                    shown = self.path.resolve().relative_to(root.resolve())
                except ValueError:
                    shown = self.path
            where = f"{shown}:{self.line}: " if self.line else f"{shown}: "
        field = f"{self.field}\u00a0: " if self.field else ""
        prefix = "" if self.is_error else "avertissement\u00a0: "
        hint = f" — {self.hint}" if self.hint else ""
        return f"{where}{prefix}{field}{self.message}{hint}"


class CommsError(Exception):
    """Root of the errors shown to the user as a clean French message (never a traceback)."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class ContentError(CommsError):
    """The content root has errors; `problems` lists all of them."""

    def __init__(self, problems: Iterable[Problem], message: str = ""):
        problems = list(problems)
        count = sum(p.is_error for p in problems)
        from comms.french import count as counted

        super().__init__(message or f"{counted(count, 'erreur')} dans le contenu.", problems)


class ConfigError(CommsError):
    """A missing or wrong setting (.env, comms.yaml): never hidden by 'continue on error'."""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one, for « vouliez-vous dire… »."""
    matches = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.6)
    if not matches:
        return None
    for k in known:
        if k.lower() == matches[0]:
            return k
    return None


class Problems:
    """Collects problems while reading one file; knows the file so callers give only lines."""

    def __init__(self, path: Path | None, sink: list[Problem]):
        self.path = path
        self.sink = sink

    def error(self, line: int | None, field: str | None, message: str, hint: str = "") -> None:
        self.sink.append(Problem(self.path, line, field, message, hint, ERROR))

    def warning(self, line: int | None, field: str | None, message: str, hint: str = "") -> None:
        self.sink.append(Problem(self.path, line, field, message, hint, WARNING))
