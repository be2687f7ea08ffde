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


# Coordinators' files never need more: deeper nesting or any alias (*name) is refused
# before anything is built, so that a small hostile file cannot take time or memory
# (a "billion laughs" alias bomb, thousands of nested brackets).
MAX_DEPTH = 20
MAX_YAML_CHARS = 1_000_000


class _Refused(yaml.YAMLError):
    """A YAML construct we do not accept, with its French explanation and hint."""

    def __init__(self, problem: str, hint: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem, self.hint, self.problem_mark = problem, hint, mark


_KEY_NO_SPACE = re.compile(r"^\s*(?:- )?([A-Za-z_][\w-]*):(?!//)(\S.*)$")
_QUOTED_THEN_MORE = re.compile(r"^\s*(?:- )?[\w-]+:\s*([\"'])(?:(?!\1).)*\1\s*[^\s#]")
_COLON_IN_VALUE = re.compile(r"^\s*(?:- )?([\w-]+):\s+([^\"'\[{][^#]*?:\s.*)$")
_HEX_COMMENT = re.compile(r"^\s*(?:- )?([\w-]+):\s+(#[0-9A-Fa-f]{3,8})\b")


_KEY_LINE = re.compile(r"^([ \t]*)((?:-[ \t]+)?)([^\s:#\"'\[{-][^:#]*?)[ \t]*:(?:[ \t]|$)")
_DASH = re.compile(r"-[ \t]+")


def key_path(lines: list[str], n: int) -> str | None:
    """The field on line `n` (0-based) named as the coordinator writes it, with its parents:
    `brand.color`, `sender.email`, `coordinators[2].name` (items counted from 1); None when
    the line holds no `name:`. Read from the indentation, so it works on a file YAML
    refuses too."""
    m = _KEY_LINE.match(lines[n]) if 0 <= n < len(lines) else None
    if m is None:
        return None
    path = m.group(3).strip()
    if "\t" in m.group(1) + m.group(2):  # a tab's indentation says nothing reliable
        return path
    col = len(m.group(1)) + len(m.group(2))  # column of the key
    dash_col = len(m.group(1)) if m.group(2) else None  # column of its item's dash
    count = 1
    for k in range(n - 1, -1, -1):
        text = lines[k]
        body = text.lstrip(" \t")
        if not body.strip() or body.startswith("#"):
            continue
        lead = len(text) - len(body)
        dash = _DASH.match(body)
        key_col = lead + (dash.end() if dash else 0)
        if dash_col is None and dash and lead < col == key_col:
            dash_col = lead  # a sibling key on the dash line: we are in this list item
            continue
        if dash_col is not None:
            if dash and lead == dash_col:
                count += 1
                continue
            if lead > dash_col or (lead == dash_col and dash):
                continue
            parent = _KEY_LINE.match(text)
            if parent is None:
                return path
            path = f"{parent.group(3).strip()}[{count}].{path}"
        elif key_col < col:
            parent = _KEY_LINE.match(text)
            if parent is None:
                return path
            path = f"{parent.group(3).strip()}.{path}"
        else:
            continue
        col = len(parent.group(1)) + len(parent.group(2))
        dash_col = len(parent.group(1)) if parent.group(2) else None
        count = 1
    return path


def _explain(lines: list[str], at: int, problem: str) -> tuple[int, str, str]:
    """(0-based line, French message, what to write) for a YAML syntax error near `at`.

    The parser's English says where it gave up, not what the coordinator typed: the lines
    around that place are read again to name the slip (a tab, straight quotes inside a quoted
    value, a missing space after a colon, a colon inside a value, a shifted indentation).
    """
    # The parser gives up on the line after the slip, past any blank or comment lines.
    before = next((n for n in range(min(at, len(lines)) - 1, -1, -1)
                   if lines[n].strip() and not lines[n].lstrip().startswith("#")), -1)
    near = [n for n in dict.fromkeys((at, at - 1, before)) if 0 <= n < len(lines)]
    for n, text in enumerate(lines):
        if "\t" in text[: len(text) - len(text.lstrip())] or ("\t" in problem and n == at):
            return (n, "une tabulation sert de décalage sur cette ligne, or YAML n’accepte que "
                    "des espaces", "remplacez la tabulation par des espaces (deux par niveau), "
                    "alignés sur les lignes voisines")
    for n in near:
        m = _QUOTED_THEN_MORE.match(lines[n])
        if m:
            if m.group(1) == "'":
                return (n, "une apostrophe droite ' ferme la valeur commencée par '",
                        "utilisez l’apostrophe typographique ’, ou entourez la valeur de "
                        "guillemets doubles\u00a0: title: \"L’hôpital de jour\"")
            return (n, "des guillemets droits \" à l’intérieur d’une valeur entre guillemets "
                    "droits la coupent en deux", "citez avec les guillemets français « … » à "
                    "l’intérieur\u00a0: title: \"La journée « Bien vieillir »\"")
    for n, text in enumerate(lines[: at + 1]):
        value = text.split(" #", 1)[0]
        if value.count("[") > value.count("]") and not value.strip().endswith("["):
            return (n, "le crochet [ ouvert sur cette ligne n’est pas refermé",
                    "refermez la liste sur la même ligne\u00a0: dispositif: [ASV, CLS]")
    for n in near:
        m = _KEY_NO_SPACE.match(lines[n])
        if m:
            return (n, f"il manque une espace après « {m.group(1)}: »",
                    f"écrivez « {m.group(1)}: {m.group(2)} » (une espace après les deux-points)")
    for n in near:
        m = _COLON_IN_VALUE.match(lines[n])
        if m:
            return (n, f"la valeur de « {m.group(1)} » contient « : », que YAML lit comme un "
                    "nouveau champ", f"mettez la valeur entre guillemets droits\u00a0: "
                    f"{m.group(1)}: \"{m.group(2).strip()}\"")
    # PyYAML and libyaml word it differently: « expected <block end> », « did not find
    # expected key », « could not find expected ':' ».
    if any(words in problem for words in ("block end", "indentation", "expected ':'",
                                          "expected key")):
        return (at, "décalage incohérent\u00a0: cette ligne n’est pas alignée sur les champs "
                "de son bloc", "décalez-la du même nombre d’espaces que les champs voisins du "
                "même niveau")
    return (at, "cette ligne ne se lit pas comme « nom: valeur »",
            "vérifiez le décalage (des espaces, pas de tabulation) et mettez entre guillemets "
            "droits les valeurs contenant « : » ou « # »")


def _yaml_error(exc: yaml.YAMLError, text: str, report: Problems, first_line: int) -> None:
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, _Refused):
        report.error((mark.line if mark else 0) + first_line, None, exc.problem, exc.hint)
        return
    at = mark.line if mark is not None else 0
    problem = str(getattr(exc, "problem", None) or exc)
    if "maximum nesting depth" in problem:  # libyaml's own limit, met before ours
        report.error(at + first_line, None,
                     f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)",
                     "écrivez les champs à plat, comme dans les exemples du guide")
        return
    lines = text.split("\n")
    line, message, hint = _explain(lines, at, problem)
    report.error(line + first_line, key_path(lines, line),
                 f"le fichier ne peut pas être lu\u00a0: {message}", hint)


