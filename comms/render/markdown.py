"""Coordinators' Markdown, rendered for the email (HTML) and for its plain-text alternative.

One parser serves both outputs so that the text and the HTML always say the same thing.
Raw HTML is escaped, links and images are restricted to safe schemes and made absolute
(emails have no base URL), and headings are shifted under the heading of the block that
holds them, so a body can never break the email's layout or its heading outline.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from comms.french import french_spacing
from comms.uri import split_url

LINK_SCHEMES = ("http", "https", "mailto", "tel")
IMAGE_SCHEMES = ("http", "https")
VAGUE_LINK_TEXTS = ("cliquez ici", "cliquer ici", "ici", "lien", "ce lien", "en savoir plus",
                    "lire la suite", "plus d'infos", "plus d’infos", "click here", "here")

def absolute_url(url: str, base_url: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str | None:
    """`url` made absolute against `base_url`, or None when its scheme is not allowed."""
    url = url.strip()
    if not url:
        return None
    parts = split_url(url)
    if parts is None:
        return None
    if parts.scheme:
        return url if parts.scheme.lower() in schemes else None
    if not base_url:
        return None
    try:
        joined = urljoin(base_url, url)
    except ValueError:
        return None
    parts = split_url(joined)
    return joined if parts is not None and parts.scheme.lower() in schemes else None


def _validate_link(url: str) -> bool:
    """Only web, mail and phone links, or relative ones (resolved later against the base)."""
    parts = split_url(url.strip())
    if parts is None:
        return False
    scheme = parts.scheme.lower()
    return not scheme or scheme in LINK_SCHEMES


def _shift_headings(tokens: list[Token], base: int) -> None:
    """Map the heading levels used to base, base+1, ... so no level is skipped."""
    used = sorted({int(t.tag[1]) for t in tokens if t.type == "heading_open"})
    mapping = {level: min(6, base + rank) for rank, level in enumerate(used)}
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{mapping[int(token.tag[1])]}"


def _add_style(token: Token, style: str) -> None:
    existing = token.attrGet("style")
    token.attrSet("style", f"{style};{existing}" if existing else style)


def _prepare(state: StateCore) -> None:
    """Core rule: absolute links, safe images, French spacing, shifted headings, styles."""
    env = state.env
    base_url: str = env.get("base_url", "")
    styles: Mapping[str, str] = env.get("styles") or {}
    _shift_headings(state.tokens, env.get("heading_base", 1))
    for block in state.tokens:
        if block.nesting == 1 and block.tag in styles:
            _add_style(block, styles[block.tag])
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        dropped_links = 0
        for token in block.children:
            if token.type == "text":
                token.content = french_spacing(token.content)
            elif token.type == "link_open":
                href = absolute_url(token.attrGet("href") or "", base_url)
                if href is None:
                    dropped_links += 1
                    continue
                token.attrSet("href", href)
            elif token.type == "link_close" and dropped_links:
                # Links never nest in CommonMark: this closes the dropped link.
                dropped_links -= 1
                continue
            elif token.type == "image":
                src = absolute_url(token.attrGet("src") or "", base_url, IMAGE_SCHEMES)
                if src is None:
                    alt = "".join(c.content for c in token.children or [])
                    token = Token("text", "", 0, content=alt)
                else:
                    token.attrSet("src", src)
            if token.nesting != -1 and token.tag in styles:
                _add_style(token, styles[token.tag])
            children.append(token)
        block.children = children


def _render_code(self, tokens, idx, options, env) -> str:
    """`<pre>` carries the style (markdown-it puts attributes on `<code>`)."""
    style = (env.get("styles") or {}).get("pre", "")
    attr = f' style="{escapeHtml(style)}"' if style else ""
    return f"<pre{attr}><code>{escapeHtml(tokens[idx].content)}</code></pre>\n"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.core.ruler.push("comms_prepare", _prepare)
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    return md


_MD = _parser()


def to_html(md: str, base_url: str, *, heading_base: int = 1,
            styles: Mapping[str, str] | None = None) -> str:
    """Safe HTML for a Markdown text.

    `heading_base` is the level a `#` heading becomes (4 under an item's h3); `styles` maps a
    tag name to inline CSS, because email clients ignore most `<style>` sheets.
    """
    env = {"base_url": base_url, "heading_base": heading_base, "styles": styles or {}}
    return _MD.render(md, env)


class Body(NamedTuple):
    """A Markdown text rendered from one parse: what `to_html` and `to_text` give for it, and
    its number of top-level blocks (`block_count`)."""

    html: str
    text: str
    blocks: int


def render_body(md: str, base_url: str, *, heading_base: int = 1,
                styles: Mapping[str, str] | None = None, width: int = 72) -> Body:
    """`to_html(md, base_url, ...)`, `to_text(md, width, base_url)` and `block_count(md)` from
    a single parse, for the places that need more than one of them."""
    env = {"base_url": base_url, "heading_base": heading_base, "styles": styles or {}}
    found = _MD.parse(md, env)
    # The text first: rendering HTML sets each image's `alt` attribute on its token.
    tree = SyntaxTreeNode(found)
    text = _text(tree, width)
    return Body(_MD.renderer.render(found, _MD.options, env), text, len(tree.children))


def tokens(md: str, base_url: str = "") -> list[Token]:
    return _MD.parse(md, {"base_url": base_url})


def first_paragraph(md: str, base_url: str = "") -> str:
    """The first top-level paragraph as plain text on one line (preheader, agenda lead)."""
    root = SyntaxTreeNode(tokens(md, base_url))
    for node in root.children:
        if node.type == "paragraph":
            return " ".join(_inline(node.children[0], links=False).split())
    return ""


def block_count(md: str) -> int:
    """Top-level blocks (paragraphs, lists, tables...) in a text."""
    return len(SyntaxTreeNode(tokens(md)).children)


# ---------------------------------------------------------------------------- plain text


def _inline(node: SyntaxTreeNode, links: bool = True) -> str:
    out: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            out.append(child.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "code_inline":
            out.append(child.content)
        elif kind == "image":
            alt = child.attrs.get("alt") or "".join(c.content for c in child.children)
            out.append(f"[{alt}]" if alt else "")
        elif kind == "link":
            text = _inline(child, links)
            href = str(child.attrs.get("href", ""))
            shown = href.removeprefix("mailto:").removeprefix("tel:")
            if not links or text.strip() in (href, shown):
                out.append(text)
            else:
                out.append(f"{text} ({shown})")
        else:  # strong, em and anything inline that only wraps text
            out.append(_inline(child, links))
    return "".join(out)


def wrap(text: str, width: int = 72) -> list[str]:
    """Lines of at most `width` columns; URLs and words are never broken."""
    lines: list[str] = []
    for part in text.split("\n"):
        wrapped = textwrap.wrap(part, width=max(width, 20), break_long_words=False,
                                break_on_hyphens=False)
        lines.extend(wrapped or [""])
    return lines


def _prefixed(lines: list[str], first: str, rest: str) -> list[str]:
    return [(first if i == 0 else rest) + line if line else line for i, line in enumerate(lines)]


def _table(node: SyntaxTreeNode, width: int) -> list[str]:
    rows: list[list[str]] = []
    right: list[bool] = []
    for section in node.children:
        for tr in section.children:
            cells = [" ".join(_inline(c.children[0]).split()) if c.children else ""
                     for c in tr.children]
            if not right:
                right = ["right" in str(c.attrs.get("style", "")) for c in tr.children]
            rows.append(cells)
    if not rows:
        return []
    columns = max(len(r) for r in rows)
    rows = [r + [""] * (columns - len(r)) for r in rows]
    right += [False] * (columns - len(right))
    widths = [max(len(r[i]) for r in rows) for i in range(columns)]
    if sum(widths) + 2 * (columns - 1) <= width:
        def line(cells: list[str]) -> str:
            padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right,
                                                                           strict=True)]
            return "  ".join(padded).rstrip()
        rule = "  ".join("-" * w for w in widths)
        return [line(rows[0]), rule, *(line(r) for r in rows[1:])]
    # Too wide to align: one record per row, « header : value ».
    header, out = rows[0], []
    for row in rows[1:]:
        if out:
            out.append("")
        for name, value in zip(header, row, strict=True):
            out.extend(wrap(f"{name}\u00a0: {value}" if name else value, width))
    return out


def _block(node: SyntaxTreeNode, width: int) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return wrap(_inline(node.children[0]), width)
    if kind == "heading":
        return wrap(_inline(node.children[0]).upper(), width)
    if kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        lines: list[str] = []
        for n, item in enumerate(node.children, start):
            marker = "- " if kind == "bullet_list" else f"{n}. "
            inner = _blocks(item.children, width - len(marker), tight=True)
            lines.extend(_prefixed(inner, marker, " " * len(marker)))
        return lines
    if kind == "blockquote":
        return ["> " + line if line else ">" for line in _blocks(node.children, width - 2)]
    if kind in ("fence", "code_block"):
        return ["    " + line for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return ["* * *"]
    if kind == "table":
        return _table(node, width)
    if kind == "inline":
        return wrap(_inline(node), width)
    return _blocks(node.children, width)


def _blocks(nodes: list[SyntaxTreeNode], width: int, tight: bool = False) -> list[str]:
    lines: list[str] = []
    for node in nodes:
        block = _block(node, width)
        if not block:
            continue
        if lines and not (tight and node.type in ("bullet_list", "ordered_list")):
            lines.append("")
        lines.extend(block)
    return lines


def to_text(md: str, width: int = 72, base_url: str = "") -> str:
    """Readable plain text: wrapped paragraphs, « - » lists, links as « texte (URL) »."""
    return _text(SyntaxTreeNode(tokens(md, base_url)), width)


def _text(root: SyntaxTreeNode, width: int) -> str:
    lines = _blocks(root.children, width)
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n" if lines else ""


def vague_links(md: str) -> list[str]:
    """Link texts that say nothing out of context (« cliquez ici »), for `check` warnings."""
    found = []
    for node in SyntaxTreeNode(tokens(md)).walk():
        if node.type == "link":
            text = " ".join(_inline(node, links=False).split()).strip(" .:!→").lower()
            if text in VAGUE_LINK_TEXTS:
                found.append(text)
    return found
