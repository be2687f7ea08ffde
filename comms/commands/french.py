"""Click's own words (usage, help, parameter errors) in French.

Click passes them through gettext, for which no French catalogue ships; its modules bind
`_` and `ngettext` at import, so those names are pointed at this table. A message missing
here stays in English rather than failing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.termui
import click.types

NB = "\u00a0"
WORDS = {
    "Usage:": f"Utilisation{NB}:",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "Show this message and exit.": "Affiche cette aide.",
    "Show the version and exit.": "Affiche la version.",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "Error: {message}": f"Erreur{NB}: {{message}}",
    "Try '{command} {option}' for help.": f"Pour l’aide{NB}: « {{command}} {{option}} ».",
    "Invalid value: {message}": f"valeur invalide{NB}: {{message}}",
    "Invalid value for {param_hint}: {message}":
        f"valeur invalide pour {{param_hint}}{NB}: {{message}}",
    "Missing argument": "argument manquant",
    "Missing option": "option manquante",
    "Missing parameter": "paramètre manquant",
    "Missing {param_type}": "{param_type} manquant",
    "Missing parameter: {param_name}": f"paramètre manquant{NB}: {{param_name}}",
    "No such option {name!r}.": "option « {name} » inconnue.",
    "No such command {name!r}.": "commande « {name} » inconnue.",
    "Missing command.": "commande manquante.",
    "Aborted!": "Interrompu.",
    "default: {default}": f"par défaut{NB}: {{default}}",
    "env var: {var}": f"variable{NB}: {{var}}",
    "required": "obligatoire",
    "{value!r} is not a valid {number_type}.": "« {value} » n’est pas un nombre.",
    "{value} is not in the range {range}.": "{value} est hors des valeurs possibles ({range}).",
    # Click capitalises the type's name in these (« Dossier »): the name is left out.
    "{name} {filename!r} does not exist.": "« {filename} » n’existe pas.",
    "{name} {filename!r} is a directory.": "« {filename} » est un dossier.",
    "{name} {filename!r} is a file.": "« {filename} » est un fichier.",
    # A path's type name is also its metavariable (`--root DOSSIER`).
    "directory": "dossier",
    "file": "fichier",
    "path": "chemin",
    # Prompts (`comms init`).
    "Error: The two entered values do not match.":
        f"Erreur{NB}: les deux valeurs tapées sont différentes.",
    "Error: invalid input": f"Erreur{NB}: réponse invalide",
    "Repeat for confirmation": "Retapez pour confirmer",
    "Option {name!r} does not take a value.": "l’option « {name} » ne prend pas de valeur.",
}
PLURALS = {
    "Got unexpected extra argument ({args})": ("argument en trop ({args})",
                                               "arguments en trop ({args})"),
    "Option {name!r} requires an argument.": ("l’option « {name} » attend une valeur.",
                                              "l’option « {name} » attend {nargs} valeurs."),
    "Did you mean {possibility}?": (f"Vouliez-vous dire {{possibility}}{NB}?",
                                    f"(Vouliez-vous dire{NB}: "
                                    f"{{possibilities}}{NB}?)"),
}


def gettext(message: str) -> str:
    return WORDS.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    forms = PLURALS.get(singular)
    if forms is None:
        return singular if n == 1 else plural
    return forms[0] if n <= 1 else forms[1]


# Type names click shows as metavariables (`--out DIRECTORY`).
METAVARS = {"TEXT": "TEXTE", "INTEGER": "ENTIER", "FLOAT": "NOMBRE", "DIRECTORY": "DOSSIER",
            "FILE": "FICHIER", "PATH": "CHEMIN", "BOOLEAN": "OUI|NON", "FILENAME": "FICHIER"}
SUBCOMMAND_METAVAR = "COMMANDE [ARGUMENTS]..."
_QUOTED = re.compile(r"'([^']*)'")


def guillemets(text: str) -> str:
    """'--out' -> « --out »: click quotes names with straight quotes."""
    return _QUOTED.sub(lambda m: f"«{NB}{m.group(1)}{NB}»", text)


def _french_metavar(original: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(original)
    def make_metavar(self: click.core.Parameter, ctx: click.Context) -> str:
        metavar = original(self, ctx)
        if self.metavar is not None:
            return metavar
        metavar = metavar.replace(" RANGE", "")  # `INTEGER RANGE`: the bounds are shown after
        return re.sub(r"[A-Z]+", lambda m: METAVARS.get(m.group(), m.group()), metavar)
    return make_metavar


def _french_hint(original: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(original)
    def get_error_hint(self: click.core.Parameter, ctx: click.Context | None) -> str:
        return guillemets(original(self, ctx))
    return get_error_hint


def _format_possibilities(possibilities: list[str]) -> str:
    shown = ", ".join(f"«{NB}{p}{NB}»" for p in sorted(possibilities))
    return ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)",
                    len(possibilities)).format(possibility=shown, possibilities=shown)


def _write_heading(self: click.formatting.HelpFormatter, heading: str) -> None:
    self.write(f"{'':>{self.current_indent}}{heading}{NB}:\n")


def _group_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: click.Group, *args: Any, **kwargs: Any) -> None:
        if not kwargs.get("chain"):
            kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        original(self, *args, **kwargs)
    return __init__


_NB_KEPT = "\ue002"  # stands for a no-break space while click splits the help on spaces


def _short_help(original: Callable[..., str]) -> Callable[..., str]:
    """Click builds the command list's one-line help with str.split(), which also splits on
    no-break spaces and joins with plain ones: « agendas : » would lose its no-break space."""
    @functools.wraps(original)
    def make_default_short_help(help: str, max_length: int = 45) -> str:
        return original(help.replace(NB, _NB_KEPT), max_length).replace(_NB_KEPT, NB)
    return make_default_short_help


def _help_record(original: Callable[..., Any]) -> Callable[..., Any]:
    """Click joins an option's help extras with « ; » and a plain space before nothing:
    French puts a no-break space before the semicolon (« par défaut : 8000 ; de 1 à 65535 »)."""
    @functools.wraps(original)
    def get_help_record(self: click.core.Option, ctx: click.Context) -> Any:
        record = original(self, ctx)
        if record is None:
            return None
        spec, help = record
        text, bracket, extras = help.rpartition("[")
        if bracket and extras.endswith("]"):
            help = text + bracket + extras.replace("; ", f"{NB}; ")
        return spec, help
    return get_help_record


_PATCHED = False


def install() -> None:
    """Point click's `_` and `ngettext` at the French table (before commands are declared,
    since parameter types translate their names when created)."""
    for module in (click.core, click.decorators, click.exceptions, click.formatting,
                   click.parser, click.termui, click.types):
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
    global _PATCHED
    if _PATCHED:  # wrappers are applied once, however often this module is imported
        return
    _PATCHED = True
    for cls in (click.core.Parameter, click.core.Argument):
        if "make_metavar" in vars(cls):
            cls.make_metavar = _french_metavar(vars(cls)["make_metavar"])
        if "get_error_hint" in vars(cls):
            cls.get_error_hint = _french_hint(vars(cls)["get_error_hint"])
    click.exceptions._format_possibilities = _format_possibilities
    click.core.Option.get_help_record = _help_record(click.core.Option.get_help_record)
    click.formatting.HelpFormatter.write_heading = _write_heading
    for name in ("_make_default_short_help", "make_default_short_help"):  # named per version
        if name in vars(click.core):
            setattr(click.core, name, _short_help(vars(click.core)[name]))
    click.core.Group.__init__ = _group_init(click.core.Group.__init__)


class IntRange(click.IntRange):
    """click's IntRange, its closed bounds said in French (« de 2000 à 2999 ») in errors
    and help."""

    def _describe_range(self) -> str:
        if None not in (self.min, self.max) and not (self.min_open or self.max_open):
            return f"de {self.min} à {self.max}"
        return super()._describe_range()
