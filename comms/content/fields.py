"""Field processors: each turns one raw YAML value into a typed one or reports why it can't.

A file's fields are declared as a table (name -> Field); `read_fields` applies it, reports
unknown names with the closest known one, missing required fields and wrong values, and
returns what could be read. The readers never chain ifs over field names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import idna

from comms.content.source import Document
from comms.errors import Problems, closest
from comms.uri import InvalidIRI, split_url, to_uri


class Invalid(ValueError):
    """A value that cannot be read; `hint` says what to write instead."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


Parser = Callable[[Any], Any]


class Field(NamedTuple):
    parse: Parser
    required: bool = False
    default: Any = None


def read_fields(doc: Document, table: dict[str, Field], report: Problems,
                prefix: str = "") -> dict[str, Any]:
    """Apply a field table to a mapping; missing optional fields get their default."""
    out: dict[str, Any] = {}
    for key in doc.data:
        key = str(key)
        if key not in table:
            guess = closest(key, table)
            hint = (f"vouliez-vous écrire « {guess} »\u00a0?" if guess else
                    "champs possibles\u00a0: " + ", ".join(table))
            report.error(doc.line_of(key), prefix + key, "champ inconnu", hint)
    for name, spec in table.items():
        raw = doc.data.get(name)
        if raw is None or raw == "":
            if spec.required:
                report.error(doc.line, prefix + name, "champ obligatoire manquant",
                             f"ajoutez une ligne « {name}: … »")
            out[name] = spec.default
            continue
        try:
            out[name] = spec.parse(raw)
        except Invalid as exc:
            report.error(doc.line_of(name), prefix + name, exc.message, exc.hint)
            out[name] = spec.default
    return out


# --- scalar parsers -------------------------------------------------------------------------

def text(raw: Any) -> str:
    if isinstance(raw, (dict, list)):
        raise Invalid("on attend un texte simple", "écrivez le texte sur la même ligne")
    return str(raw).strip()


# Unicode's categories Cc (C0 and C1 controls), Zl and Zp, whose members never change.
_INVISIBLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def invisible_character(value: str) -> str | None:
    """The first control or line/paragraph separator character in `value` (Unicode
    categories Cc, Zl, Zp, tab excepted), as « U+000B », or None. Such characters split or
    hide parts of mail headers and calendar lines."""
    found = _INVISIBLE.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def line(raw: Any) -> str:
    """One-line text: titles, names (they go into mail headers and calendar fields)."""
    value = text(raw)
    if "\n" in value or "\r" in value:
        raise Invalid("ce champ doit tenir sur une seule ligne",
                      "supprimez les retours à la ligne")
    hidden = invisible_character(value)
    if hidden:
        shown = "".join(c if c.isprintable() else "\ufffd" for c in value)
        raise Invalid(f"caractère invisible {hidden} dans «\u00a0{shown}\u00a0»",
                      "retapez ce texte au clavier (un copier-coller l’a sans doute "
                      "apporté)")
    return value


def integer(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        try:
            return int(str(raw).strip())
        except ValueError:
            raise Invalid(f"« {raw} » n’est pas un nombre entier",
                          "écrivez un nombre, par exemple 2") from None
    return raw


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("oui", "yes", "vrai"):
        return True
    if value in ("non", "no", "faux"):
        return False
    raise Invalid(f"« {raw} » n’est ni vrai ni faux", "écrivez true ou false")


# The forms coordinators write, read the same way everywhere (news, events, directory,
# command options); docs/redaction.md lists them. Only what is really ambiguous is refused.
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATE_FR = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_DATE_SHORT_YEAR = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2}$")
_DATE_NO_YEAR = re.compile(r"^\d{1,2}[/.-]\d{1,2}$")
_TIME = re.compile(r"^(\d{1,2})\s*(?:[:hH.]\s*(\d{2})?(?::(\d{2}))?|[hH])$")
_WHEN = re.compile(r"^(?P<date>\S+?)(?:\s+à\s+|\s*T\s*|\s+)(?P<time>\d.*)$")
DATE_FORMS = "AAAA-MM-JJ (2027-03-18) ou JJ/MM/AAAA (18/03/2027)"
TIME_FORMS = "14:30, 14h30, 14 h 30 ou 14h"


def day(raw: Any) -> date:
    """A date written 2027-03-18 or 18/03/2027 (also 18.03.2027). Refused: a two-digit year
    or no year (ambiguous), with the accepted forms in the message."""
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    value = str(raw).strip()
    m = _DATE.match(value)
    parts = (m.group(1), m.group(2), m.group(3)) if m else None
    if not m and (m := _DATE_FR.match(value)):
        parts = (m.group(3), m.group(2), m.group(1))
    if not parts:
        if _DATE_SHORT_YEAR.match(value) or _DATE_NO_YEAR.match(value):
            raise Invalid(f"« {value} »\u00a0: l’année manque ou n’a que deux chiffres",
                          f"écrivez l’année en entier\u00a0: {DATE_FORMS}")
        raise Invalid(f"« {value} » n’est pas une date",
                      f"écrivez la date sous la forme {DATE_FORMS}")
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise Invalid(f"la date « {value} » n’existe pas",
                      f"vérifiez le jour et le mois ({DATE_FORMS})") from None


