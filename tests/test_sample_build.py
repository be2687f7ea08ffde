"""Functional: build the sample territory's issues and check what a partner would get."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import icalendar
import pytest
from click.testing import CliRunner

from comms.cli import main
from comms.content import load_project
from comms.selection import select

NB = "\u00a0"


class Outline(HTMLParser):
    """Headings (level, text) in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[int, str]] = []
        self._level = 0

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-6]", tag):
            self._level = int(tag[1])
            self.headings.append((self._level, ""))

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag):
            self._level = 0

    def handle_data(self, data):
        if self._level:
            level, text = self.headings[-1]
            self.headings[-1] = (level, text + data)

    def close(self):
        super().close()
        self.headings = [(level, " ".join(text.split())) for level, text in self.headings]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import REPO

    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(main, ["build", "--all", "--root", str(REPO), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return load_project(REPO), out


def headings(html: str) -> list[tuple[int, str]]:
    parser = Outline()
    parser.feed(html)
    parser.close()
    return parser.headings


def test_every_issue_has_its_sections_in_order(built):
    project, out = built
    for issue in project.issues:
        html = (out / issue.id / "newsletter.html").read_text(encoding="utf-8")
        outline = headings(html)
        assert outline[0][0] == 1 and project.site.newsletter_title in outline[0][1]
        sections = [text for level, text in outline if level == 2]
        expected = ["Éditorial", "Actualités", "Avancée des travaux",
                    "Ressources bibliographiques", "Agenda"]
        assert [s for s in sections if s in expected] == expected, sections
        levels = [level for level, _ in outline]
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), outline


def test_items_of_each_issue_and_nothing_twice(built):
    project, out = built
    seen: dict[str, str] = {}
    for issue in project.issues:
        text = (out / issue.id / "newsletter.txt").read_text(encoding="utf-8")
        for item in select(project, issue.id).news:
            assert item.title in text, (issue.id, item.id)
            assert item.id not in seen, f"{item.id} in {seen.get(item.id)} and {issue.id}"
            seen[item.id] = issue.id
    drafts = [n for n in project.news if n.draft]
    assert drafts and all(n.id not in seen for n in drafts)
    pinned = [n for n in project.news if n.issue]
    assert pinned and all(seen[n.id] == n.issue for n in pinned if not n.draft)


def test_progress_grouped_by_scheme(built):
    _, out = built
    text = (out / "2027-1" / "newsletter.txt").read_text(encoding="utf-8")
    part = text.split("AVANCÉE DES TRAVAUX", 1)[1].split("RESSOURCES", 1)[0]
    positions = [part.find(f">> {scheme} · ") for scheme in ("ASV", "CLS", "CLSM")]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions


def test_agenda_window_and_french_dates(built):
    project, out = built
    text = (out / "2027-1" / "newsletter.txt").read_text(encoding="utf-8")
    agenda = text.split("AGENDA", 1)[1]
    assert f"Jeudi 18 mars 2027 de 14{NB}h à 16{NB}h{NB}30" in agenda
    assert "Jeudi 6 mai 2027 de 9" in agenda and "annulé" in agenda  # excepted occurrence
    assert "Jeudi 4 février 2027" not in agenda  # before the publish date
    assert "24 juin 2027" not in agenda  # the plenary assembly: next issue's window
    later = (out / "2027-2" / "newsletter.txt").read_text(encoding="utf-8")
    later_agenda = later.split("AGENDA", 1)[1]
    assert "Jeudi 24 juin 2027" in later_agenda
    cancelled = project.event("2027-09-gt-cohesion")
    assert cancelled.cancelled and cancelled.title in later_agenda
    assert "annulé" in later_agenda.split(cancelled.title, 1)[1][:200].lower()


def test_agenda_calendars_parse_and_keep_their_instant(built):
    project, out = built
    folder = out / "2027-1" / "agenda"
    expected = {o.event.id for o in select(project, "2027-1").agenda}
    assert {p.stem for p in folder.glob("*.ics")} == expected
    spring = icalendar.Calendar.from_ical((folder / "2027-03-28-jardin-partage.ics").read_bytes())
    (event,) = spring.walk("VEVENT")
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    html = (out / "2027-1" / "newsletter.html").read_text(encoding="utf-8")
    assert f"{project.site.web_base_url}2027-1/agenda/2027-03-copil.ics" in html


def test_preview_message_parses_back(built):
    project, out = built
    raw = (out / "2027-1" / "newsletter.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"].startswith(project.site.newsletter_title)
    assert message["From"].addresses[0].addr_spec == project.site.sender.email
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    assert len(message.get_body(("html",)).get_content().encode()) < 90 * 1024


def test_archive_index_and_pages(built):
    project, out = built
    index = (out / "index.html").read_text(encoding="utf-8")
    for issue in project.issues:
        assert f'href="{project.site.web_base_url}{issue.id}/"' in index
        page = (out / issue.id / "index.html").read_text(encoding="utf-8")
        assert '<html lang="fr"' in page
        assert "ZZ" not in page
    images = sorted(p.name for p in (out / "2027-1" / "images").iterdir())
    assert "logo.png" in images and "sism-2026-participation.png" in images


BAD_SPACING = re.compile(r"« | »|\w [:;?!](?=\s|$)")


def test_french_typography_in_what_partners_read(built):
    project, out = built
    for issue in project.issues:
        for name in ("newsletter.txt", "newsletter.html", "index.html"):
            text = (out / issue.id / name).read_text(encoding="utf-8")
            text = re.sub(r"<style.*?</style>", "", text, flags=re.S)  # CSS `a : b` is not French
            found = BAD_SPACING.findall(text)
            assert not found, (issue.id, name, found[:5])


def test_french_typography_in_check_messages(root):
    from conftest import write

    write(root, "content/news/2027-01-11-x.md",
          "---\ntitel: A\ndate: 2027-13-01\ndispositif: ARS\nsection: progres\n---\n")
    output = CliRunner().invoke(main, ["check", "--root", str(root)]).output
    assert "erreur" in output
    assert not BAD_SPACING.findall(output), BAD_SPACING.findall(output)
