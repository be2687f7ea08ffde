"""Coordinators' Markdown: safe HTML for the email, readable plain text from the same tokens."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from conftest import REPO

from comms import french
from comms.render.markdown import (
    absolute_url,
    block_count,
    first_paragraph,
    french_spacing,
    render_body,
    to_html,
    to_text,
    vague_links,
)

BASE = "https://sante.example.org/lettre/"

HOSTILE = """\
<script>alert("x")</script>

Texte </mj-text><mj-raw><b>gras</b></mj-raw> ]]> {{ jinja }} {% raw %} "guillemets" 'simples' & a < b

<div onclick="x">bloc</div>
"""


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


# ------------------------------------------------------------------------- HTML, safety


def test_raw_html_and_template_syntax_are_escaped():
    html = to_html(HOSTILE, BASE)
    assert [t for t, _ in tags(html)] == ["p", "p", "p"]
    assert "&lt;script&gt;" in html
    assert "&lt;/mj-text&gt;&lt;mj-raw&gt;" in html
    assert "&lt;div onclick=&quot;x&quot;&gt;" in html
    assert "{{ jinja }} {% raw %}" in html  # data, never evaluated
    assert "&amp; a &lt; b" in html
    assert "]]&gt;" in html


@pytest.mark.parametrize("link", [
    "[piège](javascript:alert(1))",
    "[piège](JaVaScRiPt:alert(1))",
    "[piège](vbscript:msgbox)",
    "[piège](file:///etc/passwd)",
    "<javascript:alert(1)>",
    "[piège](data:text/html;base64,PHNjcmlwdD4=)",
])
def test_dangerous_links_are_dropped(link):
    html = to_html(f"Voir {link} ici.", BASE)
    assert all(t != "a" for t, _ in tags(html))
    assert 'href="javascript' not in html.lower()


def test_images_only_from_the_web():
    html = to_html("![graphique](data:image/png;base64,AAAA) ![photo](images/a.png)", BASE)
    imgs = [a for t, a in tags(html) if t == "img"]
    assert [i["src"] for i in imgs] == [BASE + "images/a.png"]
    assert imgs[0]["alt"] == "photo"
    assert "graphique" in html  # the refused image leaves its description


def test_relative_links_and_images_become_absolute():
    md = "[Guide](docs/guide.pdf), [racine](/contact), [web](https://autre.example/x), " \
         "[mail](mailto:a@b.example) ![Carte](images/carte.png)"
    found = {a.get("href") or a.get("src") for t, a in tags(to_html(md, BASE)) if t in ("a", "img")}
    assert found == {
        BASE + "docs/guide.pdf",
        "https://sante.example.org/contact",
        "https://autre.example/x",
        "mailto:a@b.example",
        BASE + "images/carte.png",
    }


def test_absolute_url():
    assert absolute_url("a/b", BASE) == BASE + "a/b"
    assert absolute_url("tel:+33100000000", BASE) == "tel:+33100000000"
    assert absolute_url("javascript:x", BASE) is None
    assert absolute_url("https://x.example/i.png", BASE, ("https",)) == "https://x.example/i.png"
    assert absolute_url("mailto:a@b", BASE, ("https",)) is None
    assert absolute_url("", BASE) is None


def test_headings_are_shifted_without_gaps():
    md = "## Deux\n\ntexte\n\n#### Quatre\n\n## Encore deux\n"
    levels = [t for t, _ in tags(to_html(md, BASE, heading_base=4)) if t.startswith("h")]
    assert levels == ["h4", "h5", "h4"]
    deep = [t for t, _ in tags(to_html("# a\n## b\n### c\n#### d\n", BASE, heading_base=4))]
    assert deep == ["h4", "h5", "h6", "h6"]


def test_inline_styles_are_added_and_merged_with_alignment():
    md = "Texte [lien](https://x.example)\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n"
    html = to_html(md, BASE, styles={"p": "margin:0", "a": "color:#123456", "td": "padding:4px",
                                     "pre": "background:#eee"})
    found = tags(html)
    assert ("p", {"style": "margin:0"}) in found
    assert ("a", {"href": "https://x.example", "style": "color:#123456"}) in found
    tds = [a["style"] for t, a in found if t == "td"]
    assert tds == ["padding:4px", "padding:4px;text-align:right"]
    code = to_html("```\nx < y\n```\n", BASE, styles={"pre": "background:#eee"})
    assert code == '<pre style="background:#eee"><code>x &lt; y\n</code></pre>\n'


def test_french_spacing():
    assert french_spacing("Note : voir « ceci » ! Vraiment ?") == \
        "Note\u00a0: voir «\u00a0ceci\u00a0»\u00a0! Vraiment\u00a0?"
    assert french_spacing("https://x.example:8080/a?b=c") == "https://x.example:8080/a?b=c"
    assert "Ordre du jour\u00a0:" in to_html("Ordre du jour :", BASE)


def test_french_spacing_skips_only_texts_without_anything_to_typeset():
    texts = [path.read_text(encoding="utf-8")
             for folder in ("content", "calendars") for path in (REPO / folder).rglob("*.md")]
    pieces = {piece for text in texts for line in text.splitlines()
              for piece in (line, *line.split())}
    punctuation = "".join(chr(c) for c in range(0x20, 0x7f) if not chr(c).isalnum()) \
        + "«»‹›“”‘’…–—\u00a0\u202f\u2009\ue000\ue001"
    pieces |= {f"{a}mot{b}suite" for a in ("", " ") for b in punctuation}
    pieces |= {f"mot {c} suite{c}" for c in punctuation}
    pieces |= {"https://x.example/a?b=c", "www.exemple.fr", "a@b.fr", "tel:+33100000000",
               "voir \ue0000\ue001 ici"}
    assert len(pieces) > 500
    for piece in pieces:
        assert french_spacing(piece) == french._spaced(piece) == _every_rule(piece), piece


def _every_rule(text: str) -> str:
    """French spacing with every rule run on every text, in order: what the shortcuts of
    `french_spacing` must give."""
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        kept.append(m.group())
        return f"\ue000{len(kept) - 1}\ue001"

    text = french._URLISH.sub(keep, text)
    for rule, by in ((french._SPACE_BEFORE, "\u00a0"), (french._SPACE_AFTER, "\u00a0"),
                     (french._NONE_BEFORE, "\u00a0"), (french._NONE_BEFORE_COLON, "\u00a0"),
                     (french._NONE_AFTER_OPEN, "«\u00a0"),
                     (french._NONE_BEFORE_CLOSE, "\u00a0»"), (french._APOSTROPHE, "’")):
        text = rule.sub(by, text)
    return french._KEPT.sub(lambda m: kept[int(m.group(1))], text) if kept else text


def test_code_keeps_its_spaces():
    assert "a : b" in to_html("`a : b`", BASE)


# ------------------------------------------------------------------------- plain text


def test_text_has_no_tags_and_keeps_links_as_urls():
    md = ("Lire le [guide pratique](https://x.example/guide.pdf) ou écrire à "
          "[la coordination](mailto:coord@x.example). Voir <https://x.example/auto>.\n\n"
          "[relatif](docs/a.pdf)\n")
    text = " ".join(to_text(md, base_url=BASE).split())
    assert "guide pratique (https://x.example/guide.pdf)" in text
    assert "la coordination (coord@x.example)" in text
    assert "https://x.example/auto" in text and "(https://x.example/auto)" not in text
    assert f"relatif ({BASE}docs/a.pdf)" in text
    assert not re.search(r"<[a-zA-Z/][^>]*>", to_text(md + "\n**gras** *it* `code`\n"))
    # Typed HTML is shown as the characters the reader typed, as in the HTML version.
    assert '<script>alert("x")</script>' in to_text(HOSTILE)
    assert "&lt;" not in to_text(HOSTILE) and "&amp;" not in to_text(HOSTILE)


def test_text_wraps_at_72_columns_without_breaking_urls():
    long_url = "https://sante.example.org/" + "tres-long-chemin/" * 6
    md = ("mot " * 60) + f"\n\nVoir [ce document]({long_url}) pour en savoir davantage.\n"
    lines = to_text(md).splitlines()
    assert all(len(line) <= 72 for line in lines if long_url not in line)
    assert any(long_url in line for line in lines)
    assert max(len(line) for line in lines if long_url not in line) > 60
    assert all(len(line) <= 40 for line in to_text("mot " * 60, width=40).splitlines())


def test_text_never_starts_a_line_with_a_colon():
    text = to_text(("un mot " * 9) + "xxxxxxxxx : suite du texte " * 3)
    assert not any(line.startswith(":") for line in text.splitlines())


def test_text_lists_headings_quotes_and_code():
    md = """# Titre principal

