"""Read coordinators' files: UTF-8 text, YAML with the line of every key, Markdown front matter.

PyYAML's composer keeps the position of every node, so each field of a file is reported with
its own line. Values are built with the safe constructor only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from comms.errors import Problems


@dataclass
class Document:
    """A YAML mapping (front matter or a whole file) with the line of each top-level key."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int]
    line: int  # line where the mapping starts
    body: str = ""
    body_line: int = 0
    children: dict[str, Document] = field(default_factory=dict)  # nested mappings

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


def read_text(path: Path, report: Problems) -> str | None:
    """The file's text; a clear error if it is not UTF-8 (Windows-1252 from Word, say)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.error(
            line,
            None,
            "le fichier n’est pas encodé en UTF-8",
            "réenregistrez-le en UTF-8 (dans votre éditeur : « Enregistrer sous… », "
            "encodage UTF-8)",
        )
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _yaml_error(exc: yaml.YAMLError, report: Problems, first_line: int) -> None:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + first_line if mark is not None else first_line
    problem = getattr(exc, "problem", None) or str(exc)
    report.error(
        line,
        None,
        f"syntaxe YAML invalide ({problem})",
        "vérifiez l’indentation et mettez entre guillemets les valeurs contenant « : » ou « # »",
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text and reads only true/false as booleans.

    Dates are parsed by the field readers, which report impossible ones with their line;
    YAML 1.1 would otherwise turn a `repeat: {on: first thursday}` key into True.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _positions(node: yaml.MappingNode, path: Path, data: dict, first_line: int) -> Document:
    doc = Document(path, data, {}, node.start_mark.line + first_line)
    for key_node, value_node in node.value:
        key = str(key_node.value)
        doc.lines[key] = key_node.start_mark.line + first_line
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value_node, yaml.MappingNode) and isinstance(value, dict):
            doc.children[key] = _positions(value_node, path, value, first_line)
        elif isinstance(value_node, yaml.SequenceNode) and isinstance(value, list):
            for i, item in enumerate(value_node.value):
                if isinstance(item, yaml.MappingNode) and isinstance(value[i], dict):
                    doc.children[f"{key}[{i}]"] = _positions(item, path, value[i], first_line)
                doc.lines[f"{key}[{i}]"] = item.start_mark.line + first_line
    return doc


def parse_yaml(text: str, path: Path, report: Problems, first_line: int = 1) -> Document | None:
    """A YAML mapping with key lines, or None after reporting the error."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        _yaml_error(exc, report, first_line)
        return None
    if node is None:
        return Document(path, {}, {}, first_line)
    if not isinstance(node, yaml.MappingNode):
        report.error(
            node.start_mark.line + first_line,
            None,
            "on attend une liste de champs « nom: valeur »",
            "écrivez un champ par ligne, par exemple « title: Mon titre »",
        )
        return None
    return _positions(node, path, data, first_line)


def read_yaml(path: Path, report: Problems) -> Document | None:
    text = read_text(path, report)
    if text is None:
        return None
    return parse_yaml(text, path, report)


def read_markdown(path: Path, report: Problems) -> Document | None:
    """A Markdown file opening with a `---` front matter block."""
    text = read_text(path, report)
    if text is None:
        return None
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        report.error(
            1,
            None,
            "le fichier doit commencer par un bloc d’en-tête entre deux lignes « --- »",
            "ajoutez en première ligne « --- », les champs, puis une ligne « --- »",
        )
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        report.error(1, None, "le bloc d’en-tête n’est pas refermé",
                     "ajoutez une ligne « --- » après le dernier champ")
        return None
    doc = parse_yaml("\n".join(lines[1:end]), path, report, first_line=2)
    if doc is None:
        return None
    doc.body = "\n".join(lines[end + 1:]).strip("\n") + "\n"
    doc.body_line = end + 2
    return doc


def key_line(path: Path | None, *keys: str, value: str = "") -> int | None:
    """Line of a (nested) key of a YAML file or Markdown front matter, read again: for
    problems found after validation (cross-file checks). With `value`, the line of the list
    item equal to it."""
    if path is None or not path.is_file():
        return None
    report = Problems(path, [])
    doc = read_markdown(path, report) if path.suffix == ".md" else read_yaml(path, report)
    for key in keys[:-1]:
        doc = doc.children.get(key) if doc else None
    if doc is None or keys[-1] not in doc.lines:
        return None
    items = doc.data.get(keys[-1])
    if value and isinstance(items, list):
        for index, item in enumerate(items):
            if str(item).strip() == value:
                return doc.lines.get(f"{keys[-1]}[{index}]")
    return doc.lines[keys[-1]]
