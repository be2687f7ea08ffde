"""The newsletter of one issue: MJML, responsive HTML and the plain-text alternative.

The selection (`comms.selection.select`) says what goes in; this module turns it into view
objects that the templates only lay out, so the email, its text version and the web archive
all say the same thing. Everything is absolute (emails have no base URL) and escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from markupsafe import Markup
from mjml import mjml2html

from comms import dates
from comms.calendar.feeds import RESERVED as MAIN_FEEDS
from comms.calendar.feeds import feed_urls, google_subscribe_url, webcal_url
from comms.calendar.recurrence import Occurrence
from comms.errors import CommsError
from comms.images import ImageProblem, WebImage, safe_name, web_image
from comms.model import COMMON, DISPOSITIFS, SECTIONS, Event, NewsItem, Project
from comms.render.markdown import (
    first_paragraph,
    french_spacing,
    parse,
    render_body,
)
from comms.render.templates import Theme, contrast_warnings, environment, render, theme_for
from comms.selection import IssueContent, select

__all__ = [
    "HTML_LIMIT",
    "Personal",
    "RenderedIssue",
    "assets",
    "contrast_warnings",
    "image_weight",
    "render_issue",
    "size_problem",
    "size_report",
]

HTML_LIMIT = 90 * 1024  # Gmail clips messages around 102 KB; keep a margin
SCHEME_NAMES = {
    "ASV": "Atelier santé ville",
    "CLS": "Contrat local de santé",
    "CLSM": "Conseil local de santé mentale",
    COMMON: "Actions communes",
}
PREHEADER_MAX = 150


class Personal(NamedTuple):
    """What changes per recipient. The sender may pass marker strings and substitute later:
    both appear verbatim in the text and HTML-escaped in the HTML."""

    greeting: str
    unsubscribe_url: str
    # The footer's « ou écrire à » link: the mailto URI of the message's List-Unsubscribe,
    # token in its subject; "" writes the bare address (a web page, a preview).
    unsubscribe_mailto: str = ""


class Label(NamedTuple):
    text: str
    title: str
    background: str
    color: str


class ItemView(NamedTuple):
    id: str
    title: str
    labels: tuple[Label, ...]
    author: str
    summary: str
    image_url: str
    image_alt: str
    image_width: int  # CSS pixels as shown in the email
    image_height: int  # 0 when unknown
    body_html: Markup
    body_text: str
    link: str
    link_text: str


class GroupView(NamedTuple):
    key: str
    label: Label
    items: tuple[ItemView, ...]


class SectionView(NamedTuple):
    key: str
    title: str
    items: tuple[ItemView, ...] = ()
    groups: tuple[GroupView, ...] = ()


class DateView(NamedTuple):
    when: str
    cancelled: bool


class AgendaView(NamedTuple):
    id: str
    title: str
    labels: tuple[Label, ...]
    badge: tuple[str, str, str]  # weekday, day, month of the first date
    dates: tuple[DateView, ...]
    repeat_text: str
    location: str
    cancelled: bool  # every listed date is cancelled
    online_url: str
    registration_url: str
    ics_url: str
    lead: str  # the body's opening sentence, for the email; the web page shows it all
    details_url: str  # the entry on the web page, when the body says more than `lead`
    body_html: Markup
    body_text: str


class FeedView(NamedTuple):
    name: str
    url: str  # https: to copy into « subscribe by URL »
    main: bool  # the whole agenda or one scheme's, rather than one instance's
    webcal: str = ""  # webcal://: Apple Calendar, Outlook, Thunderbird subscribe
    google: str = ""  # Google Calendar's « add by URL » link


class ContactView(NamedTuple):
    name: str
    role: str  # as written after a comma: « coordinatrice ASV et CLS »
    email: str
    phone: str  # with no-break spaces


@dataclass(frozen=True)
class RenderedIssue:
    subject: str
    preheader: str
    mjml: str
    html: str
    text: str
    content: IssueContent
    project: Project = field(repr=False, compare=False)
    personal: Personal | None = field(default=None, repr=False)
    # What the templates saw (`context`): the web archive and the size report reuse it
    # rather than rendering every item's Markdown again.
    context: dict | None = field(default=None, repr=False, compare=False)

    @property
    def html_size(self) -> int:
        """Bytes of the HTML part, the figure Gmail's clipping depends on."""
        return len(self.html.encode("utf-8"))


