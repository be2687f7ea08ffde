"""The web archive: one public page per issue and the list of every issue."""

from __future__ import annotations

import itertools
import re
from datetime import date

from factories import make_issue, make_news, make_project
from test_newsletter import BASE, HOSTILE, Page, hostile_project, in_order, project, visible

from comms.render.archive import render_archive_index, render_archive_page
from comms.render.newsletter import Personal, render_issue


def test_issue_page_is_a_public_html5_page():
    proj = project()
    rendered = render_issue(proj, "2027-1", Personal("%%SALUT%%", "https://x.example/%%U%%"))
    page_html = render_archive_page(proj, rendered)
    assert page_html.startswith("<!DOCTYPE html>")
    page = Page(page_html)
    assert page.html_attrs == {"lang": "fr", "dir": "ltr"}
    assert page.title == rendered.subject
    # Nothing personal, no unsubscribe link: the page is the same for everyone.
    for private in ("%%SALUT%%", "%%U%%", "Bonjour,", "https://sante.example.org/desinscription",
                    "désinscrire"):
        assert private not in page_html


def test_issue_page_has_the_same_content_and_full_agenda():
    proj = project()
    page_html = render_archive_page(proj, render_issue(proj, "2027-1"))
    page = Page(page_html)
    text = visible(page_html)
    assert in_order(text, ["Éditorial", "Chères et chers partenaires", "Actualités",
                           "Premiers secours", "Avancée des travaux", "ASV · Atelier santé ville",
                           "Actions communes", "Ressources bibliographiques", "Agenda",
                           "S’abonner à l’agenda", "Votre avis sur la lettre"])
    assert "Parue le lundi 15 février 2027" in text
    assert "tour de table" in text  # the whole text of each event, not only its lead
    assert 'id="2027-partenaires"' in page_html  # target of the email's « Détails en ligne »
    agenda = [a["href"] for a, t in page.links if t == "Ajouter à mon agenda"]
    assert BASE + "2027-1/agenda/2027-03-copil.ics" in agenda
    levels = [lv for lv, _ in page.headings]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
    assert all("alt" in img for img in page.images)
    assert all(a["href"].startswith(("https://", "mailto:", "#", "webcal://")) for a, _ in page.links)
    assert "fonts.googleapis.com" not in page_html


def test_issue_page_escapes_content():
    proj = hostile_project()
    page_html = render_archive_page(proj, render_issue(proj, "2027-1"))
    assert "<script" not in page_html and "<mj-raw>" not in page_html
    assert HOSTILE.split(" </mj")[0] in visible(page_html)
    style = re.search(r"<style>(.*?)</style>", page_html, re.S).group(1)
    assert "&#39;" not in style and "'Segoe UI'" in style  # CSS is not HTML-escaped


def test_archive_index_lists_issues_newest_first():
    issues = [make_issue("2027-1", date(2027, 2, 15), title="Hiver"),
              make_issue("2027-2", date(2027, 6, 15), period="Printemps 2027",
                         title="Printemps <b>"),
              ]
    news = [make_news("2027-01-10-a", date(2027, 1, 10), title="Nouvelle d’hiver"),
            make_news("2027-05-10-b", date(2027, 5, 10), title="Nouvelle de printemps")]
    proj = make_project(issues=issues, news=news)
    index = render_archive_index(proj, proj.issues)
    page = Page(index)
    assert page.html_attrs.get("lang") == "fr"
    issue_links = [(a["href"], t) for a, t in page.links if a["href"].startswith(BASE + "2027-")]
    assert [h for h, _ in issue_links] == [BASE + "2027-2/", BASE + "2027-1/"]
    assert issue_links[0][1] == "N°\u00a02 · Printemps 2027 — Printemps <b>"
    assert "Printemps &lt;b&gt;" in index
    text = visible(index)
    assert in_order(text, ["Nouvelle de printemps", "Nouvelle d’hiver"])
    assert "Parue le mardi 15 juin 2027" in text
    levels = [lv for lv, _ in page.headings]
    assert levels[:3] == [1, 2, 3]


def test_archive_index_without_issues():
    proj = make_project()
    assert "Aucun numéro n’est encore paru." in render_archive_index(proj, [])
