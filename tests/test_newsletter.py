"""The newsletter email: structure, accessibility, safety, French text and the sender contract."""

from __future__ import annotations

import html as htmllib
import itertools
import re
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from factories import (
    PARIS,
    make_event,
    make_instance,
    make_issue,
    make_news,
    make_project,
    make_repeat,
    make_site,
)

from comms.errors import CommsError
from comms.model import COMMON
from comms.render.newsletter import (
    HTML_LIMIT,
    Personal,
    _size_report_by_removal,
    assets,
    contrast_warnings,
    render_issue,
    size_problem,
    size_report,
)
from comms.render.templates import AA_CONTRAST, contrast, theme_for
from comms.selection import select

NB = "\u00a0"
BASE = "https://sante.example.org/lettre/"
HOSTILE = ('<script>alert("x")</script> </mj-text><mj-raw>r</mj-raw> ]]> {{ jinja }} '
           "{% raw %} \"dq\" 'sq' & a < b")


def project(*, site=None, news=None, events=None, issue=None):
    """One issue (2027-1) with an item in every place and a varied agenda."""
    site = site or make_site(logo=Path("content/images/logo.png"))
    if news is None:
        news = [
            make_news("2027-01-05-pssm", date(2027, 1, 5), title="Premiers secours : 2027",
                      dispositifs=("CLSM",), summary="Trois sessions.", author="Karim Benali",
                      link="https://sante.example.org/pssm",
                      image=Path("content/images/pssm.png"), image_alt="Des secouristes",
                      body_md="Voir le [programme](docs/pssm.pdf).\n"),
            make_news("2027-01-06-journee", date(2027, 1, 6), dispositifs=("CLS", "CLSM"),
                      title="Journée interprofessionnelle"),
            make_news("2027-01-07-asv", date(2027, 1, 7), section="progress",
                      dispositifs=("ASV",), title="Permanences ASV"),
            make_news("2027-01-08-cls", date(2027, 1, 8), section="progress",
                      dispositifs=("CLS",), title="Avenant CLS"),
            make_news("2027-01-09-clsm", date(2027, 1, 9), section="progress",
                      dispositifs=("CLSM",), title="Commission CLSM"),
            make_news("2027-01-10-enquete", date(2027, 1, 10), section="progress",
                      dispositifs=("ASV", "CLSM"), title="Enquête commune"),
            make_news("2027-01-11-biblio", date(2027, 1, 11), section="resources",
                      dispositifs=(COMMON,), title="Lectures",
                      body_md="- [Guide habitat](https://sante.example.org/guide.pdf)\n"),
        ]
    if events is None:
        events = [
            make_event("2027-03-copil", datetime(2027, 3, 18, 14, 0, tzinfo=PARIS),
                       datetime(2027, 3, 18, 16, 30, tzinfo=PARIS),
                       registration_url="https://sante.example.org/copil/inscription",
                       online_url="https://visio.example.org/copil"),
            make_event("2027-partenaires", datetime(2027, 3, 4, 9, 0, tzinfo=PARIS),
                       datetime(2027, 3, 4, 11, 0, tzinfo=PARIS), instance="partenaires",
                       title="Réunion des partenaires",
                       body_md="Ouverte à tous les partenaires.\n\n- tour de table\n",
                       repeat=make_repeat({"FREQ": "MONTHLY", "BYDAY": "1TH",
                                           "UNTIL": date(2027, 6, 30)},
                                          (date(2027, 5, 6),),
                                          "le premier jeudi de chaque mois, jusqu’au "
                                          "30 juin 2027, sauf le 6 mai 2027")),
            make_event("2027-04-semaine", date(2027, 4, 5), date(2027, 4, 9), instance="sism",
                       title="Semaine de la santé mentale", body_md="Programme complet."),
            make_event("2027-04-annule", datetime(2027, 4, 20, 10, 0, tzinfo=PARIS),
                       instance="sism", title="Ciné-débat", status="cancelled"),
        ]
    instances = {
        "copil": make_instance("copil"),
        "partenaires": make_instance("partenaires", name="Réunion des partenaires",
                                     dispositifs=(COMMON,)),
        "sism": make_instance("sism", name="SISM", dispositifs=("CLSM",)),
    }
    return make_project(site=site, issues=[issue or make_issue()], news=news,
                        instances=instances, events=events)