# --------------------------------------------------------------------------- URLs and assets


LOGO_WIDTH = 150  # CSS pixels of the logo in the header
IMAGE_WIDTH = 536  # CSS pixels of a news image: the 600 px sheet minus its side padding


class ImageFile(NamedTuple):
    """One image of an issue: where it comes from, its name in ISSUE/images/, what is written."""

    source: Path
    name: str
    css_width: int
    web: WebImage | None  # None when the file cannot be read (the reader reports it)

    def shown(self) -> tuple[int, int] | None:
        """(width, height) in CSS pixels as the email shows it, for `<img>` attributes."""
        return self.web.shown(self.css_width) if self.web else None


def _images(project: Project, content: IssueContent) -> dict[Path, ImageFile]:
    """Source image -> its file in ISSUE/images/: resized for the width the email shows it,
    recompressed, under a URL-safe name unique in the issue."""
    root = project.site.root
    wanted: list[tuple[Path, int]] = []
    if project.site.logo is not None:
        wanted.append((project.site.logo, LOGO_WIDTH))
    wanted += [(n.image, IMAGE_WIDTH) for n in content.news if n.image is not None]
    out: dict[Path, ImageFile] = {}
    taken: set[str] = set()
    for src, width in wanted:
        if src in out:
            continue
        path = src if src.is_absolute() else root / src
        try:
            web = web_image(path, width)
        except (OSError, ImageProblem, ValueError):
            web = None
        extension = web.extension if web else src.suffix.lower()
        out[src] = ImageFile(path, safe_name(src, extension, taken), width, web)
    return out


def assets(project: Project, content: IssueContent) -> list[tuple[Path, str, bytes | None]]:
    """Images the build writes: (source path, destination relative to the output root, the
    resized bytes — or None to copy the source as it is)."""
    return [(f.source, f"{content.issue.id}/images/{f.name}", f.web.data if f.web else None)
            for f in _images(project, content).values()]


def image_weight(project: Project, content: IssueContent) -> tuple[int, int]:
    """(number of images, total bytes written) of an issue's images."""
    files = list(_images(project, content).values())
    total = 0
    for f in files:
        total += len(f.web.data) if f.web else (f.source.stat().st_size
                                                if f.source.is_file() else 0)
    return len(files), total


def issue_url(project: Project, issue_id: str) -> str:
    return project.site.url(f"{issue_id}/")


def ics_url(project: Project, issue_id: str, event: Event) -> str:
    return project.site.url(f"{issue_id}/agenda/{event.id}.ics")


# --------------------------------------------------------------------------- views


def markdown_styles(theme: Theme) -> dict[str, str]:
    """Inline CSS per tag: MRML does not inline style sheets and Outlook needs inline styles."""
    mono = "Consolas, Menlo, 'Courier New', monospace"
    return {
        "p": "margin:0 0 16px",
        "a": f"color:{theme.brand};text-decoration:underline",
        "ul": "margin:0 0 16px;padding:0 0 0 24px",
        "ol": "margin:0 0 16px;padding:0 0 0 24px",
        "li": "margin:0 0 6px",
        "h3": f"margin:24px 0 8px;font-size:20px;line-height:1.3;color:{theme.text}",
        "h4": f"margin:20px 0 8px;font-size:18px;line-height:1.3;color:{theme.text}",
        "h5": f"margin:16px 0 8px;font-size:16px;line-height:1.3;color:{theme.text}",
        "h6": f"margin:16px 0 8px;font-size:16px;line-height:1.3;color:{theme.muted}",
        "table": "width:100%;border-collapse:collapse;margin:0 0 16px",
        # word-break: MRML sets break-word on the cell around mj-text, which would cut
        # narrow table headers in the middle of a word on phones.
        "th": (f"text-align:left;padding:6px 8px;border-bottom:2px solid {theme.brand};"
               "font-size:16px;line-height:1.4;word-break:normal"),
        "td": (f"padding:6px 8px;border-bottom:1px solid {theme.border};"
               "font-size:16px;line-height:1.4;vertical-align:top;word-break:normal"),
        "blockquote": (f"margin:0 0 16px;padding:0 0 0 16px;border-left:4px solid "
                       f"{theme.border};color:{theme.muted}"),
        "pre": (f"margin:0 0 16px;padding:12px;background:{theme.page};white-space:pre-wrap;"
                f"font-family:{mono};font-size:15px;line-height:1.5"),
        "code": f"font-family:{mono};font-size:15px;background:{theme.page}",
        "img": "max-width:100%;height:auto;border:0",
        "hr": f"border:0;border-top:1px solid {theme.border};margin:24px 0",
    }


