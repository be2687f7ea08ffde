"""The partners directory read as French spreadsheets write it, and its problems reported
with file, line and column, in French."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from factories import make_event, make_instance, make_project

from comms.directory import directory_problems, known_lists, load_directory
from comms.errors import ContentError

LISTS = {"newsletter", "copil", "cotech", "gt-logement"}
HEADER = "email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on\n"


def write(tmp_path: Path, text: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    path = tmp_path / "partners.csv"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def problems(path: Path, known: set[str] | None = LISTS) -> list:
    with pytest.raises(ContentError) as caught:
        load_directory(path, known)
    return [p for p in caught.value.problems if p.is_error]


def test_semicolon_utf8_with_bom(tmp_path):
    path = write(tmp_path, HEADER + "Anne.Durand@Mairie.example.org;Anne;Durand;Mairie;"
                 "Adjointe;newsletter|copil;2026-01-10;\n", bom=True)
    directory = load_directory(path, LISTS)
    (anne,) = directory.partners
    assert anne.email == "Anne.Durand@mairie.example.org"  # domain lower-cased
    assert anne.key == "anne.durand@mairie.example.org"
    assert anne.lists == {"newsletter", "copil"}
    assert anne.consent_on == date(2026, 1, 10) and anne.unsubscribed_on is None
    assert anne.name == "Anne Durand" and anne.line == 2


def test_comma_separated_with_quoted_lists(tmp_path):
    text = ("email,first_name,last_name,organisation,role,lists,unsubscribed_on\n"
            'paul@ars.example.org,Paul,Roche,"ARS, délégation",Délégué,"newsletter, cotech",\n')
    (paul,) = load_directory(write(tmp_path, text), LISTS).partners
    assert paul.organisation == "ARS, délégation"
    assert paul.lists == {"newsletter", "cotech"}


def test_windows_1252_and_french_headers(tmp_path):
    text = ("Courriel;Prénom;NOM;Structure;Rôle;Listes;Date de consentement;Désinscrit le\n"
            "helene@ccas.example.org;Hélène;Lefèvre;CCAS;Directrice;newsletter;15/09/2025;"
            "01/02/2026\n")
    (helene,) = load_directory(write(tmp_path, text, "cp1252"), LISTS).partners
    assert (helene.first_name, helene.last_name, helene.role) == ("Hélène", "Lefèvre",
                                                                  "Directrice")
    assert helene.consent_on == date(2025, 9, 15)
    assert helene.unsubscribed_on == date(2026, 2, 1)


def test_excel_date_with_time_and_blank_rows(tmp_path):
    text = HEADER + ";;;;;;;\n" + "a@example.org;;;;;newsletter;2026-01-10 00:00:00;\n\n"
    (a,) = load_directory(write(tmp_path, text), LISTS).partners
    assert a.consent_on == date(2026, 1, 10)


def test_every_problem_with_its_line(tmp_path):
    text = HEADER + (
        "ok@example.org;A;B;;;newsletter;;\n"                  # 2
        "pas-une-adresse;A;B;;;newsletter;;\n"                  # 3
        "OK@Example.org;A;B;;;copil;;\n"                        # 4: duplicate, other case
        "c@example.org;A;B;;;newsleter|gt-logment;;\n"          # 5: two unknown lists
        "d@example.org;A;B;;;newsletter;31/02/2026;\n"          # 6: impossible date
        ";A;B;;;newsletter;;\n"                                 # 7: no address
    )
    found = problems(write(tmp_path, text))
    by_line = {(p.line, p.field) for p in found}
    assert by_line == {(3, "email"), (4, "email"), (5, "lists"), (6, "consent_on"),
                       (7, "email")}
    duplicate = next(p for p in found if p.line == 4)
    assert "ligne 2" in duplicate.message
    unknown = [p for p in found if p.line == 5]
    assert len(unknown) == 2
    assert any("« newsletter »" in p.hint for p in unknown)
    assert all(p.path.name == "partners.csv" for p in found)
    assert "partners.csv:3: email\u00a0: « pas-une-adresse » n’est pas une adresse " \
        "électronique valide (il manque le signe @)" in found[0].format()


def test_line_break_inside_a_cell_is_refused_with_the_record_line(tmp_path):
    text = HEADER + 'a@example.org;A;B;;;newsletter;;\n' \
        '"b@example.org";"Jean\r\nBcc: victim@example.org";Martin;;;newsletter;;\n' \
        'c@example.org;C;D;;;newsletter;;\n'
    found = problems(write(tmp_path, text))
    assert [(p.line, p.field) for p in found] == [(3, "first_name")]
    assert "retour à la ligne" in found[0].message


def test_lines_are_counted_after_a_multiline_record(tmp_path):
    text = HEADER + 'a@example.org;"deux\nlignes";B;;;newsletter;;\n' \
        "mauvaise;C;D;;;newsletter;;\n"
    lines = sorted(p.line for p in problems(write(tmp_path, text)))
    assert lines == [2, 4]


def test_missing_required_column(tmp_path):
    found = problems(write(tmp_path, "email;prenom\na@example.org;A\n"))
    assert [(p.line, p.field) for p in found] == [(1, "lists"), (1, "unsubscribed_on")]


def test_unknown_column_is_a_warning(tmp_path):
    directory = load_directory(write(tmp_path, "email;lists;telephone;unsubscribed_on\n"
                                     "a@example.org;newsletter;0102;\n"), LISTS)
    assert len(directory.partners) == 1
    assert [w.field for w in directory.warnings] == ["telephone"]


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ContentError) as caught:
        load_directory(tmp_path / "absent.csv", LISTS)
    assert "COMMS_PARTNERS" in caught.value.problems[0].hint


def test_any_list_when_no_known_lists_given(tmp_path):
    directory = load_directory(write(tmp_path, "email;lists;desinscription\n"
                                     "a@example.org;nimporte;\n"), None)
    assert directory.partners[0].lists == {"nimporte"}


def test_members_and_find(tmp_path):
    text = HEADER + ("a@example.org;A;;;;newsletter|copil;;\n"
                     "b@example.org;B;;;;copil;;2026-03-01\n")
    directory = load_directory(write(tmp_path, text), LISTS)
    assert [p.email for p in directory.members("copil")] == ["a@example.org", "b@example.org"]
    assert [p.email for p in directory.members("newsletter")] == ["a@example.org"]
    assert directory.find(" B@EXAMPLE.org ").first_name == "B"
    assert directory.find("z@example.org") is None


def test_known_lists_come_from_the_project():
    project = make_project(
        instances={"copil": make_instance("copil"),
                   "gt": make_instance("gt", audience=("gt-logement", "partenaires"))},
        events=[make_event(audience=("journee-interpro",))])
    assert known_lists(project, ("elus",)) == {"newsletter", "copil", "gt-logement",
                                               "partenaires", "journee-interpro", "elus"}


def test_directory_problems_for_check(root):
    assert directory_problems(load_project(root)) == []
    (root / "content/partners.csv").write_text(HEADER + "x;A;B;;;newsletter;;\n",
                                               encoding="utf-8")
    found = directory_problems(load_project(root))
    assert [(p.line, p.field) for p in found] == [(2, "email")]


def test_directory_may_live_outside_the_root(root, tmp_path, monkeypatch):
    outside = tmp_path / "prive" / "annuaire.csv"
    outside.parent.mkdir()
    outside.write_text(HEADER + "bad;A;B;;;newsletter;;\n", encoding="utf-8")
    monkeypatch.setenv("COMMS_PARTNERS", str(outside))
    found = directory_problems(load_project(root))
    assert found and found[0].path == outside


def load_project(root: Path):
    from comms.content import load_project as load

    return load(root)
