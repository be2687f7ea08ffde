"""comms.yaml: the territory's identity, read into `Site`."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from comms.content.fields import (
    Field,
    Invalid,
    boolean,
    email,
    https_url,
    line,
    list_of,
    mapping,
    read_fields,
    text,
    url,
)
from comms.content.source import Document, read_yaml
from comms.errors import Problems
from comms.images import ImageProblem, inspect_image
from comms.model import Address, Coordinator, Site

CONFIG_FILE = "comms.yaml"
DEFAULT_ISSUE_DATES = ((2, 15), (6, 15), (10, 15))


def zone(raw: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(raw).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"fuseau horaire « {raw} » inconnu",
                      "écrivez un nom IANA, par exemple Europe/Paris") from None


def colour(raw: object) -> str:
    value = str(raw).strip()
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise Invalid(f"« {value} » n’est pas une couleur", "écrivez-la comme \"#1f5f7a\"")
    return value.lower()


def month_day(raw: object) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", str(raw).strip())
    if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 28):
        raise Invalid(f"« {raw} » n’est pas un jour de l’année",
                      "écrivez MM-JJ entre guillemets, par exemple \"02-15\" (jour 28 au plus)")
    return int(m.group(1)), int(m.group(2))


_OF = re.compile(r"^(?:de la |de l['’]\s*|de |d['’]\s*|du |des )(?P<name>\S.*)$", re.I)


def of_territory(raw: object) -> str:
    """« du Haut-Bugey », « d’Oyonnax », « de Lyon »: typographic apostrophe, no space."""
    value = line(raw)
    m = _OF.match(value)
    if not m:
        raise Invalid(f"« {value} » ne commence pas par « de », « d’ », « du » ou « des »",
                      "écrivez comment on dit « la lettre de… » : par exemple « du Haut-Bugey », "
                      "« d’Oyonnax » ou « de Lyon »")
    head = value[: m.start("name")].rstrip().replace("'", "’")
    return head + ("" if head.endswith("’") else " ") + m.group("name")


TOP = {
    "territory": Field(line, required=True),
    "territory_of": Field(of_territory, default=""),
    "newsletter_title": Field(line, required=True),
    "sender": Field(mapping, required=True),
    "reply_to": Field(email),
    "coordinators": Field(list_of(mapping), required=True, default=()),
    "brand": Field(mapping, default={}),
    "web_base_url": Field(url, required=True, default="https://example.org/"),
    "survey_url": Field(url, default=""),
    "timezone": Field(zone, default=ZoneInfo("Europe/Paris")),
    "unsubscribe": Field(mapping, required=True, default={}),
    "issue_dates": Field(list_of(month_day), default=DEFAULT_ISSUE_DATES),
    "partners": Field(text, default="content/partners.csv"),
    "lists": Field(list_of(line), default=()),
}
SENDER = {"name": Field(line, required=True, default=""),
          "email": Field(email, required=True, default="")}
COORDINATOR = {"name": Field(line, required=True, default=""),
               "role": Field(line, default=""),
               "email": Field(email, required=True, default=""),
               "phone": Field(line, default="")}
BRAND = {"color": Field(colour, default="#1f5f7a"), "logo": Field(text, default="")}
UNSUBSCRIBE = {"mailto": Field(email, required=True, default=""),
               "url": Field(https_url, required=True, default=""),
               "one_click": Field(boolean, default=False)}


def _child(doc: Document, key: str) -> Document:
    return doc.children.get(key) or Document(doc.path, {}, {}, doc.line_of(key))


def read_site(root: Path, sink: list) -> tuple[Site | None, tuple[str, ...]]:
    """The Site, or None when comms.yaml is missing or unreadable; also the declared lists."""
    path = root / CONFIG_FILE
    report = Problems(path, sink)
    if not path.is_file():
        report.error(None, None, f"fichier {CONFIG_FILE} introuvable dans {root}",
                     "placez-vous dans le dossier du territoire ou indiquez-le avec --root ; "
                     "pour créer un nouveau territoire : comms init DOSSIER")
        return None, ()
    doc = read_yaml(path, report)
    if doc is None:
        return None, ()
    top = read_fields(doc, TOP, report)
    sender = read_fields(_child(doc, "sender"), SENDER, report, "sender.") if top["sender"] else {}
    coordinators = []
    for i, _ in enumerate(top["coordinators"]):
        child = doc.children.get(f"coordinators[{i}]")
        if child is not None:
            c = read_fields(child, COORDINATOR, report, f"coordinators[{i + 1}].")
            coordinators.append(Coordinator(c["name"], c["role"], c["email"], c["phone"]))
    if not coordinators and top["coordinators"] is not None:
        report.error(doc.line_of("coordinators"), "coordinators",
                     "au moins une coordinatrice ou un coordinateur est attendu",
                     "ajoutez une entrée avec name, role, email et phone")
    brand = read_fields(_child(doc, "brand"), BRAND, report, "brand.")
    unsub = read_fields(_child(doc, "unsubscribe"), UNSUBSCRIBE, report, "unsubscribe.")
    logo = None
    if brand["logo"]:
        logo = (root / brand["logo"]).resolve()
        if not logo.is_relative_to(root.resolve()):
            report.error(_child(doc, "brand").line_of("logo"), "brand.logo",
                         f"l’image « {brand['logo']} » est hors du dossier du territoire",
                         "copiez le logo dans content/images/ et indiquez ce chemin (un lien "
                         "symbolique vers l’extérieur n’est pas suivi)")
            logo = None
        elif not logo.is_file():
            report.error(_child(doc, "brand").line_of("logo"), "brand.logo",
                         f"l’image « {brand['logo']} » est introuvable",
                         "indiquez un chemin relatif au dossier du territoire, "
                         "par exemple content/images/logo.png")
            logo = None
        else:
            try:
                inspect_image(logo)
            except ImageProblem as exc:
                report.error(_child(doc, "brand").line_of("logo"), "brand.logo", exc.message,
                             exc.hint)
                logo = None
    base = top["web_base_url"]
    base = base if base.endswith("/") else base + "/"
    sender_email = sender.get("email") or ""
    domain = sender_email.rpartition("@")[2] or "localhost"
    site = Site(
        root=root,
        territory=top["territory"] or "",
        newsletter_title=top["newsletter_title"] or "",
        sender=Address(sender.get("name") or "", sender_email),
        reply_to=top["reply_to"] or sender_email,
        coordinators=tuple(coordinators),
        brand_color=brand["color"],
        logo=logo,
        web_base_url=base,
        survey_url=top["survey_url"] or "",
        timezone=top["timezone"],
        unsubscribe_mailto=unsub["mailto"] or "",
        unsubscribe_url=unsub["url"] or "",
        issue_dates=tuple(top["issue_dates"]),
        partners_path=(root / top["partners"]),
        domain=domain,
        lists=tuple(top["lists"] or ()),
        unsubscribe_one_click=bool(unsub["one_click"]),
        territory_of=top["territory_of"] or "",
    )
    return site, site.lists