def _labels(dispositifs: Iterable[str], theme: Theme) -> tuple[Label, ...]:
    chosen = [d for d in DISPOSITIFS if d in dispositifs]
    keys = chosen if chosen and COMMON not in dispositifs else [COMMON]
    return tuple(
        Label("Commun" if k == COMMON else k, SCHEME_NAMES[k], *theme.labels[k]) for k in keys)


def _item_view(project: Project, content: IssueContent, item: NewsItem, theme: Theme,
               images: dict[Path, ImageFile]) -> ItemView:
    site = project.site
    base = site.web_base_url
    image = images[item.image] if item.image is not None else None
    image_url = site.url(f"{content.issue.id}/images/{image.name}") if image else ""
    shown = (image.shown() if image else None) or (IMAGE_WIDTH, 0)
    title = french_spacing(item.title)
    body = render_body(item.body_md, base, heading_base=4, styles=markdown_styles(theme))
    return ItemView(
        id=item.id,
        title=title,
        labels=_labels(item.dispositifs, theme),
        author=item.author,
        summary=french_spacing(item.summary),
        image_url=image_url,
        image_width=shown[0],
        image_height=shown[1],
        image_alt=item.image_alt,
        body_html=Markup(body.html),
        body_text=body.text,
        link=item.link,
        link_text=f"En savoir plus\u00a0: {title}",
    )


def _sections(project: Project, content: IssueContent, theme: Theme,
              images: dict[Path, ImageFile]) -> list[SectionView]:
    def views(items: Iterable[NewsItem]) -> tuple[ItemView, ...]:
        return tuple(_item_view(project, content, n, theme, images) for n in items)

    out = []
    for key, title in SECTIONS.items():
        if not content.sections.get(key):
            continue
        if key == "progress":
            groups = tuple(
                GroupView(g, Label("Commun" if g == COMMON else g, SCHEME_NAMES[g],
                                   *theme.labels[g]), views(content.progress[g]))
                for g in (*DISPOSITIFS, COMMON) if content.progress.get(g))
            out.append(SectionView(key, title, groups=groups))
        else:
            out.append(SectionView(key, title, items=views(content.sections[key])))
    return out


