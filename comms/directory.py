"""The partners directory: a CSV file as French spreadsheets export it, or the Excel
workbook itself (`.xlsx`, one sheet with data, no merged cells).

`;` or `,` separated, UTF-8 with or without BOM, or Windows-1252; header names are matched
without regard to case, accents or spacing, in English or in French. Every problem is
reported with its line before anything is sent. The directory holds personal data: its path
may point outside the content root (comms.yaml `partners:` or COMMS_PARTNERS in .env).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

from comms.content.fields import Invalid, day
from comms.errors import ConfigError, ContentError, Problem, Problems, closest
from comms.french import count
from comms.model import Project

NEWSLETTER = "newsletter"

# Column -> accepted header spellings, as the guide lists them; compared after `_fold`
# (lower case, no accents, no inclusive-writing suffix such as « (e) », punctuation as
# spaces). A header is mapped only when it is one of these: a look-alike (« Date
# d’inscription ») is never taken for a known column.
COLUMNS = {
    "email": ("email", "e-mail", "mail", "courriel", "mél", "adresse", "adresse mail",
              "adresse e-mail", "adresse email", "adresse électronique",
              "adresse de courriel", "adresse de messagerie"),
    "first_name": ("first_name", "first name", "prénom"),
    "last_name": ("last_name", "last name", "nom", "nom de famille"),
    "organisation": ("organisation", "organization", "structure", "organisme",
                     "établissement", "employeur", "institution"),
    "role": ("role", "rôle", "fonction", "poste", "qualité"),
    "lists": ("lists", "listes", "liste", "listes de diffusion", "abonnements"),
    "consent_on": ("consent_on", "consent on", "consentement", "consentement le",
                   "date de consentement", "date du consentement", "consenti le"),
    "unsubscribed_on": ("unsubscribed_on", "unsubscribed on", "désinscription",
                        "désinscrit", "désinscrit le", "désinscrit(e) le",
                        "désinscrit·e le", "désinscrite le", "date de désinscription",
                        "date désinscription", "désabonnement", "désabonné le",
                        "désabonné(e) le", "date de désabonnement"),
}
# Without its unsubscribe column, a directory would mail people who asked to hear nothing
# more: every send is refused until the column is recognised.
REQUIRED = ("email", "lists", "unsubscribed_on")
LIST_SEPARATORS = re.compile(r"[,|]")
# Control characters (C0, DEL, C1 with NEL) and the Unicode line and paragraph separators.
CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]")
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2})?$")
_LIST_SETS: dict[frozenset[str], frozenset[str]] = {}


@dataclass(frozen=True, slots=True)  # slots: thousands of them stay in memory while sending
class Partner:
    email: str
    first_name: str
    last_name: str
    organisation: str
    role: str
    lists: frozenset[str]
    consent_on: date | None
    unsubscribed_on: date | None
    line: int = 0

    @property
    def key(self) -> str:
        """The address as the journal and the suppression list know it."""
        return self.email.lower()

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class Directory:
    path: Path
    partners: tuple[Partner, ...]
    warnings: tuple[Problem, ...] = ()

    def members(self, list_name: str) -> list[Partner]:
        """Everyone on a list, in file order (unsubscribed people included: the sender
        decides, and reports, who is skipped)."""
        return [p for p in self.partners if list_name in p.lists]

    def find(self, email: str) -> Partner | None:
        key = email.strip().lower()
        return next((p for p in self.partners if p.key == key), None)

    def list_names(self) -> set[str]:
        return {name for p in self.partners for name in p.lists}


def known_lists(project: Project, declared: Iterable[str] = ()) -> set[str]:
    """List names a directory may use: the newsletter, every instance's and event's
    audience, and the lists declared in comms.yaml (`lists:`)."""
    names = {NEWSLETTER, *declared}
    for instance in project.instances.values():
        names.update(instance.audience)
    for event in project.events:
        names.update(event.audience or ())
    return names


# email-validator explains in English; the coordinator reads French.
_EMAIL_REASONS = (
    ("must have an @-sign", "il manque le signe @"),
    ("something before the @-sign", "rien avant le @"),
    ("something after the @-sign", "rien après le @"),
    ("should have a period", "le nom de domaine après le @ doit contenir un point"),
    ("Internationalized characters before", "lettres accentuées avant le @, non acceptées"),
    ("SPACE", "espace dans l’adresse"),
    ("invalid characters", "caractère non autorisé"),
    ("two periods in a row", "deux points de suite"),
    ("start with a period", "point au début"),
    ("end with a period", "point à la fin"),
    ("hyphen", "tiret mal placé dans le nom de domaine"),
    ("too long", "adresse trop longue"),
)


def email_problem(exc: Exception) -> str:
    """A short French reason for an address refused by email-validator."""
    text = str(exc)
    return next((french for english, french in _EMAIL_REASONS if english in text),
                "syntaxe incorrecte")


def check_email(value: str) -> str:
    """The address as it will be written (domain in lower case, IDNA), or ValueError with a
    French reason. Syntax only: no DNS lookup."""
    # Imported here: email-validator compiles its grammar on import, which a build that only
    # reads this module's names should not pay.
    from email_validator import EmailNotValidError, validate_email

    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(email_problem(exc)) from None
    return info.ascii_email or info.normalized


_INCLUSIVE = re.compile(r"(?:\((?:e|es|s)\)|[·.](?:e|es)\b)")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lstrip("\ufeff"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = _INCLUSIVE.sub("", plain)
    return re.sub(r"[\s_\-.'’()·:]+", " ", plain).strip()


_HEADER_INDEX = {_fold(alias): column for column, aliases in COLUMNS.items()
                 for alias in aliases}


def _decode(raw: bytes, report: Problems) -> str | None:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (b"\x00" in raw[:200] and
                                                      raw[1:200:2].count(b"\x00") > 20):
        report.error(1, None, "fichier enregistré en « Texte Unicode » (UTF-16), illisible ici",
                     "dans votre tableur, enregistrez l’annuaire au format « CSV UTF-8 "
                     "(délimité par des virgules) »")
        return None
    if b"\x00" in raw or raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        report.error(None, None, "ce fichier n’est pas un texte CSV (classeur Excel ou autre "
                     "fichier binaire renommé en .csv\u00a0?)",
                     "ouvrez-le dans votre tableur et enregistrez-le au format « CSV UTF-8 "
                     "(délimité par des virgules) »")
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        report.error(line, None, "encodage du fichier non reconnu",
                     "enregistrez l’annuaire au format « CSV UTF-8 » depuis votre tableur")
        return None


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ";"


def _date(raw: str) -> date:
    return day(_TIME_SUFFIX.sub("", raw.strip()))


class _Row:
    """One CSV record being read: values by column, with its first line for problems."""

    def __init__(self, values: dict[str, str], line: int, report: Problems):
        self.values = values
        self.line = line
        self.report = report

    def error(self, column: str, message: str, hint: str = "") -> None:
        self.report.error(self.line, column, message, hint)

    def text(self, column: str) -> str:
        value = self.values.get(column, "").strip()
        if CONTROL.search(value):
            self.error(column, "retour à la ligne ou caractère de contrôle dans la cellule",
                       "écrivez la valeur sur une seule ligne, sans retour à la ligne")
            return CONTROL.sub(" ", value)
        return value

    def email(self) -> str | None:
        value = self.text("email")
        if not value:
            self.error("email", "adresse électronique manquante",
                       "écrivez l’adresse, par exemple prenom.nom@exemple.fr, ou supprimez "
                       "la ligne")
            return None
        if CONTROL.search(self.values.get("email", "")):
            return None
        try:
            return check_email(value)
        except ValueError as exc:
            self.error("email", f"« {value} » n’est pas une adresse électronique valide "
                       f"({exc})", "écrivez une adresse comme prenom.nom@exemple.fr")
            return None

    def day(self, column: str) -> date | None:
        value = self.text(column)
        if not value:
            return None
        try:
            return _date(value)
        except Invalid as exc:
            self.error(column, exc.message, exc.hint)
            return None

    def lists(self, known: set[str] | None) -> frozenset[str]:
        names = []
        for raw in LIST_SEPARATORS.split(self.text("lists")):
            name = raw.strip().lower()
            if not name:
                continue
            if known is not None and name not in known:
                guess = closest(name, known)
                self.error("lists", f"liste « {name} » inconnue",
                           (f"vouliez-vous écrire « {guess} »\u00a0? " if guess else "")
                           + "listes connues\u00a0: " + ", ".join(sorted(known)))
                continue
            names.append(name)
        # Thousands of partners share a few combinations of lists: one set for each.
        found = frozenset(names)
        return _LIST_SETS.setdefault(found, found)


def _columns(header: list[str], report: Problems) -> dict[int, str] | None:
    found: dict[int, str] = {}
    unknown: list[str] = []
    for index, cell in enumerate(header):
        name = _fold(cell)
        if not name:
            continue
        column = _HEADER_INDEX.get(name)
        if column is None:
            unknown.append(cell.strip())
            guess = closest(name, _HEADER_INDEX)
            report.warning(1, cell.strip(), "colonne inconnue, ignorée",
                           (f"si c’est la colonne « {_HEADER_INDEX[guess]} », nommez-la "
                            f"comme l’une de ses orthographes reconnues : "
                            f"{spellings(_HEADER_INDEX[guess])}") if guess
                           else "colonnes possibles : " + ", ".join(COLUMNS))
        elif column in found.values():
            report.error(1, cell.strip(), "colonne en double",
                         "gardez une seule colonne de ce nom")
        else:
            found[index] = column
    missing = [c for c in REQUIRED if c not in found.values()]
    for column in missing:
        others = (f"colonnes non reconnues : {', '.join(f'« {u} »' for u in unknown)}"
                  f" ; " if unknown else "")
        what = ("aucune colonne de date de désinscription reconnue : les personnes "
                "désinscrites recevraient les envois, donc aucun envoi n’est possible"
                if column == "unsubscribed_on" else "colonne obligatoire absente")
        report.error(1, column, what,
                     f"{others}titrez la colonne avec l’une de ces orthographes : "
                     f"{spellings(column)}")
    return None if missing else found


def spellings(column: str) -> str:
    """The accepted header spellings of a column, for a message."""
    return ", ".join(f"« {alias} »" for alias in COLUMNS[column])


EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def load_directory(path: Path, known_lists: set[str] | None = None) -> Directory:
    """Read and check the whole directory, a CSV file or an Excel workbook (`.xlsx`, one
    sheet, row numbers as Excel shows them); ContentError lists every problem with its
    line."""
    sink: list[Problem] = []
    report = Problems(path, sink)
    if not path.is_file():
        report.error(None, None, "annuaire des partenaires introuvable",
                     "créez le fichier, ou indiquez son chemin dans comms.yaml (partners:) "
                     "ou dans .env (COMMS_PARTNERS=…)")
        raise ContentError(sink, "Annuaire des partenaires introuvable.")
    partners: list[Partner] = []
    if path.suffix.lower() in EXCEL_SUFFIXES:
        records = _excel_records(path, report)
    else:
        text = _decode(path.read_bytes(), report)
        records = None if text is None else _csv_records(text, report)
    if records is not None:
        partners = _read_rows(records, report, known_lists)
    if any(p.is_error for p in sink):
        errors = sum(p.is_error for p in sink)
        raise ContentError(sink, f"{count(errors, 'erreur')} dans l’annuaire des partenaires "
                           f"{path}.")
    return Directory(path, tuple(partners), tuple(sink))


# A record: its first line in the file (or row in the sheet) and its cells as text.
Record = tuple[int, list[str]]


def _csv_records(text: str, report: Problems) -> Iterator[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            yield start, cells
    except csv.Error as exc:
        report.error(line, None, f"ligne illisible ({exc})",
                     "vérifiez les guillemets de cette ligne")


_SAVE_AS_XLSX = ("ouvrez-le dans Excel ou LibreOffice, retirez le mot de passe s’il y en a "
                 "un, puis enregistrez-le au format « Classeur Excel (.xlsx) » ou "
                 "« CSV UTF-8 »")


def _excel_records(path: Path, report: Problems) -> list[Record] | None:
    """The rows of the one sheet holding data, as text; None after reporting a workbook
    that cannot be read (encrypted, damaged, old .xls), several sheets with data, or merged
    cells (their value would be in one cell only)."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        report.error(None, None, "classeur protégé par un mot de passe, ou au format Excel "
                     "97-2003 (.xls)\u00a0: illisible ici", _SAVE_AS_XLSX)
        return None
    try:
        workbook = load_workbook(path, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError):
        report.error(None, None, "classeur illisible\u00a0: abîmé, ou d’un autre format "
                     "que .xlsx", _SAVE_AS_XLSX)
        return None
    try:
        filled = [sheet for sheet in workbook.worksheets
                  if any(_cell_text(v) for row in sheet.iter_rows(values_only=True)
                         for v in row)]
        if len(filled) > 1:
            names = ", ".join(f"« {sheet.title} »" for sheet in filled)
            report.error(None, None, f"plusieurs feuilles contiennent des données\u00a0: {names}",
                         "gardez l’annuaire sur une seule feuille\u00a0: supprimez les autres "
                         "feuilles, ou enregistrez-les dans un autre fichier")
            return None
        if not filled:
            return []
        (sheet,) = filled
        merged = sorted(sheet.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col))
        for cells in merged:
            where = ("dans la ligne des titres" if cells.min_row == 1 else "")
            report.error(cells.min_row, None, f"cellules fusionnées {cells.coord} "
                         f"{where}".rstrip(),
                         "défusionnez-les (Accueil › Fusionner et centrer) et donnez à "
                         "chaque colonne son titre, à chaque cellule sa valeur")
        if merged:
            return None
        rows = sheet.iter_rows(min_row=1, min_col=1, values_only=True)
        records = [(number, [_cell_text(v) for v in row])
                   for number, row in enumerate(rows, start=1)]
    finally:
        workbook.close()
    _report_uncomputed(path, sheet.title, records, report)
    return records


