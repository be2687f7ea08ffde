"""The YAML of coordinators' files is read with libyaml's C parser and the project's own
checked composer: the same values, lines and French errors as the pure-Python loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.content import source
from comms.errors import Problems

CASES = {
    "nested": "title: Réunion\nrepeat:\n  every: week\n  on: first thursday\n"
              "lists:\n  - a\n  - {x: 1}\nflag: yes\nok: true\nwhen: 2027-02-30\n",
    "syntax": "title: a\n  bad: indentation: here\nother: b\n",
    "unclosed": "title: \"pas fermé\nnext: x\n",
    "tab": "title: a\n\tsection: b\n",
    "alias": "a: &x [1, 2]\nb: *x\n",
    "deep": "a: " + "[" * 40 + "]" * 40 + "\n",
    "duplicate-colon": "title: Réunion: ordre du jour\n",
    "very-deep": "a: " + "[" * 5000 + "]" * 5000 + "\n",  # past libyaml's own limit
}


def read(loader: type, text: str):
    sink: list = []
    report = Problems(Path("x.md"), sink)
    original = source._FastLoader
    source._FastLoader = loader
    try:
        doc = source.parse_yaml(text, Path("x.md"), report, first_line=3)
    finally:
        source._FastLoader = original
    shape = None if doc is None else (doc.data, doc.lines, doc.line,
                                      {k: (c.data, c.lines) for k, c in doc.children.items()})
    return shape, [(p.line, p.field, p.message, p.hint) for p in sink]


def test_the_c_parser_is_used():
    assert source.CParser is not None and source._FastLoader is not source._Loader


@pytest.mark.parametrize("name", CASES)
def test_same_values_lines_and_errors_as_the_python_loader(name):
    fast = read(source._FastLoader, CASES[name])
    slow = read(source._Loader, CASES[name])
    assert fast[0] == slow[0]
    # libyaml words some syntax errors differently; the line and the French text around
    # them stay the same.
    assert [(line, field, hint) for line, field, _, hint in fast[1]] == \
        [(line, field, hint) for line, field, _, hint in slow[1]]
    assert [m.split(" (")[0] for _, _, m, _ in fast[1]] == \
        [m.split(" (")[0] for _, _, m, _ in slow[1]]
    if name in ("alias", "deep", "very-deep", "syntax"):
        assert fast[1], "refused"