def _agenda(project: Project, content: IssueContent, theme: Theme) -> list[AgendaView]:
    """One entry per event, at its first date; a series lists its dates in the window."""
    site = project.site
    by_event: dict[str, list[Occurrence]] = {}
    for occ in content.agenda:
        by_event.setdefault(occ.event.id, []).append(occ)
    out = []
    for occs in by_event.values():
        event = occs[0].event
        instance = project.instances.get(event.instance)
        first = occs[0].start
        first_day = first.astimezone(site.timezone).date() if isinstance(first, datetime) \
            else first
        cancelled = all(o.cancelled for o in occs)
        lead = _lead(event.body_md)
        body = render_body(event.body_md, site.web_base_url, heading_base=4,
                           styles=markdown_styles(theme))
        out.append(AgendaView(
            id=event.id,
            title=french_spacing(event.title),
            labels=_labels(instance.dispositifs, theme) if instance else (),
            badge=dates.badge(first_day),
            dates=tuple(DateView(dates.format_when(o, site.timezone), o.cancelled)
                        for o in occs),
            repeat_text=event.repeat.text if event.repeat and len(occs) > 1 else "",
            location=french_spacing(event.location),
            cancelled=cancelled,
            online_url="" if cancelled else event.online_url,
            registration_url="" if cancelled else event.registration_url,
            ics_url=ics_url(project, content.issue.id, event),
            lead=lead,
            details_url=(issue_url(project, content.issue.id) + f"#{event.id}"
                         if body.blocks > (1 if lead else 0) else ""),
            body_html=Markup(body.html),
            body_text=body.text,
        ))
    return out


def _lead(md: str) -> str:
    """The opening paragraph of an event's text, unless it only introduces a list."""
    text = french_spacing(first_paragraph(md))
    if text.endswith(":"):
        text = text[:-1].rstrip(" \u00a0")
        return text + "." if len(text) >= 30 else ""
    return text


def feed_views(project: Project) -> list[FeedView]:
    suffix = f" — {project.site.territory}"
    return [FeedView(name.removesuffix(suffix), url,
                     url.rsplit("/", 1)[-1].removesuffix(".ics") in MAIN_FEEDS,
                     webcal_url(url), google_subscribe_url(url))
            for name, url in feed_urls(project).items()]


def _after_comma(role: str) -> str:
    """« Coordinatrice ASV » -> « coordinatrice ASV », but « ARS ... » stays."""
    return role[0].lower() + role[1:] if role[1:2].islower() else role


def contact_views(project: Project) -> list[ContactView]:
    return [ContactView(c.name, _after_comma(c.role) if c.role else "", c.email,
                        c.phone.replace(" ", "\u00a0"))
            for c in project.site.coordinators]


def subject_of(project: Project, content: IssueContent) -> str:
    issue = content.issue
    subject = f"{project.site.newsletter_title} n°\u00a0{issue.number}"
    return f"{subject} — {issue.period}" if issue.period else subject


def _preheader(content: IssueContent) -> str:
    issue = content.issue
    first = first_paragraph(without_greeting(issue.editorial_md))
    text = " — ".join(p for p in (issue.title, first) if p)
    if len(text) > PREHEADER_MAX:
        text = text[:PREHEADER_MAX].rsplit(" ", 1)[0].rstrip(" ,;:—") + "…"
    return french_spacing(text)


_GREETING = re.compile(r"^(bonjour|bonsoir|ch[èe]re?s?|madame|mesdames|monsieur|messieurs|"
                       r"à toutes et à tous|à tous|salut)\b", re.I)
GREETING_MAX = 80  # characters: a longer opening paragraph is a sentence, not a greeting


def opening_greeting(md: str) -> str:
    """The editorial's own greeting (« Chères et chers partenaires, »), if its first block is
    one short paragraph that starts like a greeting; else ""."""
    found = parse(md)
    if len(found) < 3 or found[0].type != "paragraph_open":
        return ""
    text = " ".join(found[1].content.split())
    return text if len(text) <= GREETING_MAX and _GREETING.match(text) else ""


def without_greeting(md: str) -> str:
    """The editorial without its own greeting: the email greets each partner by name."""
    found = parse(md)
    if not opening_greeting(md) or not found[0].map:
        return md
    return "\n".join(md.split("\n")[found[0].map[1]:]).lstrip("\n")


def _signature(project: Project, name: str) -> str:
    for c in project.site.coordinators:
        if c.name == name and c.role:
            return f"{name}, {_after_comma(c.role)}"
    return name


def editorial_views(project: Project, md: str, theme: Theme) -> dict:
    """The editorial as the templates show it (`editorial_html`, `editorial_text`)."""
    body = render_body(md, project.site.web_base_url, heading_base=3,
                       styles=markdown_styles(theme))
    return {"editorial_html": Markup(body.html), "editorial_text": body.text}