- premier point assez long pour devoir passer à la ligne quand on écrit en colonnes
- second
  1. sous-point

3. trois
4. quatre

> Citation

    code  indenté
"""
    text = to_text(md)
    lines = text.splitlines()
    assert lines[0] == "TITRE PRINCIPAL"
    assert lines[2].startswith("- premier point")
    assert lines[3].startswith("  ") and not lines[3].startswith("   ")
    assert "- second" in lines
    assert "  1. sous-point" in lines
    assert "3. trois" in lines and "4. quatre" in lines
    assert "> Citation" in lines
    assert "    code  indenté" in lines


def test_text_tables_are_aligned():
    md = "| Type | Nombre |\n|---|--:|\n| Ciné-débats | 2 |\n| Ateliers | 14 |\n"
    lines = to_text(md).splitlines()
    assert lines == [
        "Type         Nombre",
        "-----------  ------",
        "Ciné-débats       2",
        "Ateliers         14",
    ]


def test_text_wide_tables_become_records():
    md = ("| Structure | Adresse |\n|---|---|\n"
          f"| Centre social | {'rue très longue ' * 5} |\n| CMP | place |\n")
    text = to_text(md)
    assert "Structure\u00a0: Centre social" in text
    assert "Adresse\u00a0: place" in text
    assert all(len(line) <= 72 for line in text.splitlines())


def test_first_paragraph_and_vague_links():
    assert first_paragraph("## Titre\n\nPremier **paragraphe**\nsuite.\n\nSecond.") == \
        "Premier paragraphe suite."
    assert first_paragraph("- liste\n") == ""
    assert vague_links("[Cliquez ici](https://x.example) et [le guide](https://y.example)") == \
        ["cliquez ici"]


MIXED = """\
# Titre

Un [lien relatif](programme.pdf), un [lien refusé](javascript:alert(1)) et
![une image](photo.png) puis ![une autre](data:image/png;base64,xx).

| Action | Coût |
|:-------|-----:|
| Atelier *nutrition* | 120 € |

## Sous-titre

- point un : détail
- point deux ; suite

> citation « entre guillemets »

    code  gardé
"""


@pytest.mark.parametrize("md", [MIXED, HOSTILE, "", "Un seul paragraphe."])
def test_one_parse_gives_the_same_html_text_and_block_count_as_three(md):
    styles = {"p": "margin:0", "td": "padding:6px", "th": "padding:6px", "img": "border:0"}
    for base, heading_base in ((BASE, 4), ("", 1)):
        body = render_body(md, base, heading_base=heading_base, styles=styles)
        assert body.html == to_html(md, base, heading_base=heading_base, styles=styles)
        assert body.text == to_text(md, base_url=base)
        assert body.blocks == block_count(md)
    assert "120 €" in render_body(MIXED, BASE).text
    assert render_body(MIXED, BASE).blocks == 7  # 2 headings, paragraph, table, list, quote, code
