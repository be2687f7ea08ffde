"""French wording shared by every message: plurals and the territory's « de ».

Plural categories come from babel's CLDR rules for French (0 and 1 are singular: « 0
erreur », « 1 destinataire », « 2 désinscrits »), never from « (s) ».
"""

from __future__ import annotations

import re
import unicodedata

from babel import Locale

FRENCH = Locale("fr")
NBSP = "\u00a0"


def plural(n: int, singular: str, plural_form: str) -> str:
    """`singular` or `plural_form` for a quantity `n`, by the CLDR French rule (0 and 1 take
    the singular; « many » — millions — takes the plural form)."""
    return singular if FRENCH.plural_form(abs(n)) == "one" else plural_form


# Plurals of the phrases the commands count, where adding an s to each word would be wrong.
PLURALS = {
    "déjà envoyé": "déjà envoyés",
    "adresse en double": "adresses en double",
    "adresse en échec définitif": "adresses en échec définitif",
    "peut-être déjà remis": "peut-être déjà remis",
    "message peut-être remis": "messages peut-être remis",
    "message interrompu": "messages interrompus",
    "déjà déposé dans var/outbox": "déjà déposés dans var/outbox",
    "n’a pas accepté l’invitation": "n’ont pas accepté l’invitation",
    "organise la réunion (ses abonnements aux agendas la lui montrent)":
        "organisent la réunion (leurs abonnements aux agendas la leur montrent)",
}
# Words that never take the plural's s, and prepositions, after which a phrase keeps its
# number (« 2 adresses en double », « 3 inscrits sur la liste »).
INVARIABLE = frozenset({"déjà", "non", "peut-être", "plus", "moins", "très", "bien"})
PREPOSITIONS = frozenset({"dans", "en", "de", "du", "des", "d’", "à", "au", "aux", "par",
                          "pour", "sur", "avec", "sans", "ou", "et"})


def plural_of(singular: str) -> str:
    """The plural of a counted word or phrase: PLURALS, else an s on each word that takes
    one (« lettre construite » -> « lettres construites »; « déjà », « dans », a path or a
    number stay as they are)."""
    if singular in PLURALS:
        return PLURALS[singular]
    words = singular.split(" ")
    out = []
    for n, word in enumerate(words):
        if word in PREPOSITIONS or word.startswith("("):  # the complement keeps its number
            out += words[n:]
            break
        out.append(word if word.endswith(("s", "x", "z")) or word in INVARIABLE
                   or not word.replace("-", "").isalpha() else word + "s")
    return " ".join(out)


def count(n: int, singular: str, plural_form: str | None = None) -> str:
    """« 0 erreur », « 1 destinataire », « 2 destinataires », « 2 lettres construites »;
    `plural_form` defaults to plural_of(singular)."""
    return f"{n} {plural(n, singular, plural_form or plural_of(singular))}"


def agree(n: int, singular: str, plural_form: str | None = None) -> str:
    """A word that agrees with a quantity written elsewhere: « prévue » / « prévues »."""
    return plural(n, singular, plural_form or singular + "s")


_VOWELS = set("aeiouyh")


def territory_of(name: str) -> str:
    """« de Lyon », « d’Oyonnax »: the default way to say « of » before a territory's name.

    Elision before a vowel (or a mute h is assumed for « H »: write the setting otherwise).
    Articles (« du Haut-Bugey », « des Monts du Lyonnais ») cannot be guessed: they come from
    comms.yaml `territory_of`.
    """
    name = name.strip()
    if not name:
        return ""
    base = unicodedata.normalize("NFD", name[0])[0].lower()
    return f"d’{name}" if base in _VOWELS - {"h"} else f"de {name}"


# French typography of coordinators' text, so nobody has to type it: a no-break space before
# « : ; ! ? » and inside guillemets (added when missing, made no-break when typed), and the
# typographic apostrophe. A colon is spaced only before a space or the end (« 14:30 » stays);
# anything that looks like a URL or an address is left exactly as written, and code spans
# are separate tokens that never reach this function.
_URL_END = r"(?=[.,;:!?)\]»]*(?:\s|$))"  # trailing punctuation belongs to the sentence
_URLISH = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.|mailto:|tel:)\S+?" + _URL_END
                     + r"|[^\s@«]+@[^\s@]+\.[^\s@]+?" + _URL_END, re.I)
_SPACE_BEFORE = re.compile(r"[ \u202f](?=[:;!?»])")
_SPACE_AFTER = re.compile(r"(?<=«)[ \u202f]")
_NONE_BEFORE = re.compile(r"(?<=[\w)\]»…\ue001])(?=[;!?](?:[\s!?.,)\]»]|$))")
_NONE_BEFORE_COLON = re.compile(r"(?<=[\w)\]»…\ue001])(?=:(?:\s|$))")
_KEPT = re.compile("\ue000(\\d+)\ue001")  # a URL set aside while the sentence is typeset
_NONE_AFTER_OPEN = re.compile(r"«(?=[^\s\u00a0\u202f])")
_NONE_BEFORE_CLOSE = re.compile(r"(?<=[^\s\u00a0\u202f«])»")
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")
# Every rule of `_typeset` needs one of these: a text without any is already typeset.
_TYPESET = re.compile(r"[:;!?«»']")


def _typeset(text: str) -> str:
    # Each rule runs only on a text holding the character it spaces (or replaces): most
    # texts hold one or two of them, and a rule that cannot match still scans the text.
    if ":" in text or ";" in text or "!" in text or "?" in text or "»" in text:
        text = _SPACE_BEFORE.sub("\u00a0", text)
    if "«" in text:
        text = _SPACE_AFTER.sub("\u00a0", text)
    if ";" in text or "!" in text or "?" in text:
        text = _NONE_BEFORE.sub("\u00a0", text)
    if ":" in text:
        text = _NONE_BEFORE_COLON.sub("\u00a0", text)
    if "«" in text:
        text = _NONE_AFTER_OPEN.sub("«\u00a0", text)
    if "»" in text:
        text = _NONE_BEFORE_CLOSE.sub("\u00a0»", text)
    return _APOSTROPHE.sub("’", text) if "'" in text else text


def french_spacing(text: str) -> str:
    """French typography for text partners read: no-break spaces before « : ; ! ? » and
    inside « guillemets », typographic apostrophes; URLs and addresses untouched."""
    # About half the text runs of a newsletter have nothing to typeset: skip the rules.
    return _spaced(text) if _TYPESET.search(text) else text


def _spaced(text: str) -> str:
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        kept.append(m.group())
        return f"\ue000{len(kept) - 1}\ue001"

    typeset = _typeset(_URLISH.sub(keep, text))
    return _KEPT.sub(lambda m: kept[int(m.group(1))], typeset) if kept else typeset
