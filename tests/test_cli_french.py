"""Click's own messages (usage, help, wrong parameters) are in French too."""

from __future__ import annotations

from click.testing import CliRunner

from comms.cli import main

NB = "\u00a0"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_help_is_french():
    result = run("--help")
    assert result.exit_code == 0
    assert result.output.startswith(f"Utilisation{NB}: ")
    assert "Affiche cette aide." in result.output and "Commandes" in result.output
    assert "Show this message" not in result.output


def test_every_command_has_a_french_help():
    for name, command in main.load_all().items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert "Utilisation" in result.output and command.help, name
        assert "Show this message" not in result.output


def test_parameter_errors_are_french():
    unknown = run("bild")
    assert unknown.exit_code == 2
    assert f"Erreur{NB}: commande « bild » inconnue." in unknown.output
    assert f"Vouliez-vous dire «{NB}build{NB}»{NB}?" in unknown.output
    assert f"Erreur{NB}: option « --bogus » inconnue." in run("build", "--bogus").output
    assert f"argument manquant «{NB}INSTANCE{NB}»" in run("new", "event").output
    assert "« abc » n’est pas un nombre" in run("plan", "abc").output
    assert "Usage" not in run("plan", "abc").output


def test_help_headings_and_metavariables_are_french():
    result = run("new", "--help")
    assert f"Options{NB}:" in result.output and f"Commandes{NB}:" in result.output
    assert "COMMANDE [ARGUMENTS]..." in result.output and "COMMAND " not in result.output
    for name in main.load_all():
        text = run(name, "--help").output
        for english in (" TEXT ", " INTEGER ", " DIRECTORY", " PATH ", " FILE ", " RANGE"):
            assert english not in text, (name, english)
        assert "'" not in text.replace("’", ""), name  # typographic apostrophes only
    assert "--list TEXTE" in run("send", "--help").output


def test_command_list_keeps_no_break_spaces():
    listing = run("--help").output
    line = next(x for x in listing.splitlines() if x.strip().startswith("calendar"))
    assert f"(.ics){NB}: " in line, line
    assert " : " not in listing  # a plain space before a colon would let it start a line


def test_main_help_and_path_words_are_french(tmp_path):
    """The main help's apostrophes are typographic; a folder option reads `--root DOSSIER`,
    and its errors do not capitalise click's type name (« Le Dossier »)."""
    listing = run("--help").output
    assert "'" not in listing.replace("’", ""), listing
    text = run("status", "--help").output
    assert "--root DOSSIER " in text and "LE DOSSIER" not in text, text
    afile = tmp_path / "comms.yaml"
    afile.write_text("", encoding="utf-8")
    error = run("status", "--root", str(afile)).output
    assert f"«{NB}{afile}{NB}» est un fichier." in error, error
    assert "Dossier" not in error and "Le " not in error, error


def test_number_ranges_are_said_in_french():
    year = run("report", "1800")
    assert year.exit_code == 2
    assert "1800 est hors des valeurs possibles (de 2000 à 2999)" in year.output
    port = run("serve", "--help")
    assert "de 0 à 65535" in " ".join(port.output.split())  # however the help wraps
    assert "<=" not in year.output + port.output


def test_help_extras_put_a_no_break_space_before_semicolons():
    """click joins an option's extras (default, range) with « ; »: French wants a no-break
    space before it, as before « : »."""
    import re

    def flat(text: str) -> str:
        return re.sub(r"[ \n]+", " ", text)  # the help's wrapping, undone (not NB)

    assert f"8000{NB}; de 0 à 65535" in flat(run("serve", "--help").output)
    for name in main.load_all():
        text = flat(run(name, "--help").output)
        assert all(text[i - 1] == NB for i in range(1, len(text)) if text[i] == ";"), name


def test_every_help_keeps_french_spaces_around_punctuation_and_quotes():
    """Before « : », « ; », « ? » and « ! », and inside guillemets, a no-break space: a plain
    one would let the sign start a line, as the help wraps (shared --root help included)."""
    import re

    for name in main.load_all():
        text = run(name, "--help").output
        assert not re.search(r"[ \n][:;?!]|«[ \n]|[ \n]»", text), (name, text)