@pytest.fixture(scope="module")
def rendered():
    return render_issue(project(), "2027-1")


class Page(HTMLParser):
    """What the tests look at in the HTML, with the font size each text is shown at."""

    VOID: ClassVar[set[str]] = {"img", "br", "meta", "hr", "link", "input", "col", "area", "base", "source", "wbr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict = {}
        self.title = ""
        self.headings: list[tuple[int, str]] = []
        self.images: list[dict] = []
        self.links: list[tuple[dict, str]] = []
        self.sized_text: list[tuple[float, str]] = []
        self.styles: list[str] = []
        self._stack: list[tuple[str, float | None, bool]] = []
        self._heading: list[str] | None = None
        self._link: list[str] | None = None
        self._in_title = False
        self.feed(html)

    def _size(self) -> float | None:
        for _, size, _ in reversed(self._stack):
            if size is not None:
                return size
        return None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        style = (a.get("style") or "").replace(" ", "")
        if style:
            self.styles.append(style)
        if tag == "html":
            self.html_attrs = a
        if tag == "title":
            self._in_title = True
        if tag == "img":
            self.images.append(a)
        if tag == "a":
            self._link = []
            self._link_attrs = a
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []
        if tag in self.VOID:
            return
        m = re.search(r"font-size:(\d+(?:\.\d+)?)px", style)
        hidden = ("display:none" in style or tag in ("style", "script", "head")
                  or any(h for _, _, h in self._stack))
        self._stack.append((tag, float(m.group(1)) if m else None, hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self._stack.pop()

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag == "a" and self._link is not None:
            self.links.append((self._link_attrs, "".join(self._link).strip()))
            self._link = None
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append((int(tag[1]), "".join(self._heading).strip()))
            self._heading = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self._heading is not None:
            self._heading.append(data)
        if self._link is not None:
            self._link.append(data)
        hidden = any(h for _, _, h in self._stack)
        if data.strip() and not hidden and not self._in_title:
            self.sized_text.append((self._size() or 0, data.strip()))


def in_order(text: str, parts: list[str]) -> bool:
    """Each part occurs after the previous one."""
    position = 0
    for part in parts:
        position = text.find(part, position)
        if position < 0:
            return False
        position += len(part)
    return True


def visible(html: str) -> str:
    """The HTML's text, unescaped, in one line."""
    return re.sub(r"[ \t\r\n]+", " ", " ".join(t for _, t in Page(html).sized_text))


# ------------------------------------------------------------------------- structure


def test_sections_in_order(rendered):
    page = Page(rendered.html)
    h2 = [text for level, text in page.headings if level == 2]
    assert h2 == ["Éditorial", "Actualités", "Avancée des travaux",
                  "Ressources bibliographiques", "Agenda", "Votre avis sur la lettre"]
    text = visible(rendered.html)
    order = ["Éditorial", "Bonjour,", "Premiers secours", "Avancée des travaux",
             "Ressources bibliographiques", "Agenda", "S’abonner à l’agenda",
             "Votre avis sur la lettre", "Claire Martin", "Se désinscrire de la lettre",
             "Tous les numéros de la lettre"]
    assert in_order(text, order)
    assert not in_order(text, ["Agenda", "Actualités"])


def test_progress_grouped_by_scheme_then_common(rendered):
    text = visible(rendered.html)
    start = text.index("Avancée des travaux")
    end = text.index("Ressources bibliographiques")
    part = text[start:end]
    order = ["ASV · Atelier santé ville", "Permanences ASV",
             "CLS · Contrat local de santé", "Avenant CLS",
             "CLSM · Conseil local de santé mentale", "Commission CLSM",
             "Actions communes", "Enquête commune"]
    assert in_order(part, order)


def test_empty_groups_and_sections_are_left_out():
    news = [make_news("2027-01-05-seul", date(2027, 1, 5), section="progress",
                      dispositifs=("CLS",), title="Seule avancée")]
    rendered = render_issue(project(news=news, events=[]), "2027-1")
    h2 = [t for level, t in Page(rendered.html).headings if level == 2]
    assert h2 == ["Éditorial", "Avancée des travaux", "Agenda", "Votre avis sur la lettre"]
    text = visible(rendered.html)
    assert "CLS · Contrat local de santé" in text
    assert "Atelier santé ville" not in text.split("Avancée des travaux")[1].split("Agenda")[0]
    assert "Aucun rendez-vous n’est prévu du 15 février 2027 au 17 juin 2027." in text


def test_headings_h1_then_h2_h3_without_gaps(rendered):
    levels = [level for level, _ in Page(rendered.html).headings]
    assert levels[0] == 1 and levels.count(1) == 1
    assert set(levels) <= {1, 2, 3}
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
    items = [t for level, t in Page(rendered.html).headings if level == 3]
    assert "Premiers secours\u00a0: 2027" in items and "Comité de pilotage" in items


def test_markdown_headings_stay_under_their_item():
    news = [make_news(body_md="# Gros titre\n\ntexte\n\n### Plus bas\n")]
    levels = [lv for lv, _ in Page(render_issue(project(news=news), "2027-1").html).headings]
    assert 4 in levels and 5 in levels and 6 not in levels
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))


def test_lang_dir_title_and_preheader(rendered):
    page = Page(rendered.html)
    assert page.html_attrs.get("lang") == "fr" and page.html_attrs.get("dir") == "ltr"
    assert page.title == rendered.subject
    assert rendered.subject == f"La Lettre santé de Val-de-Lisière n°{NB}1 — Hiver 2027"
    # The editorial's own greeting gives way to the personal one, in the preheader too.
    assert rendered.preheader == f"Bonne lecture{NB}!"
    assert htmllib.escape(rendered.preheader, quote=False).replace(NB, "&#160;") in rendered.html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in \
        rendered.html


def test_responsive_600px(rendered):
    assert "max-width:600px" in rendered.html
    assert re.search(r"@media only screen and \(min-width:480px\)", rendered.html)
    assert "@media only screen and (max-width: 480px)" in rendered.html


# ------------------------------------------------------------------------- accessibility


def test_every_image_has_alt(rendered):
    images = Page(rendered.html).images
    assert len(images) == 2
    assert all("alt" in img for img in images)
    by_src = {img["src"]: img["alt"] for img in images}
    assert by_src[BASE + "2027-1/images/logo.png"] == "Coordination santé Val-de-Lisière"
    assert by_src[BASE + "2027-1/images/pssm.png"] == "Des secouristes"


def test_no_break_spaces_in_attributes_survive_mrml():
    """MRML writes U+00A0 in attributes as `\\u{a0}` unless it is given as a reference."""
    news = [make_news(image=Path("content/images/chart.png"), title="Bilan\u00a0: 2027",
                      image_alt="Diagramme\u00a0: 180 personnes", link="https://example.org/x")]
    html = render_issue(project(news=news), "2027-1").html
    assert "\\u{" not in html
    (img,) = [i for i in Page(html).images if "chart" in i["src"]]
    assert img["alt"] == "Diagramme\u00a0: 180 personnes"


def test_image_without_description_is_decorative():
    news = [make_news(image=Path("content/images/deco.png"), image_alt="")]
    html = render_issue(project(news=news), "2027-1").html
    (img,) = [i for i in Page(html).images if "deco" in i["src"]]
    assert img["alt"] == ""


def test_all_links_absolute_and_descriptive(rendered):
    links = Page(rendered.html).links
    assert len(links) > 20
    for attrs, text in links:
        href = attrs["href"]
        assert href.startswith(("https://", "mailto:", "webcal://")), href
        assert text, href
        assert text.lower() not in ("cliquez ici", "ici", "lien", "en savoir plus")
    hrefs = {a["href"] for a, _ in links}
    assert BASE + "docs/pssm.pdf" in hrefs  # relative Markdown link made absolute
    assert "https://sante.example.org/questionnaire" in hrefs
    assert "https://sante.example.org/desinscription" in hrefs
    assert BASE + "2027-1/" in hrefs and BASE in hrefs
    # Each feed: a webcal:// link (a subscription, not a frozen import) and Google's
    # « add by URL » link; the plain https address is shown to copy.
    feed = BASE + "calendars/agenda.ics"
    assert "webcal://" + feed.removeprefix("https://") in hrefs
    assert ("https://calendar.google.com/calendar/render?cid=webcal%3A%2F%2F"
            + feed.removeprefix("https://").replace("/", "%2F")) in hrefs
    assert feed in rendered.html and feed in rendered.text


def test_no_third_party_fonts(rendered):
    assert "fonts.googleapis.com" not in rendered.html
    assert "@import" not in rendered.html
    assert "<link" not in rendered.html


def test_body_text_is_at_least_16px(rendered):
    page = Page(rendered.html)
    small = {t for size, t in page.sized_text if size < 16}
    # Only the short uppercase labels (schemes, « annulé », date blocks) are smaller.
    assert small <= {"ASV", "CLS", "CLSM", "Commun", "ANNULÉ", "jeu.", "lun.", "mar.",
                     "mars", "avr."}, small
    assert all(size >= 13 for size, _ in page.sized_text)
    for text in ("Un paragraphe.", f"Bonne lecture{NB}!", "Trois sessions.",
                 "Se désinscrire de la lettre"):
        sizes = [size for size, t in page.sized_text if t == text]
        assert sizes and min(sizes) >= 16, text
    assert '<mj-text font-size="16px"' in rendered.mjml


def test_contrast_of_theme_and_of_every_styled_box(rendered):
    theme = theme_for(make_site())
    assert contrast(theme.brand, "#ffffff") >= AA_CONTRAST
    assert contrast("#ffffff", theme.brand) >= AA_CONTRAST
    for what, fg, bg in theme.pairs():
        assert contrast(fg, bg) >= AA_CONTRAST, what
    # Every element that sets both a text colour and a background in the HTML.
    checked = 0
    for style in Page(rendered.html).styles:
        fg = re.search(r"(?:^|;)color:(#[0-9a-fA-F]{6})", style)
        bg = re.search(r"background(?:-color)?:(#[0-9a-fA-F]{6})", style)
        if fg and bg:
            checked += 1
            assert contrast(fg.group(1), bg.group(1)) >= AA_CONTRAST, style
    assert checked >= 5
    assert contrast(theme.text, theme.sheet) >= 7


def test_known_contrast_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#1f5f7a", "#ffffff") == pytest.approx(7.06, abs=0.01)


def test_light_brand_colour_is_darkened_and_reported():
    site = make_site(brand_color="#7fc8e8")
    assert contrast("#7fc8e8", "#ffffff") < AA_CONTRAST
    theme = theme_for(site)
    assert theme.brand != "#7fc8e8"
    assert contrast(theme.brand, "#ffffff") >= AA_CONTRAST
    (warning,) = contrast_warnings(site)
    assert "#7fc8e8" in warning and theme.brand in warning and "4,5" in warning
    html = render_issue(project(site=site), "2027-1").html
    assert f"background-color:{theme.brand}" in html
    assert "#7fc8e8" not in html
    assert contrast_warnings(make_site()) == []
    assert contrast_warnings(make_site(brand_color="bleu"))


# ------------------------------------------------------------------------- agenda


def test_agenda_dates_places_and_links(rendered):
    text = visible(rendered.html)
    assert f"Jeudi 18 mars 2027 de 14{NB}h à 16{NB}h{NB}30" in text
    assert "Salle du conseil, mairie de Lisière" in text
    assert "Du lundi 5 au vendredi 9 avril 2027" in text
    links = {t: a["href"] for a, t in Page(rendered.html).links}
    assert links["S’inscrire en ligne"] == "https://sante.example.org/copil/inscription"
    assert links["Participer en ligne"] == "https://visio.example.org/copil"
    agenda_links = [a["href"] for a, t in Page(rendered.html).links
                    if t == "Ajouter à mon agenda"]
    assert agenda_links == [BASE + f"2027-1/agenda/{e}.ics" for e in
                            ("2027-partenaires", "2027-03-copil", "2027-04-semaine")]


def test_series_listed_once_with_its_dates(rendered):
    text = visible(rendered.html)
    assert [t for lv, t in Page(rendered.html).headings].count("Réunion des partenaires") == 1
    assert "Le premier jeudi de chaque mois, jusqu’au 30 juin 2027, sauf le 6 mai 2027" in text
    for day in ("Jeudi 4 mars 2027", "Jeudi 1er avril 2027", "Jeudi 3 juin 2027"):
        assert f"{day} de 9{NB}h à 11{NB}h" in text
    assert f"Jeudi 6 mai 2027 de 9{NB}h à 11{NB}h — annulé" in text
    assert "Ouverte à tous les partenaires." in text
    assert "tour de table" not in text  # the rest is on the web page
    assert BASE + "2027-1/#2027-partenaires" in {a["href"] for a, _ in Page(rendered.html).links}


def test_cancelled_event_is_marked_without_links(rendered):
    text = visible(rendered.html)
    assert "ANNULÉ Ciné-débat" in text.replace("CLSM ", "")
    assert BASE + "2027-1/agenda/2027-04-annule.ics" not in rendered.html


def test_feed_links(rendered):
    links = {t: a["href"] for a, t in Page(rendered.html).links}
    # A webcal:// link subscribes (Apple, Outlook, Thunderbird); an https one imports a copy.
    webcal = "webcal://" + BASE.removeprefix("https://")
    assert links["Agenda santé de Val-de-Lisière"] == webcal + "calendars/agenda.ics"
    assert links["Agenda du CLSM"] == webcal + "calendars/clsm.ics"
    assert links["SISM"] == webcal + "calendars/sism.ics"


# ------------------------------------------------------------------------- safety


def hostile_project():
    news = [make_news(title=HOSTILE, summary=HOSTILE, author=HOSTILE, image_alt=HOSTILE,
                      image=Path("content/images/x.png"),
                      link="https://sante.example.org/a?b=1&c=2",
                      body_md=HOSTILE + "\n\n| a | b |\n|---|---|\n| `<x>` | &amp; |\n\n"
                      "- un\n- deux\n\n```\n</pre> & <b>\n```\n")]
    events = [make_event(title=HOSTILE, location=HOSTILE, body_md=HOSTILE)]
    issue = make_issue(title=HOSTILE, period=HOSTILE, editorial_md=HOSTILE)
    site = make_site(territory=HOSTILE)
    return project(site=site, news=news, events=events, issue=issue)


def test_hostile_content_is_escaped_everywhere():
    rendered = render_issue(hostile_project(), "2027-1")
    for output in (rendered.mjml, rendered.html):
        assert "<script" not in output
        assert "<mj-raw>r</mj-raw>" not in output and "</mj-text><mj-raw>" not in output
    opened = len(re.findall(r"<mj-text\b[^>]*[^/]>", rendered.mjml))
    assert rendered.mjml.count("</mj-text>") == opened > 5
    assert "{{ jinja }}" in rendered.text and "{{ jinja }}" in rendered.html
    text = visible(rendered.html)
    assert '<script>alert("x")</script> </mj-text><mj-raw>r</mj-raw> ]]>' in text
    assert "a < b" in text
    assert "</pre> & <b>" in text
    assert "https://sante.example.org/a?b=1&amp;c=2" in rendered.html
    page = Page(rendered.html)
    assert any(img.get("alt", "").startswith('<script>alert("x")') for img in page.images)


def test_tables_lists_code_and_entities_survive_mrml():
    body = ("| Type | Nombre |\n|---|--:|\n| Ciné & débats | 2 |\n\n- un\n- deux\n\n"
            "1. premier\n\n`a < b`\n\n```\nif a < b:\n    pass\n```\n\n"
            "&copy; &eacute;t&eacute; &#x2192;\n")
    html = render_issue(project(news=[make_news(body_md=body)]), "2027-1").html
    assert re.search(r"<table[^>]*><thead><tr><th[^>]*>Type</th>", html.replace("\n", ""))
    assert re.search(r"<td[^>]*text-align:right[^>]*>2</td>", html)
    assert "Ciné &amp; débats" in html
    assert re.search(r"<ul[^>]*>\s*<li[^>]*>un</li>", html)
    assert re.search(r"<ol[^>]*>\s*<li[^>]*>premier</li>", html)
    assert "<code" in html and "a &lt; b" in html
    assert "if a &lt; b:\n    pass" in html
    assert "© été →" in html


# ------------------------------------------------------------------------- plain text


def test_plain_text(rendered):
    text = rendered.text
    assert not re.search(r"<[a-zA-Z/][^>]*>", text)
    assert "&amp;" not in text and "&nbsp;" not in text
    assert "ACTUALITÉS" in text and "AVANCÉE DES TRAVAUX" in text
    assert "En savoir plus\u00a0: https://sante.example.org/pssm" in text
    assert f"programme ({BASE}docs/pssm.pdf)" in text
    assert "- Guide habitat (https://sante.example.org/guide.pdf)" in text
    assert f"Ajouter à mon agenda : {BASE}2027-1/agenda/2027-03-copil.ics" in text
    assert "Répondre au questionnaire : https://sante.example.org/questionnaire" in text
    assert "Se désinscrire : https://sante.example.org/desinscription" in text
    assert f"Jeudi 18 mars 2027 de 14{NB}h à 16{NB}h{NB}30" in text
    assert "\n\n\n\n" not in text
    for line in text.splitlines():
        assert len(line) <= 72 or "https://" in line, line


# ------------------------------------------------------------------------- sender contract


def test_personal_markers_pass_through_verbatim():
    greeting = "%%GREETING-7f3a%%"
    unsubscribe = "https://sante.example.org/u?t=%%TOKEN-7f3a%%&l=fr"
    rendered = render_issue(project(), "2027-1", Personal(greeting, unsubscribe))
    assert greeting in rendered.text and unsubscribe in rendered.text
    assert htmllib.escape(greeting) in rendered.html
    assert htmllib.escape(unsubscribe) in rendered.html
    assert "Bonjour," not in rendered.text
    assert "https://sante.example.org/desinscription" not in rendered.html
    hrefs = [a["href"] for a, t in Page(rendered.html).links if t == "Se désinscrire de la lettre"]
    assert hrefs == [unsubscribe]


def test_default_personal_part(rendered):
    assert "Bonjour," in rendered.text
    assert "https://sante.example.org/desinscription" in rendered.text
    assert rendered.personal is None


def test_given_content_is_used():
    proj = project()
    content = select(proj, "2027-1")
    fewer = content._replace(agenda=content.agenda[:1])
    rendered = render_issue(proj, "2027-1", content=fewer)
    assert rendered.content is fewer
    assert visible(rendered.html).count("Ajouter à mon agenda") == 1


def test_unknown_issue_is_a_french_error():
    with pytest.raises(CommsError, match="la lettre « 2030-9 » n’existe pas"):
        render_issue(project(), "2030-9")


# ------------------------------------------------------------------------- size and assets


def test_size_report_names_the_heaviest_items(rendered):
    big = "Un long paragraphe de compte rendu. " * 400
    proj = project()
    news = [*proj.news, make_news("2027-01-12-pave", date(2027, 1, 12), body_md=big)]
    heavy = render_issue(project(news=news), "2027-1")
    report = size_report(heavy)
    assert report[0][0] == "2027-01-12-pave"
    assert report[0][1] > len(big)
    assert {item for item, _ in report} >= {"2027-01-05-pssm", "2027-03-copil"}
    assert all(size > 0 for _, size in report)
    assert [s for _, s in report] == sorted((s for _, s in report), reverse=True)
    assert rendered.html_size < HTML_LIMIT
    assert size_problem(rendered) is None
    message = size_problem(heavy, limit=30 * 1024)
    assert message and "2027-01-12-pave" in message and "Gmail" in message


def test_size_report_measures_what_removing_each_item_would_save(rendered):
    proj = project(news=[*project().news, make_news(
        "2027-01-12-pave", date(2027, 1, 12), body_md="Un compte rendu détaillé. " * 200)])
    heavy = render_issue(proj, "2027-1")
    linear = dict(size_report(heavy))
    by_removal = dict(_size_report_by_removal(heavy, heavy.content))
    assert linear.keys() == by_removal.keys() and len(linear) > 8
    # An item alone in its section or group takes the heading away with it; the others'
    # shares agree (the first item's spacing may differ by a few bytes).
    content = heavy.content
    lists = [v for k, v in content.sections.items() if k != "progress"]
    lists += content.progress.values()
    shared = {n.id for items in lists if len(items) > 1 for n in items}
    shared |= {o.event.id for o in content.agenda}
    assert len(shared) >= 6
    for item in shared:
        assert abs(linear[item] - by_removal[item]) <= max(80, by_removal[item] // 20), item
    assert max(linear, key=linear.get) == "2027-01-12-pave"


def test_size_report_of_a_territory_template_without_the_item_macros(tmp_path):
    from comms.render.templates import environment

    default = environment(None).loader.get_source(environment(None), "newsletter.mjml.j2")[0]
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "newsletter.mjml.j2").write_text(
        default.replace("agenda_entry", "entree_agenda"), encoding="utf-8")
    proj = project(site=make_site(root=tmp_path))
    report = size_report(render_issue(proj, "2027-1"))
    assert {item for item, _ in report} >= {"2027-01-05-pssm", "2027-03-copil"}
    assert all(size > 0 for _, size in report)


def test_assets_to_copy(rendered):
    proj = project()
    root = proj.site.root
    assert assets(proj, rendered.content) == [
        (root / "content/images/logo.png", "2027-1/images/logo.png", None),
        (root / "content/images/pssm.png", "2027-1/images/pssm.png", None),
    ]  # unreadable placeholders are copied as they are; real images: tests/test_images.py


def test_assets_with_the_same_file_name():
    news = [make_news("2027-01-05-a", image=Path("content/a/photo.png"), image_alt="a"),
            make_news("2027-01-06-b", image=Path("content/b/photo.png"), image_alt="b")]
    proj = project(news=news, site=make_site())
    rendered = render_issue(proj, "2027-1")
    dests = [d for _, d, _ in assets(proj, rendered.content)]
    assert dests == ["2027-1/images/photo.png", "2027-1/images/photo-2.png"]
    srcs = {img["src"] for img in Page(rendered.html).images}
    assert srcs == {BASE + "2027-1/images/photo.png", BASE + "2027-1/images/photo-2.png"}


# ------------------------------------------------------------------------- territory templates


def test_territory_template_overrides_the_default(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "newsletter.txt.j2").write_text(
        "Lettre {{ issue.id }} — {{ personal.greeting }}\n", encoding="utf-8")
    rendered = render_issue(project(site=make_site(root=tmp_path)), "2027-1")
    assert rendered.text == "Lettre 2027-1 — Bonjour,\n"
    assert "<mjml" in rendered.mjml  # the other templates still come from the package


def test_invalid_mjml_becomes_a_french_error(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "newsletter.mjml.j2").write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>a < b</mj-text></mj-column>"
        "</mj-section></mj-body></mjml>", encoding="utf-8")
    with pytest.raises(CommsError, match="MJML invalide"):
        render_issue(project(site=make_site(root=tmp_path)), "2027-1")


def test_broken_template_becomes_a_french_error(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "newsletter.mjml.j2").write_text("{% if %}\n", encoding="utf-8")
    with pytest.raises(CommsError, match="erreur de syntaxe dans le modèle"):
        render_issue(project(site=make_site(root=tmp_path)), "2027-1")
    (tmp_path / "templates" / "newsletter.mjml.j2").write_text("{{ inconnu }}\n",
                                                               encoding="utf-8")
    with pytest.raises(CommsError, match="valeur inconnue"):
        render_issue(project(site=make_site(root=tmp_path)), "2027-1")
