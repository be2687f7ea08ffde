"""Click's own words (usage, help, parameter errors) in French.

Click passes them through gettext, for which no French catalogue ships; its modules bind
`_` and `ngettext` at import, so those names are pointed at this table. A message missing
here stays in English rather than failing.
"""

from __future__ import annotations

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
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
    "{name} {filename!r} does not exist.": "{name} « {filename} » n’existe pas.",
    "{name} {filename!r} is a directory.": "{name} « {filename} » est un dossier.",
    "{name} {filename!r} is a file.": "{name} « {filename} » est un fichier.",
    "directory": "le dossier",
    "file": "le fichier",
    "path": "le chemin",
    "Option {name!r} does not take a value.": "l’option « {name} » ne prend pas de valeur.",
}
PLURALS = {
    "Got unexpected extra argument ({args})": ("argument en trop ({args})",
                                               "arguments en trop ({args})"),
    "Option {name!r} requires an argument.": ("l’option « {name} » attend une valeur.",
                                              "l’option « {name} » attend {nargs} valeurs."),
    "Did you mean {possibility}?": (f"Vouliez-vous dire {{possibility}}{NB}?",
                                    f"(Vouliez-vous dire {{possibilities}}{NB}?)"),
}


def gettext(message: str) -> str:
    return WORDS.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    forms = PLURALS.get(singular)
    if forms is None:
        return singular if n == 1 else plural
    return forms[0] if n <= 1 else forms[1]


def install() -> None:
    """Point click's `_` and `ngettext` at the French table (before commands are declared,
    since parameter types translate their names when created)."""
    for module in (click.core, click.decorators, click.exceptions, click.formatting,
                   click.parser, click.types):
        if hasattr(module, "_"):
            module._ = gettext
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext
