"""content/issues/*.md and content/news/*.md."""

from __future__ import annotations

import re
from pathlib import Path

from comms.content.fields import (
    Field,
    Invalid,
    boolean,
    day,
    integer,
    line,
    list_of,
    one_of,
    read_fields,
    section,
    text,
    url,
)
from comms.content.source import read_markdown
from comms.errors import Problems
from comms.images import ImageProblem, inspect_image
from comms.model import COMMON, DISPOSITIFS, Issue, NewsItem

ISSUE_ID = re.compile(r"^\d{4}-\d{1,2}$")


def issue_id(raw: object) -> str:
    value = str(raw).strip()
    if not ISSUE_ID.match(value):
        raise Invalid(f"« {value} » n’est pas un numéro de lettre",
                      "écrivez l’année, un tiret et le rang dans l’année, par exemple 2027-2")
    return value


def positive(raw: object) -> int:
    value = integer(raw)
    if value < 1:
        raise Invalid(f"le numéro {value} doit être positif", "écrivez 1, 2, 3…")
    return value


ISSUE_FIELDS = {
    "number": Field(positive, required=True, default=0),
    "publish_on": Field(day, required=True),
    "title": Field(line, default=""),
    "period": Field(line, default=""),
    "editorial_by": Field(line, default=""),
}

NEWS_FIELDS = {
    "title": Field(line, required=True, default=""),
    "date": Field(day, required=True),
    "dispositif": Field(list_of(one_of(*DISPOSITIFS, COMMON, label="un dispositif")),
                        required=True, default=(COMMON,)),
    "section": Field(section, required=True, default="news"),
    "issue": Field(issue_id),
    "summary": Field(text, default=""),
    "image": Field(text, default=""),
    "image_alt": Field(line, default=""),
    "link": Field(url, default=""),
    "author": Field(line, default=""),
    "draft": Field(boolean, default=False),
}


def read_issue(path: Path, sink: list) -> Issue | None:
    report = Problems(path, sink)
    if not ISSUE_ID.match(path.stem):
        report.error(None, None, f"nom de fichier « {path.name} » inattendu",
                     "nommez le fichier d’après la lettre, par exemple 2027-1.md")
        return None
    doc = read_markdown(path, report)
    if doc is None:
        return None
    before = len(sink)
    f = read_fields(doc, ISSUE_FIELDS, report)
    if len(sink) > before and any(p.is_error for p in sink[before:]):
        return None
    return Issue(path.stem, f["number"], f["publish_on"], f["title"], f["period"],
                 f["editorial_by"], doc.body, path)


def read_news(path: Path, root: Path, sink: list) -> NewsItem | None:
    report = Problems(path, sink)
    doc = read_markdown(path, report)
    if doc is None:
        return None
    before = len(sink)
    f = read_fields(doc, NEWS_FIELDS, report)
    schemes = tuple(f["dispositif"])
    if COMMON in schemes and len(schemes) > 1:
        report.error(doc.line_of("dispositif"), "dispositif",
                     "« commun » ne se combine pas avec un autre dispositif",
                     "écrivez soit « commun », soit la liste des dispositifs concernés")
    image = None
    if f["image"]:
        image = (root / f["image"]).resolve()
        if not image.is_relative_to(root.resolve()):
            report.error(doc.line_of("image"), "image",
                         f"l’image « {f['image']} » est hors du dossier du territoire",
                         "copiez l’image dans content/images/ et indiquez ce chemin (un lien "
                         "symbolique vers l’extérieur n’est pas suivi)")
        elif not image.is_file():
            report.error(doc.line_of("image"), "image", f"l’image « {f['image']} » est introuvable",
                         "indiquez un chemin relatif au dossier du territoire, par exemple "
                         "content/images/photo.png")
        else:
            try:
                inspect_image(image)
            except ImageProblem as exc:
                report.error(doc.line_of("image"), "image", exc.message, exc.hint)
        if not f["image_alt"]:
            report.error(doc.line_of("image"), "image_alt",
                         "texte alternatif manquant pour l’image",
                         "ajoutez « image_alt: » avec une courte description de l’image, "
                         "lue à voix haute aux personnes qui ne la voient pas")
    if any(p.is_error for p in sink[before:]):
        return None
    return NewsItem(path.stem, f["title"], f["date"], schemes, f["section"], f["issue"],
                    f["summary"], image, f["image_alt"], f["link"], f["author"], f["draft"],
                    doc.body, path)
