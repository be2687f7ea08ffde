"""Each Markdown text is parsed by markdown-it once per run, whatever needs it (the email's
HTML and text, the agenda's lead, the preheader, `check`'s warnings, invitations), and the
shared tokens are never changed by what is rendered from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from comms.cli import main
from comms.content import load_project
from comms.invitations.imip import render_invitation
from comms.render import markdown
from comms.render.newsletter import without_greeting
from comms.selection import select

BASE = "https://sante.example.org/lettre/"


def _forget() -> None:
    markdown.parse.cache_clear()
    markdown._tokens.cache_clear()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources markdown-it parses from now on, in order, as in a fresh process."""
    _forget()
    sources: list[str] = []
    real = MarkdownIt.parse

    def counting(self: MarkdownIt, src: str, env: dict | None = None):
        sources.append(src)
        return real(self, src, env)

    monkeypatch.setattr(MarkdownIt, "parse", counting)
    yield sources
    _forget()


def _twice(sources: list[str]) -> list[str]:
    return [source[:60] for source, n in Counter(sources).items() if n > 1]


def test_sample_build_parses_each_source_once(sample: Path, tmp_path: Path,
                                              parsed: list[str]) -> None:
    result = CliRunner().invoke(main, ["build", "2027-1", "--root", str(sample),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output

    content = select(load_project(sample), "2027-1")
    editorial = content.issue.editorial_md
    expected = {n.body_md for n in content.news} | {o.event.body_md for o in content.agenda}
    # The archive shows the editorial with its own greeting, the email without it.
    expected |= {editorial, without_greeting(editorial)}
    assert len(expected) >= 10
    assert _twice(parsed) == []
    assert expected <= set(parsed)


def test_check_parses_each_source_once(sample: Path, parsed: list[str]) -> None:
    # `check` renders every issue (size limit) and reads every link text (vague links)
    # against different base URLs: still one parse per text.
    result = CliRunner().invoke(main, ["check", "--root", str(sample)])
    assert result.exit_code == 0, result.output

    project = load_project(sample)
    assert _twice(parsed) == []
    assert {n.body_md for n in project.news} | {i.editorial_md for i in project.issues} \
        <= set(parsed)


def test_invitation_parses_its_description_once(sample: Path, parsed: list[str]) -> None:
    project = load_project(sample)
    events = [e for e in project.events if e.instance in project.instances and e.body_md]
    assert events
    for event in events:
        for kind in ("update", "cancel"):
            rendered = render_invitation(project, event, project.instances[event.instance],
                                         kind)
            assert rendered.html and rendered.text
    assert _twice(parsed) == []
    assert {e.body_md for e in events} <= set(parsed)


RICH = """\
# Titre

Texte avec [un lien](programme.html), [un autre](https://example.org/a "titre"),
`du code` et une image ![plan
du site](plan.png) puis ![logo](https://example.org/logo.png).

### Sous-titre

| Lieu | Places |
|:-----|-------:|
| Salle A | 12 |

```
bloc de code
```

> Citation : « oui » !
"""

STYLES = {"p": "margin:0", "a": "color:#123456", "h3": "font-size:20px", "img": "border:0",
          "td": "padding:4px", "th": "padding:4px", "code": "font-family:monospace",
          "pre": "padding:8px", "table": "width:100%", "blockquote": "margin:0"}
CALLS = [
    ("html", dict(base_url=BASE, heading_base=3, styles=STYLES)),
    ("body", dict(base_url=BASE, heading_base=4, styles=STYLES)),
    ("html", dict(base_url=BASE, heading_base=1, styles=None)),
    ("html", dict(base_url="", heading_base=1, styles=None)),
    ("text", dict(base_url=BASE)),
    ("text", dict(base_url="")),
    ("first", dict(base_url="")),
    ("first", dict(base_url=BASE)),
    ("vague", {}),
]


def _call(kind: str, kwargs: dict) -> object:
    if kind == "html":
        return markdown.to_html(RICH, **kwargs)
    if kind == "body":
        return markdown.render_body(RICH, **kwargs)
    if kind == "text":
        return markdown.to_text(RICH, **kwargs)
    if kind == "first":
        return markdown.first_paragraph(RICH, **kwargs)
    return markdown.vague_links(RICH)


def test_shared_tokens_are_not_changed_by_renders(parsed: list[str]) -> None:
    alone = []
    for kind, kwargs in CALLS:
        _forget()
        alone.append(_call(kind, kwargs))
    _forget()
    in_turn = [_call(kind, kwargs) for kind, kwargs in CALLS]
    # Each result is what a fresh process gives, whatever was rendered before it.
    assert in_turn == alone
    assert parsed.count(RICH) == len(CALLS) + 1
    html, body = alone[0], alone[1]
    assert '<h3 style="font-size:20px">' in html and 'alt="plan\ndu site"' in html
    assert '<h3 style="font-size:20px">' not in body.html and "<h4>" in body.html
    assert "margin:0" not in alone[2] and "<h1>" in alone[2] and "plan.png" in alone[2]
    assert "plan.png" not in alone[3] and "plan\ndu site" not in alone[4]