def _hex_comments(text: str, report: Problems, first_line: int) -> bool:
    """`color: #1f5f7a` reads as an empty value followed by a comment: say so."""
    found = False
    lines = text.split("\n")
    for n, line in enumerate(lines):
        m = _HEX_COMMENT.match(line)
        if m:
            found = True
            report.error(n + first_line, key_path(lines, n) or m.group(1),
                         f"« {m.group(2)} » est lu comme un commentaire (tout ce qui suit # est "
                         "ignoré)", f"mettez la couleur entre guillemets droits\u00a0: "
                         f"{m.group(1)}: \"{m.group(2)}\"")
    return found


_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_KEY = re.compile(r"^\s*(?:-\s+)?([^\s:#][^:#]*?)\s*:")


def _invisible_characters(text: str, report: Problems, first_line: int) -> bool:
    """Report every line holding a control or separator character (NUL, VT, FF, 0x1C-0x1F,
    NEL, U+2028, U+2029...), with its line and field; True if there was one. YAML would
    either refuse the file without saying which field, or cut the line at that character."""
    found = False
    lines = text.split("\n")
    for number, text_line in enumerate(lines):
        match = _INVISIBLE.search(text_line)
        if match is None:
            continue
        found = True
        key = _KEY.match(text_line)
        field = key_path(lines, number) or (key.group(1) if key else None)
        report.error(number + first_line, field,
                     f"caractère invisible U+{ord(match.group()):04X} dans la valeur",
                     "retapez cette ligne au clavier (un copier-coller l’a sans doute "
                     "apporté)")
    return found


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text and reads only true/false as booleans.

    Dates are parsed by the field readers, which report impossible ones with their line;
    YAML 1.1 would otherwise turn a `repeat: {on: first thursday}` key into True.
    """


def _compose_node(self: _Loader, parent: yaml.Node | None, index: object) -> yaml.Node:
    if self.check_event(yaml.AliasEvent):
        raise _Refused("les alias YAML («\u00a0*nom\u00a0») ne sont pas acceptés",
                       "recopiez la valeur à chaque endroit où elle sert",
                       self.peek_event().start_mark)
    self.depth = getattr(self, "depth", 0) + 1
    try:
        if self.depth > MAX_DEPTH:
            raise _Refused(f"imbrication trop profonde (plus de {MAX_DEPTH} niveaux)",
                           "écrivez les champs à plat, comme dans les exemples du guide",
                           self.peek_event().start_mark)
        return yaml.SafeLoader.compose_node(self, parent, index)
    finally:
        self.depth -= 1


_Loader.compose_node = _compose_node  # type: ignore[method-assign]

# YAML 1.1 also reads `16:30` as the number 990 (base 60) and `16.30` as 16.3: those stay
# text, for the field readers to take as times. Integers are kept; no field is a decimal.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool",
                           "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)"
               r"|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


try:  # libyaml's C scanner and parser, when PyYAML was built with it
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover - every wheel of PyYAML on PyPI has it
    CParser = None

if CParser is not None:
    class _CLoader(CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """`_Loader` with libyaml scanning and parsing (several times faster on many front
        matters). The events carry the same marks (lines); the nodes are composed in Python
        by the same checked composer (no alias, bounded depth), so the errors are the same.
        """

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.anchors: dict = {}

        get_single_node = yaml.composer.Composer.get_single_node
        compose_document = yaml.composer.Composer.compose_document
        compose_node = _compose_node
        compose_scalar_node = yaml.composer.Composer.compose_scalar_node
        compose_sequence_node = yaml.composer.Composer.compose_sequence_node
        compose_mapping_node = yaml.composer.Composer.compose_mapping_node

    _FastLoader: type = _CLoader
else:  # pragma: no cover
    _FastLoader = _Loader


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
    if len(text) > MAX_YAML_CHARS:
        report.error(first_line, None, f"bloc YAML trop long ({len(text)} caractères)",
                     "un fichier de réglages ou un en-tête tient en quelques lignes")
        return None
    if _invisible_characters(text, report, first_line):
        return None
    try:
        loader = _FastLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        _yaml_error(exc, text, report, first_line)
        return None
    if "#" in text and _hex_comments(text, report, first_line):
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


# What a territory's output is built from: a change to any of these makes a build stale.
SOURCES = ("comms.yaml", "content", "calendars", "templates")


def newest_source(root: Path) -> float:
    """The latest modification time among the territory's sources (seconds since epoch);
    folders count too, so a removed file makes the output stale."""
    newest = 0.0
    for name in SOURCES:
        path = root / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for p in path.rglob("*"):
                try:
                    newest = max(newest, p.stat().st_mtime)
                except FileNotFoundError:  # removed while we looked
                    continue
    return newest
