"""Reading a content root: typed model, and a precise French problem for each bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import event_file, issue_file, news_file, write

from comms.content import inspect, load_project
from comms.errors import ContentError


def errors_of(root):
    _, problems = inspect(root)
    return [p for p in problems if p.is_error]


def only_error(root):
    errors = errors_of(root)
    assert len(errors) == 1, [e.format(root) for e in errors]
    return errors[0]


def test_valid_root_gives_typed_model(root):
    project = load_project(root)
    assert [i.id for i in project.issues] == ["2027-1", "2027-2"]
    assert project.issues[0].publish_on == date(2027, 2, 15)
    assert project.issues[0].editorial_md.startswith("Édito")
    first = project.news[0]
    assert (first.title, first.date, first.dispositifs, first.section) == (
        "Première", date(2027, 1, 10), ("CLSM",), "news")
    copil = project.event("2027-03-copil")
    assert copil.title == "Comité de pilotage"  # defaults to the instance's name
    assert copil.start == datetime(2027, 3, 18, 14, 0, tzinfo=project.site.timezone)
    assert copil.start.utcoffset() == timedelta(hours=1)
    assert project.instances["gt-logement"].reminder == timedelta(hours=2)
    assert project.instances["copil"].reminder == timedelta(days=1)
    assert project.site.domain == "sante.example.org"
    assert project.site.web_base_url.endswith("/")


def test_unknown_field_names_line_and_suggests(root):
    write(root, "content/news/2027-01-11-x.md",
          "---\ntitel: Oups\ndate: 2027-01-11\ndispositif: ASV\nsection: news\n---\nTexte\n")
    problems = errors_of(root)
    unknown = next(p for p in problems if p.field == "titel")
    assert unknown.line == 2
    assert "title" in unknown.hint
    missing = next(p for p in problems if p.field == "title")
    assert "manquant" in missing.message
    text = unknown.format(root)
    assert text.startswith("content/news/2027-01-11-x.md:2: titel\u00a0: champ inconnu — ")


@pytest.mark.parametrize(
    ("front", "field", "words"),
    [
        ("title: A\ndate: 2027-02-30\ndispositif: ASV\nsection: news\n", "date", "n’existe pas"),
        ("title: A\ndate: demain\ndispositif: ASV\nsection: news\n", "date", "AAAA-MM-JJ"),
        ("title: A\ndate: 2027-01-11\ndispositif: ARS\nsection: news\n", "dispositif",
         "ASV, CLS, CLSM"),
        ("title: A\ndate: 2027-01-11\ndispositif: ASV\nsection: progres\n", "section",
         "progress"),
        ("title: A\ndate: 2027-01-11\ndispositif: ASV\nsection: news\nlink: www.x.fr\n",
         "link", "https://"),
        ("title: A\ndate: 2027-01-11\ndispositif: ASV\nsection: news\nissue: 2027-9\n",
         "issue", "2027-1"),
        ("title: A\ndate: 2027-01-11\ndispositif: ASV\nsection: news\n"
         "image: content/images/absente.png\nimage_alt: Une photo\n", "image", "introuvable"),
        ("title: A\ndate: 2027-01-11\ndispositif: ASV\nsection: news\n"
         "image: content/images/photo.png\n", "image_alt", "texte alternatif"),
    ],
)
def test_bad_news_values(root, front, field, words):
    write(root, "content/news/2027-01-11-x.md", f"---\n{front}---\nTexte\n")
    problem = only_error(root)
    assert problem.field == field
    assert words in problem.message + problem.hint
    assert problem.path.name == "2027-01-11-x.md"
    assert problem.line and problem.line > 1


def test_yaml_syntax_error_has_line(root):
    write(root, "content/news/2027-01-11-x.md",
          "---\ntitle: A\ndate: 2027-01-11\ndispositif: [ASV\nsection: news\n---\nTexte\n")
    problem = only_error(root)
    assert "le crochet [ ouvert sur cette ligne n’est pas refermé" in problem.message
    assert problem.line == 4


def test_missing_front_matter(root):
    write(root, "content/news/2027-01-11-x.md", "Juste du texte\n")
    assert "---" in only_error(root).message


def test_file_not_utf8(root):
    path = root / "content/news/2027-01-11-x.md"
    path.write_bytes("---\ntitle: Éducation\n".encode("cp1252"))
    problem = only_error(root)
    assert "UTF-8" in problem.message and problem.line == 2


def test_two_issues_with_same_number(root):
    write(root, "content/issues/2027-3.md", issue_file(2, "2027-10-15"))
    problem = only_error(root)
    assert problem.field == "number" and "2027-2" in problem.message and problem.line == 2


def test_event_end_before_start(root):
    write(root, "calendars/events/x.md", event_file("2027-03-18 14:00", "2027-03-18 13:00"))
    problem = only_error(root)
    assert (problem.field, problem.line) == ("end", 4)


def test_event_needs_a_place(root):
    write(root, "calendars/events/x.md", "---\ninstance: copil\ndate: 2027-10-07\n---\n")
    problem = only_error(root)
    assert problem.field == "location" and "online_url" in problem.hint


def test_event_unknown_instance_suggests(root):
    write(root, "calendars/events/x.md",
          event_file("2027-03-18 14:00", "2027-03-18 15:00", "coppil"))
    problem = only_error(root)
    assert problem.field == "instance" and "copil" in problem.hint


def test_skipped_spring_hour_is_refused(root):
    write(root, "calendars/events/x.md", event_file("2027-03-28 02:30", "2027-03-28 04:00"))
    problem = only_error(root)
    assert problem.field == "start" and "heure d’été" in problem.message


def test_repeated_autumn_hour_means_first_occurrence(root):
    write(root, "calendars/events/x.md", event_file("2027-10-31 02:30", "2027-10-31 04:00"))
    event = load_project(root).event("x")
    assert event.start.utcoffset() == timedelta(hours=2)
    assert event.start.astimezone(UTC) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_all_day_and_multi_day_events(root):
    write(root, "calendars/events/jour.md", "---\ninstance: copil\ndate: 2027-10-07\nlocation: Place du marché\n---\n")
    write(root, "calendars/events/sism.md",
          "---\ninstance: copil\nstart: 2027-10-04\nend: 2027-10-17\nonline_url: https://visio.example.org/sism\n---\n")
    project = load_project(root)
    day = project.event("jour")
    assert day.all_day and day.start == day.end == date(2027, 10, 7)
    sism = project.event("sism")
    assert sism.all_day and (sism.start, sism.end) == (date(2027, 10, 4), date(2027, 10, 17))


def test_organizer_must_be_a_coordinator(root):
    path = root / "calendars/instances.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "organizer: claire.martin@sante.example.org", "organizer: inconnu@ailleurs.example.org"),
        encoding="utf-8")
    problem = only_error(root)
    assert problem.field == "copil.organizer" and problem.line == 5


def test_every_problem_reported_at_once(root):
    write(root, "content/news/2027-01-11-x.md",
          "---\ntitle: A\ndate: 2027-13-01\ndispositif: ASV\nsection: news\n---\n")
    write(root, "calendars/events/x.md", event_file("2027-03-18 14:00", "2027-03-18 13:00"))
    write(root, "content/issues/2027-3.md", "---\nnumber: trois\npublish_on: 2027-10-15\n---\n")
    files = {p.path.name for p in errors_of(root)}
    assert files == {"2027-01-11-x.md", "x.md", "2027-3.md"}
    with pytest.raises(ContentError) as caught:
        load_project(root)
    assert len(caught.value.problems) >= 3


def test_missing_config(tmp_path):
    project, problems = inspect(tmp_path)
    assert project is None
    assert "comms.yaml" in problems[0].message and "--root" in problems[0].hint


def test_warnings_do_not_fail(root):
    write(root, "content/news/2026-01-01-vieux.md",
          news_file("Ancienne", "2026-01-01", extra="issue: 2027-1\n"))
    write(root, "content/news/2026-02-01-orphelin.md", news_file("Orpheline", "2026-02-01"))
    project, problems = inspect(root)
    assert project is not None
    assert not [p for p in problems if p.is_error]
    stale = next(p for p in problems if "six mois" in p.message)
    assert stale.path.name == "2026-01-01-vieux.md"
    orphan = next(p for p in problems if "aucune lettre" in p.message)
    assert orphan.path.name == "2026-02-01-orphelin.md"


def test_empty_section_is_a_warning(root):
    _, problems = inspect(root)
    empty = [p.message for p in problems if "est vide" in p.message]
    # 2027-1 has news and progress but no resources; 2027-2 only resources.
    assert any("Ressources bibliographiques" in m and "2027-1" in m for m in empty)
    assert any("Actualités" in m and "2027-2" in m for m in empty)
    assert not [p for p in problems if p.is_error]


def test_instance_named_like_a_published_feed_is_refused(root):
    path = root / "calendars/instances.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("gt-logement:", "clsm:", 1),
                    encoding="utf-8")
    problem = next(p for p in errors_of(root) if p.field == "clsm")
    assert problem.line == 6 and "réservé" in problem.message