def _report_uncomputed(path: Path, title: str, records: list[Record],
                       report: Problems) -> None:
    """An error for each formula whose result the workbook does not hold (written by a
    script or an export, never opened in a spreadsheet): it would read as an empty cell,
    and an empty unsubscribe date mails a partner who left."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    formulas = load_workbook(path)  # the cells as written: formulas, not their results
    try:
        sheet = formulas[title]
        header = records[0][1] if records else []
        rows = sheet.iter_rows(min_row=1, min_col=1, values_only=True)
        for (number, cells), written in zip(records, rows, strict=False):
            for index, value in enumerate(written):
                if not (isinstance(value, str) and value.startswith("=")) or \
                        (index < len(cells) and cells[index]):
                    continue
                title_ = header[index] if index < len(header) else ""
                column = _HEADER_INDEX.get(_fold(title_), title_) or None
                report.error(number, column, f"cellule {get_column_letter(index + 1)}"
                             f"{number}\u00a0: formule sans résultat enregistré "
                             f"(«\u00a0{value}\u00a0»)\u00a0; comms lit les valeurs "
                             "calculées, absentes de ce classeur",
                             "ouvrez-le dans Excel ou LibreOffice et enregistrez-le (les "
                             "résultats des formules sont alors enregistrés), ou remplacez la "
                             "formule par sa valeur")
    finally:
        formulas.close()


def _cell_text(value: object) -> str:
    """A cell's value as the CSV export would write it: dates as YYYY-MM-DD (the time of day
    dropped when it is midnight), whole numbers without « .0 »."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value.date().isoformat() if value.time() == time() else
                value.isoformat(sep=" "))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_rows(records: Iterable[Record], report: Problems,
               known: set[str] | None) -> list[Partner]:
    rows = iter(records)
    _line, header = next(rows, (None, None))
    if header is None:
        report.error(None, None, "l’annuaire est vide",
                     "la première ligne doit nommer les colonnes (email, first_name, …)")
        return []
    columns = _columns(header, report)
    if columns is None:
        return []
    partners: list[Partner] = []
    seen: dict[str, int] = {}
    for start, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        extra = [c for i, c in enumerate(cells) if i not in columns and c.strip()
                 and i >= len(header)]
        if extra:
            report.error(start, None, "plus de cellules que de colonnes",
                         "vérifiez le séparateur, ou mettez entre guillemets les "
                         "valeurs qui contiennent « ; » ou « , »")
        row = _Row({columns[i]: c for i, c in enumerate(cells) if i in columns}, start,
                   report)
        partner = _partner(row, known)
        if partner is None:
            continue
        if partner.key in seen:
            row.error("email", f"adresse déjà présente ligne {seen[partner.key]}",
                      "gardez une seule ligne par adresse, avec toutes ses listes "
                      "séparées par « | »")
            continue
        seen[partner.key] = start
        partners.append(partner)
    return partners