def context(project: Project, content: IssueContent, personal: Personal | None) -> dict:
    """Everything the templates see; `personal` is None on the web archive."""
    site = project.site
    theme = theme_for(site)
    issue = content.issue
    # One greeting: the personal « Bonjour Prénom, » replaces the editorial's own.
    editorial = without_greeting(issue.editorial_md) if personal else issue.editorial_md
    images = _images(project, content)
    logo = images.get(site.logo) if site.logo is not None else None
    logo_size = (logo.shown() if logo else None) or (LOGO_WIDTH, 0)
    return {
        "site": site,
        "issue": issue,
        "theme": theme,
        "subject": subject_of(project, content),
        "preheader": _preheader(content),
        "title": french_spacing(site.newsletter_title),
        "number_line": f"N°\u00a0{issue.number}" + (f" · {issue.period}" if issue.period else ""),
        "issue_title": french_spacing(issue.title),
        "logo_url": site.url(f"{issue.id}/images/{logo.name}") if logo else "",
        "logo_width": logo_size[0],
        "logo_height": logo_size[1],
        "logo_alt": site.sender.name,
        "personal": personal,
        **editorial_views(project, editorial, theme),
        "signature": _signature(project, issue.editorial_by) if issue.editorial_by else "",
        "sections": _sections(project, content, theme, images),
        "agenda": _agenda(project, content, theme),
        "agenda_period": f"du {dates.format_day(content.agenda_from, weekday=False)} "
                         f"au {dates.format_day(content.agenda_until, weekday=False)}",
        "feeds": feed_views(project),
        "issue_url": issue_url(project, issue.id),
        "archive_url": site.web_base_url,
        "coordinators": contact_views(project),
        "scheme_names": SCHEME_NAMES,
    }


# --------------------------------------------------------------------------- rendering


# MRML writes these characters in attribute values as Rust escapes (`\u{a0}`); as numeric
# references they survive in attributes and in text alike.
_MRML_UNSAFE = (("\u00a0", "&#160;"), ("\u202f", "&#8239;"), ("\u2009", "&#8201;"))


def _mrml_safe(mjml: str) -> str:
    # str.replace, not str.translate: a translation table makes Python look every
    # character of the document up (about 25 times slower on an issue).
    for char, reference in _MRML_UNSAFE:
        mjml = mjml.replace(char, reference)
    return mjml


def mjml_to_html(mjml: str) -> str:
    """MRML, without third-party fonts; its parse errors become a French CommsError."""
    try:
        return mjml2html(_mrml_safe(mjml), disable_comments=True, fonts={})
    except ValueError as exc:
        raise CommsError(f"le modèle de la lettre produit un MJML invalide\u00a0: {exc} — "
                         "vérifiez templates/newsletter.mjml.j2 (balises fermées, attributs "
                         "entre guillemets)") from exc


def _render(project: Project, content: IssueContent, personal: Personal | None) -> RenderedIssue:
    site = project.site
    shown = personal or Personal("Bonjour,", site.unsubscribe_url)
    ctx = context(project, content, shown)
    mjml = render(site.root, "newsletter.mjml.j2", **ctx)
    html = mjml_to_html(mjml)
    text = tidy_text(render(site.root, "newsletter.txt.j2", **ctx))
    return RenderedIssue(ctx["subject"], ctx["preheader"], mjml, html, text, content,
                         project, personal, ctx)


def tidy_text(text: str) -> str:
    """No trailing spaces, at most two blank lines in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines)).strip("\n") + "\n"


def render_issue(project: Project, issue_id: str, personal: Personal | None = None,
                 content: IssueContent | None = None) -> RenderedIssue:
    """The email of one issue. Without `personal`: « Bonjour, » and the site's unsubscribe page."""
    if content is None:
        try:
            content = select(project, issue_id)
        except KeyError as exc:
            known = ", ".join(i.id for i in project.issues) or "aucune"
            raise CommsError(f"la lettre « {issue_id} » n’existe pas — lettres prévues\u00a0: "
                             f"{known}") from exc
    return _render(project, content, personal)