def clock(raw: Any) -> time:
    """A time of day: 14:30, 14h30, 14 h 30, 14h, 14.30 (24-hour clock)."""
    value = str(raw).strip()
    m = _TIME.match(value)
    if not m:
        raise Invalid(f"« {value} » n’est pas une heure",
                      f"écrivez l’heure sur 24 heures\u00a0: {TIME_FORMS}")
    hour, minute, second = (int(g) if g else 0 for g in m.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise Invalid(f"l’heure « {value} » n’existe pas",
                      f"écrivez une heure entre 00:00 et 23:59 ({TIME_FORMS})")
    return time(hour, minute, second)


def naive_datetime(raw: Any) -> datetime:
    """A date and a time, as day() and clock() read them: « 2027-03-18 14:00 », « 18/03/2027
    14h30 », « 18/03/2027 à 14 h »."""
    value = " ".join(str(raw).split())
    m = _WHEN.match(value)
    if not m:
        raise Invalid(f"« {value} » n’est pas une date et une heure",
                      "écrivez la date puis l’heure, AAAA-MM-JJ HH:MM (2027-03-18 14:00) ou "
                      "JJ/MM/AAAA 14h30")
    try:
        on = day(m.group("date"))
        at = clock(m.group("time"))
    except Invalid as exc:
        raise Invalid(f"« {value} »\u00a0: {exc.message}", exc.hint) from None
    return datetime.combine(on, at)


def _fold(value: str) -> str:
    """Lower case, no accents, single spaces: how coordinators' words are compared."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().replace("’", "'").split())


def synonyms(table: dict[str, tuple[str, ...]], label: str) -> Parser:
    """A value given by its key or by one of its French names, in any case, with or without
    accents: {"cancelled": ("annulé", "annulée")} reads « Annulé » as "cancelled"."""
    index = {_fold(k): k for k in table}
    for key, names in table.items():
        index.update({_fold(n): key for n in names})

    def parse(raw: Any) -> str:
        value = text(raw)
        found = index.get(_fold(value))
        if found is not None:
            return found
        shown = sorted({n for names in table.values() for n in names[:1]} | set(table))
        guess = closest(_fold(value), index)
        hint = f"vouliez-vous écrire « {index[guess]} »\u00a0? " if guess else ""
        raise Invalid(f"« {value} » n’est pas {label}",
                      hint + "valeurs possibles\u00a0: " + ", ".join(shown))
    return parse


SECTION_NAMES = {
    "news": ("Actualités", "actualité", "actus", "nouvelles"),
    "progress": ("Avancée des travaux", "avancée", "avancement", "avancement des travaux",
                 "travaux"),
    "resources": ("Ressources", "ressources bibliographiques", "ressource", "bibliographie"),
}
STATUS_NAMES = {
    "confirmed": ("confirmé", "confirmée", "maintenu", "maintenue", "prévu", "prévue"),
    "cancelled": ("annulé", "annulée", "annule", "canceled", "annulation"),
}
section = synonyms(SECTION_NAMES, "une rubrique")
status = synonyms(STATUS_NAMES, "un statut")


def date_or_datetime(raw: Any) -> date | datetime:
    """A plain date (all-day) or a naive local date-time."""
    value = str(raw).strip()
    if _DATE.match(value) or _DATE_FR.match(value):
        return day(value)
    return naive_datetime(value)


def end_value(raw: Any) -> date | datetime | time:
    """An event's `end`: as date_or_datetime(), or a time alone (16:30, 16h30), which means
    the day of `start`."""
    value = str(raw).strip()
    if _TIME.match(value):
        return clock(value)
    try:
        return date_or_datetime(value)
    except Invalid as exc:
        raise Invalid(exc.message, f"{exc.hint}\u00a0; ou l’heure seule ({TIME_FORMS}) si la "
                      "réunion finit le jour où elle commence") from None


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in the territory's zone, refusing the hour skipped in spring.

    In the repeated autumn hour the first occurrence is meant (RFC 5545, 3.3.5): fold=0.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise Invalid(
            f"{naive:%H:%M} n’existe pas le {naive:%d/%m/%Y} à l’heure locale "
            "(passage à l’heure d’été, les horloges sautent de 2 h à 3 h)",
            "choisissez une heure avant 2 h ou à partir de 3 h",
        )
    return aware


# Characters that end or split a URL where it is quoted: List-Unsubscribe (<url>, <url>,
# RFC 2369 §2), HTML attributes, plain text.
_URL_BREAKERS = re.compile(r"[\s<>\",]")


def url(raw: Any) -> str:
    value = line(raw)
    parts = split_url(value)
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
        raise Invalid(f"« {value} » n’est pas une adresse web complète",
                      "écrivez l’adresse entière, commençant par https://")
    breaker = _URL_BREAKERS.search(value)
    if breaker:
        char = breaker.group()
        shown = "une espace" if char.isspace() else f"«\u00a0{char}\u00a0»"
        raise Invalid(f"l’adresse «\u00a0{value}\u00a0» contient {shown}, qui la couperait "
                      "en deux dans les messages",
                      "écrivez une seule adresse, sans espace ni virgule ni chevron "
                      "(une espace s’écrit %20)")
    try:
        return to_uri(value)  # RFC 3987 3.1: IDNA host, percent-encoded UTF-8
    except InvalidIRI:
        raise Invalid(f"le nom de domaine de «\u00a0{value}\u00a0» n’est pas valide",
                      "vérifiez l’orthographe du site (partie entre https:// et la "
                      "première barre /)") from None


def https_url(raw: Any) -> str:
    """A URL that must be https (RFC 8058 one-click unsubscribe: clients POST only there, and
    the token must not travel in clear)."""
    value = url(raw)
    if urlsplit(value).scheme != "https":
        raise Invalid(f"«\u00a0{value}\u00a0» n’est pas une adresse https",
                      "écrivez l’adresse en https://…\u00a0: le désabonnement en un clic "
                      "(RFC 8058) n’est proposé par les messageries que sur https, et le "
                      "jeton de désinscription ne doit pas circuler en clair")
    return value


_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")


def email(raw: Any) -> str:
    value = line(raw)
    if not _EMAIL.match(value):
        raise Invalid(f"« {value} » n’est pas une adresse électronique valide",
                      "écrivez une adresse comme prenom.nom@exemple.fr")
    local, _, domain = value.rpartition("@")
    if not local.isascii():
        raise Invalid(f"« {value} » : la partie avant « @ » contient des lettres "
                      "accentuées, que la plupart des serveurs de messagerie refusent",
                      "écrivez-la sans accents, comme prenom.nom@exemple.fr")
    if not domain.isascii():
        # Written in its ASCII form (IDNA 2008, UTS 46), as messages and the DNS carry it.
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise Invalid(f"« {value} » n’est pas une adresse électronique valide : "
                          "nom de domaine incorrect",
                          "écrivez une adresse comme prenom.nom@exemple.fr") from None
    return f"{local}@{domain}"


_DURATION = re.compile(
    r"^(\d+)\s*(minutes?|min|heures?|hours?|h|jours?|days?|j|semaines?|weeks?)$", re.I)


def duration(raw: Any) -> timedelta | None:
    """`1 day`, `2 heures`, `30 minutes`, or `none`/`aucun` for no reminder."""
    value = str(raw).strip().lower()
    if value in ("none", "aucun", "aucune", "non", "false"):
        return None
    m = _DURATION.match(value)
    if not m:
        raise Invalid(f"« {raw} » n’est pas une durée",
                      "écrivez par exemple « 1 day », « 2 heures », « 30 minutes » ou « none »")
    n, unit = int(m.group(1)), m.group(2)
    if unit.startswith(("min",)):
        return timedelta(minutes=n)
    if unit.startswith(("h",)):
        return timedelta(hours=n)
    if unit.startswith(("sem", "w")):
        return timedelta(weeks=n)
    return timedelta(days=n)


def one_of(*choices: str, label: str = "") -> Parser:
    def parse(raw: Any) -> str:
        value = str(raw).strip()
        for c in choices:
            if value.lower() == c.lower():
                return c
        guess = closest(value, choices)
        hint = f"vouliez-vous écrire « {guess} »\u00a0?" if guess else ""
        raise Invalid(f"« {value} » n’est pas {label or 'une valeur possible'}",
                      (hint + " " if hint else "") + "valeurs possibles\u00a0: "
                      + ", ".join(choices))
    return parse


def list_of(parse: Parser) -> Parser:
    """A YAML list, or a single value, or a comma-separated line."""
    def parse_list(raw: Any) -> tuple:
        if isinstance(raw, list):
            items = raw
        elif isinstance(raw, str) and "," in raw:
            items = [x for x in (s.strip() for s in raw.split(",")) if x]
        else:
            items = [raw]
        return tuple(parse(x) for x in items)
    return parse_list


def mapping(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise Invalid("on attend une liste de champs indentés sous ce nom",
                      "écrivez les sous-champs à la ligne, décalés de deux espaces")
    return raw
