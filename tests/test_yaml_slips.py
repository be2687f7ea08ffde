"""Each YAML slip a coordinator makes gets its own French explanation, and a file that cannot
be read gives one error, not a cascade of false ones (through `comms check`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import write

from comms.cli import main

NEWS = "---\ntitle: Titre\ndate: 2027-01-11\ndispositif: ASV\nsection: news\n---\nTexte.\n"


def errors_of(root) -> list[str]:
    result = CliRunner().invoke(main, ["check", "--root", str(root)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.replace("\u00a0", " ").splitlines()
    return [x for x in lines if ": " in x and "avertissement" not in x
            and not x.startswith(("Images", "Contenu"))]


@pytest.mark.parametrize(("front", "where", "words"), [
    ("title: Titre\n\tdate: 2027-01-11\n", ":3: date :", "une tabulation sert de décalage"),
    ('title: "La journée "Bien vieillir""\ndate: 2027-01-11\n', ":2: title :",
     "des guillemets droits \" à l’intérieur d’une valeur entre guillemets"),
    ("title: 'L'hôpital de jour'\ndate: 2027-01-11\n", ":2: title :", "une apostrophe droite"),
    ("title:Titre\ndate: 2027-01-11\n", ":2:", "il manque une espace après « title: »"),
    ("title: Titre\ndate:2027-01-11\ndispositif: ASV\n", ":3:",
     "il manque une espace après « date: »"),
    ("title: Réunion: le bilan\ndate: 2027-01-11\n", ":2: title :",
     "la valeur de « title » contient « : »"),
])
def test_each_slip_in_a_news_file_has_its_own_message(root, front, where, words):
    write(root, "content/news/2027-01-11-x.md",
          f"---\n{front}dispositif: ASV\nsection: news\n---\nTexte.\n"
          if "dispositif" not in front else f"---\n{front}section: news\n---\nTexte.\n")
    found = errors_of(root)
    assert len(found) == 1, found
    assert found[0].startswith(f"content/news/2027-01-11-x.md{where} le fichier ne peut pas "
                               "être lu : "), found
    assert words in found[0], found
    assert "found" not in found[0] and "expected" not in found[0]  # no parser English


def test_unquoted_colour_is_explained_not_silently_dropped(root):
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace('color: "#1f5f7a"',
                                                                  "color: #1f5f7a"),
                      encoding="utf-8")
    found = errors_of(root)
    assert len(found) == 1, found
    assert "comms.yaml:17: brand.color : « #1f5f7a » est lu comme un commentaire" in found[0]
    assert 'color: "#1f5f7a"' in found[0]


def test_one_tab_in_instances_gives_one_error(sample):
    path = sample / "calendars/instances.yaml"
    lines = path.read_text(encoding="utf-8").split("\n")
    number = next(n for n, line in enumerate(lines) if line.startswith("  name:"))
    lines[number] = "\t" + lines[number].lstrip()
    path.write_text("\n".join(lines), encoding="utf-8")
    found = errors_of(sample)
    assert found == [f"calendars/instances.yaml:{number + 1}: name : le fichier ne peut pas "
                     "être lu : "
                     "une tabulation sert de décalage sur cette ligne, or YAML n’accepte que "
                     "des espaces — remplacez la tabulation par des espaces (deux par niveau), "
                     "alignés sur les lignes voisines"]


def test_shifted_indentation_is_named(root):
    config = root / "comms.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "  email: lettre@sante.example.org", " email: lettre@sante.example.org"),
        encoding="utf-8")
    found = errors_of(root)
    assert len(found) == 1, found
    assert "décalage incohérent" in found[0]


def test_missing_space_is_found_above_blank_and_comment_lines(root):
    config = root / "comms.yaml"
    text = config.read_text(encoding="utf-8")
    key = next(x for x in text.split("\n") if x.startswith("reply_to: "))
    config.write_text(text.replace(key, key.replace(": ", ":", 1) + "\n\n# Les coordinations."),
                      encoding="utf-8")
    number = text.split("\n").index(key) + 1
    found = errors_of(root)
    assert len(found) == 1, found
    assert found[0].startswith(f"comms.yaml:{number}: le fichier ne peut pas être lu : "
                               "il manque une espace après « reply_to: »"), found


def test_nested_field_is_named_with_its_parents(root):
    config = root / "comms.yaml"
    text = config.read_text(encoding="utf-8")
    lines = text.split("\n")
    at = next(n for n, x in enumerate(lines) if x.startswith("    email: "))
    lines[at] = lines[at].replace("email: ", "email: \"x@y.fr\" \"z\" ")
    config.write_text("\n".join(lines), encoding="utf-8")
    found = errors_of(root)
    assert len(found) == 1, found
    assert f"comms.yaml:{at + 1}: coordinators[1].email : le fichier ne peut pas" in found[0]