def _partner(row: _Row, known: set[str] | None) -> Partner | None:
    email = row.email()
    partner = Partner(
        email=email or "",
        first_name=row.text("first_name"),
        last_name=row.text("last_name"),
        organisation=row.text("organisation"),
        role=row.text("role"),
        lists=row.lists(known),
        consent_on=row.day("consent_on"),
        unsubscribed_on=row.day("unsubscribed_on"),
        line=row.line,
    )
    return partner if email else None


def declared_lists(project: Project) -> tuple[str, ...]:
    """The `lists:` of comms.yaml."""
    return project.site.lists


def directory_path(project: Project, override: Path | None = None) -> Path:
    """COMMS_PARTNERS (.env) when set, else comms.yaml `partners:`."""
    return override or project.site.partners_path


def load_partners(project: Project, override: Path | None = None) -> Directory:
    """The project's directory, checked against every list name the project knows."""
    return load_directory(directory_path(project, override),
                          known_lists(project, declared_lists(project)))


def directory_for_check(project: Project) -> tuple[Directory | None, list[Problem]]:
    """The partners directory and its problems, for `comms check`; (None, []) when there is
    no directory yet (it is required only to send)."""
    from comms.settings import load_settings

    try:
        override = load_settings(project.site.root).partners
    except ConfigError:
        override = None  # `comms send` reports the .env problems
    path = directory_path(project, override)
    if not path.is_file():
        return None, []
    try:
        directory = load_partners(project, override)
    except ContentError as exc:
        return None, exc.problems
    return directory, list(directory.warnings)


def directory_problems(project: Project) -> list[Problem]:
    return directory_for_check(project)[1]