# --------------------------------------------------------------------------- size


def size_report(rendered: RenderedIssue, content: IssueContent | None = None,
                ) -> list[tuple[str, int]]:
    """(news item or event id, bytes it adds to the HTML), largest first.

    Each item's share is its own block of the email (the template's `item_block` and
    `agenda_entry` macros, layout markup included) turned into HTML once: the report costs
    one small conversion per item, whatever the size of the issue. A territory template
    without those macros is measured by rendering the issue without each item in turn
    (slower: once per item).
    """
    content = content or rendered.content
    project = rendered.project
    site = project.site
    ctx = rendered.context if content is rendered.content and rendered.context else \
        context(project, content, rendered.personal or Personal("Bonjour,",
                                                                site.unsubscribe_url))
    macros = environment(site.root).get_template("newsletter.mjml.j2").make_module(ctx)
    item_block = getattr(macros, "item_block", None)
    agenda_entry = getattr(macros, "agenda_entry", None)
    head = re.search(r"<mj-head>.*?</mj-head>", rendered.mjml, re.S)
    if item_block is None or agenda_entry is None or head is None:
        return _size_report_by_removal(rendered, content)

    def share(block: str) -> int:
        return _html_size(f'<mjml lang="fr">{head.group()}<mj-body width="600px"><mj-section>'
                          f"<mj-column>{block}</mj-column></mj-section></mj-body></mjml>")

    empty = share("")
    sizes: list[tuple[str, int]] = []
    for section in ctx["sections"]:
        for n, item in enumerate(section.items):
            sizes.append((item.id, share(str(item_block(item, n == 0))) - empty))
        for group in section.groups:
            for n, item in enumerate(group.items):
                block = item_block(item, n == 0, show_labels=group.key == COMMON)
                sizes.append((item.id, share(str(block)) - empty))
    for n, entry in enumerate(ctx["agenda"]):
        sizes.append((entry.id, share(str(agenda_entry(entry, n == 0))) - empty))
    return sorted(sizes, key=lambda s: (-s[1], s[0]))


def _html_size(mjml: str) -> int:
    return len(mjml_to_html(mjml).encode("utf-8"))


def _size_report_by_removal(rendered: RenderedIssue,
                            content: IssueContent) -> list[tuple[str, int]]:
    project, full = rendered.project, rendered.html_size
    sizes: list[tuple[str, int]] = []
    for item in content.news:
        without = content._replace(
            news=tuple(n for n in content.news if n is not item),
            sections={k: tuple(n for n in v if n is not item)
                      for k, v in content.sections.items()},
            progress={k: tuple(n for n in v if n is not item)
                      for k, v in content.progress.items()},
        )
        sizes.append((item.id, full - _render(project, without, rendered.personal).html_size))
    for event_id in dict.fromkeys(o.event.id for o in content.agenda):
        without = content._replace(agenda=tuple(o for o in content.agenda
                                                if o.event.id != event_id))
        sizes.append((event_id, full - _render(project, without, rendered.personal).html_size))
    return sorted(sizes, key=lambda s: (-s[1], s[0]))


def size_problem(rendered: RenderedIssue, limit: int = HTML_LIMIT) -> str | None:
    """A French message naming the longest items when the HTML is too heavy, else None."""
    size = rendered.html_size
    if size <= limit:
        return None
    top = size_report(rendered)[:3]
    named = ", ".join(f"{item_id} ({kb(n)})" for item_id, n in top)
    return (f"la lettre {rendered.content.issue.id} pèse {kb(size)} en HTML, au-delà de "
            f"{kb(limit)}\u00a0: Gmail la couperait — raccourcissez les textes les plus longs "
            f"({named}), ou déplacez une actualité vers la lettre suivante avec « issue: »")


def kb(size: int) -> str:
    return f"{size / 1024:.1f}\u00a0Ko".replace(".", ",")
