"""Coordinators' Markdown, rendered for the email (HTML) and for its plain-text alternative.

One parser serves both outputs so that the text and the HTML always say the same thing.
Raw HTML is escaped, links and images are restricted to safe schemes and made absolute
(emails have no base URL), and headings are shifted under the heading of the block that
holds them, so a body can never break the email's layout or its heading outline.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
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


def _styled(attrs: Mapping[str, str | int | float], style: str) -> dict[str, str | int | float]:
    """`attrs` with `style` put before any style already there (markdown-it's alignment)."""
    existing = attrs.get("style")
    return {**attrs, "style": f"{style};{existing}" if existing else style}


def _resolved(children: Sequence[Token], base_url: str) -> list[Token]:
    """An inline token's children with links made absolute (or dropped, keeping their text),
    images made safe (or replaced by their alt text) and French spacing in the text. Tokens it
    changes are copies: the parsed ones are shared."""
    out: list[Token] = []
    dropped_links = 0
    for token in children:
        if token.type == "text":
            content = french_spacing(token.content)
            if content != token.content:
                token = token.copy(content=content)
        elif token.type == "link_open":
            href = absolute_url(str(token.attrs.get("href") or ""), base_url)
            if href is None:
                dropped_links += 1
                continue
            token = token.copy(attrs={**token.attrs, "href": href})
        elif token.type == "link_close" and dropped_links:
            # Links never nest in CommonMark: this closes the dropped link.
            dropped_links -= 1
            continue
        elif token.type == "image":
            src = absolute_url(str(token.attrs.get("src") or ""), base_url, IMAGE_SCHEMES)
            if src is None:
                alt = "".join(c.content for c in token.children or [])
                token = Token("text", "", 0, content=alt)
            else:
                token = token.copy(attrs={**token.attrs, "src": src})
        out.append(token)
    return out


def _laid_out(found: Sequence[Token], heading_base: int,
              styles: Mapping[str, str]) -> list[Token]:
    """Tokens for the email: heading levels mapped to heading_base, heading_base+1, ... (none
    skipped), and each tag's inline style. Tokens it changes are copies."""
    used = sorted({int(t.tag[1]) for t in found if t.type == "heading_open"})
    levels = {f"h{level}": f"h{min(6, heading_base + rank)}" for rank, level in enumerate(used)}
    out: list[Token] = []
    for block in found:
        changes: dict[str, Any] = {}
        if block.type in ("heading_open", "heading_close"):
            changes["tag"] = levels[block.tag]
        tag = changes.get("tag", block.tag)
        if block.nesting == 1 and tag in styles:
            changes["attrs"] = _styled(block.attrs, styles[tag])
        if block.type == "inline" and block.children and styles:
            children = [child.copy(attrs=_styled(child.attrs, styles[child.tag]))
                        if child.nesting != -1 and child.tag in styles else child
                        for child in block.children]
            changes["children"] = children
        out.append(block.copy(**changes) if changes else block)
    return out


def _render_code(self, tokens, idx, options, env) -> str:
    """`<pre>` carries the style (markdown-it puts attributes on `<code>`)."""
    style = (env.get("styles") or {}).get("pre", "")
    attr = f' style="{escapeHtml(style)}"' if style else ""
    return f"<pre{attr}><code>{escapeHtml(tokens[idx].content)}</code></pre>\n"


def _render_image(self, tokens, idx, options, env) -> str:
    """markdown-it's image rule, on a copy: it writes the `alt` attribute on the token, and
    tokens are shared between renders."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children, options, env) if token.children else ""
    return self.renderToken([token.copy(attrs={**token.attrs, "alt": alt})], 0, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    md.add_render_rule("image", _render_image)
    return md


_MD = _parser()
# Sources kept parsed: more than an issue's news, events and editorial (a build, `check` or
# the web preview meets each source several times), few enough to bound the memory (tokens
# take about 10 bytes per character of Markdown: 256 news of 4,000 characters, 10 MB).
_CACHED = 256


@functools.lru_cache(maxsize=_CACHED)
def parse(md: str) -> tuple[Token, ...]:
    """markdown-it's tokens for a Markdown text, as written (links not resolved, no French
    spacing). Parsed once per process and shared by every caller: read them, never modify
    them (`Token.copy` makes a changed one)."""
    return tuple(_MD.parse(md, {}))


def tokens(md: str, base_url: str = "") -> tuple[Token, ...]:
    """`parse(md)` with links made absolute against `base_url` (a link that cannot work is
    dropped, keeping its text; an image that cannot, replaced by its alt text) and French
    spacing in the text. Shared like `parse`'s: never modify them."""
    return _tokens(md, base_url)  # one cache entry however the call is written


@functools.lru_cache(maxsize=_CACHED)
def _tokens(md: str, base_url: str) -> tuple[Token, ...]:
    return tuple(block.copy(children=_resolved(block.children, base_url))
                 if block.type == "inline" and block.children else block
                 for block in parse(md))


def to_html(md: str, base_url: str, *, heading_base: int = 1,
            styles: Mapping[str, str] | None = None) -> str:
    """Safe HTML for a Markdown text.

    `heading_base` is the level a `#` heading becomes (4 under an item's h3); `styles` maps a
    tag name to inline CSS, because email clients ignore most `<style>` sheets.
    """
    styles = styles or {}
    laid_out = _laid_out(tokens(md, base_url), heading_base, styles)
    return _MD.renderer.render(laid_out, _MD.options, {"styles": styles})


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
    found = tokens(md, base_url)
    tree = SyntaxTreeNode(found)
    styles = styles or {}
    html = _MD.renderer.render(_laid_out(found, heading_base, styles), _MD.options,
                               {"styles": styles})
    return Body(html, _text(tree, width), len(tree.children))


def first_paragraph(md: str, base_url: str = "") -> str:
    """The first top-level paragraph as plain text on one line (preheader, agenda lead)."""
    found = parse(md)
    for n, block in enumerate(found):
        if block.type == "paragraph_open" and block.level == 0:
            inline = found[n + 1]
            resolved = inline.copy(children=_resolved(inline.children or [], base_url))
            paragraph = SyntaxTreeNode([block, resolved, found[n + 2]]).children[0]
            return " ".join(_inline(paragraph.children[0], links=False).split())
    return ""


def block_count(md: str) -> int:
    """Top-level blocks (paragraphs, lists, tables...) in a text."""
    return len(SyntaxTreeNode(parse(md)).children)


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
