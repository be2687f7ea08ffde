"""calendars/instances.yaml and calendars/events/*.md."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from comms.calendar.feeds import RESERVED as RESERVED_IDS
from comms.calendar.recurrence import parse_repeat
from comms.content.fields import (
    Field,
    Invalid,
    date_or_datetime,
    day,
    duration,
    email,
    end_value,
    integer,
    line,
    list_of,
    localize,
    mapping,
    one_of,
    read_fields,
    status,
    url,
)
from comms.content.source import Document, read_markdown, read_yaml
from comms.errors import Problems, closest
from comms.model import COMMON, DISPOSITIFS, SEQUENCE_STEPS, Event, Instance, Site

INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def list_name(raw: Any) -> str:
    value = line(raw).lower()
    if not LIST_NAME.match(value):
        raise Invalid(f"« {raw} » n’est pas un nom de liste",
                      "lettres minuscules sans accent, chiffres et tirets, par exemple gt-logement")
    return value


INSTANCE_FIELDS = {
    "name": Field(line, required=True, default=""),
    "dispositif": Field(list_of(one_of(*DISPOSITIFS, COMMON, label="un dispositif")),
                        default=(COMMON,)),
    "audience": Field(list_of(list_name), required=True, default=()),
    "organizer": Field(email, required=True, default=""),
    "reminder": Field(duration, default=timedelta(days=1)),
    "sequence": Field(mapping, default={}),
    "thanks_to": Field(one_of("accepted", "all", label="un choix"), default="accepted"),
}

EVENT_FIELDS = {
    "instance": Field(line, required=True, default=""),
    "title": Field(line, default=""),
    "date": Field(day),
    "start": Field(date_or_datetime),
    "end": Field(end_value),
    "location": Field(line, default=""),
    "online_url": Field(url, default=""),
    "registration_url": Field(url, default=""),
    "evaluation_url": Field(url, default=""),
    "status": Field(status, default="confirmed"),
    "attendees": Field(list_of(email), default=()),
    "audience": Field(list_of(list_name)),
    "repeat": Field(mapping),
}


def read_instances(path: Path, site: Site | None, sink: list) -> dict[str, Instance]:
    report = Problems(path, sink)
    if not path.is_file():
        report.error(None, None, "fichier des instances introuvable",
                     "créez calendars/instances.yaml (voir docs/redaction.md)")
        return {}
    doc = read_yaml(path, report)
    if doc is None:
        return {}
    instances: dict[str, Instance] = {}
    for key in doc.data:
        key = str(key)
        at = doc.line_of(key)
        if not INSTANCE_ID.match(key):
            report.error(at, key, "identifiant d’instance invalide",
                         "lettres minuscules sans accent, chiffres et tirets, par exemple copil")
            continue
        if key in RESERVED_IDS:
            report.error(at, key, f"« {key} » est réservé au nom d’un agenda publié",
                         f"choisissez un autre identifiant, par exemple {key}-instance")
            continue
        child = doc.children.get(key)
        if child is None:
            report.error(at, key, "on attend les champs de l’instance (name, audience, organizer…)",
                         "écrivez-les à la ligne, décalés de deux espaces")
            continue
        instances[key] = _instance(key, child, site, report)
    return instances


def _instance(key: str, doc: Document, site: Site | None, report: Problems) -> Instance:
    f = read_fields(doc, INSTANCE_FIELDS, report, f"{key}.")
    if f["organizer"] and site is not None and site.coordinator(f["organizer"]) is None:
        report.error(doc.line_of("organizer"), f"{key}.organizer",
                     f"« {f['organizer']} » n’est pas une coordinatrice ou un coordinateur "
                     "déclaré dans comms.yaml",
                     "indiquez l’adresse d’une personne de la liste coordinators de comms.yaml")
    sequence = {}
    seq_doc = doc.children.get("sequence")
    for step, raw in (f["sequence"] or {}).items():
        at = seq_doc.line_of(str(step)) if seq_doc else doc.line_of("sequence")
        if step not in SEQUENCE_STEPS:
            guess = closest(str(step), SEQUENCE_STEPS)
            report.error(at, f"{key}.sequence.{step}", "étape inconnue",
                         f"vouliez-vous écrire « {guess} »\u00a0?" if guess else
                         "étapes possibles\u00a0: " + ", ".join(SEQUENCE_STEPS))
            continue
        try:
            sequence[step] = SEQUENCE_STEPS[step] if raw is None else integer(raw)
        except Invalid as exc:
            report.error(at, f"{key}.sequence.{step}", exc.message,
                         "écrivez un nombre de jours par rapport au jour J, "
                         "négatif avant (-30) et positif après (1)")
    # Returned even when invalid, so that its events don't also report it as unknown.
    return Instance(key, f["name"], tuple(f["dispositif"]), tuple(f["audience"]), f["organizer"],
                    f["reminder"], sequence, doc.path, f["thanks_to"])


def read_event(path: Path, site: Site, instances: dict[str, Instance],
               sink: list, instances_read: bool = True) -> Event | None:
    """An event, or None after reporting its problems. With `instances_read` False (the
    instances file could not be read, an error already reported), its instance is not
    checked and no event is returned."""
    report = Problems(path, sink)
    doc = read_markdown(path, report)
    if doc is None:
        return None
    before = len(sink)
    f = read_fields(doc, EVENT_FIELDS, report)
    instance = instances.get(f["instance"]) if f["instance"] else None
    if f["instance"] and instance is None and instances_read:
        guess = closest(f["instance"], instances)
        report.error(doc.line_of("instance"), "instance", f"instance « {f['instance']} » inconnue",
                     f"vouliez-vous écrire « {guess} »\u00a0?" if guess else
                     "instances déclarées dans calendars/instances.yaml\u00a0: "
                     + ", ".join(instances))
    if not f["location"] and not f["online_url"]:
        report.error(doc.line, "location", "lieu manquant",
                     "ajoutez « location: » avec l’adresse complète, ou « online_url: » avec le "
                     "lien de visioconférence")
    when = _when(doc, f, site, report)
    repeat = None
    if f["repeat"] and when is not None:
        repeat_doc = doc.children.get("repeat")

        def repeat_problem(field: str, message: str, hint: str) -> None:
            sub = field.split(".", 1)[1] if "." in field else ""
            at = repeat_doc.line_of(sub) if repeat_doc and sub else doc.line_of("repeat")
            report.error(at, field, message, hint)

        repeat = parse_repeat(f["repeat"], when[0], repeat_problem)
    if any(p.is_error for p in sink[before:]) or when is None or instance is None:
        return None
    start, end, all_day = when
    return Event(
        id=path.stem,
        instance=f["instance"],
        title=f["title"] or (instance.name if instance else ""),
        start=start,
        end=end,
        all_day=all_day,
        location=f["location"],
        online_url=f["online_url"],
        registration_url=f["registration_url"],
        evaluation_url=f["evaluation_url"],
        status=f["status"],
        body_md=doc.body,
        repeat=repeat,
        attendees=tuple(f["attendees"]),
        audience=tuple(f["audience"]) if f["audience"] else None,
        source=path,
    )


def _when(doc: Document, f: dict, site: Site,
          report: Problems) -> tuple[date | datetime, date | datetime, bool] | None:
    """(start, end, all_day): local aware date-times, or dates with an inclusive last day."""
    if f["date"] is not None:
        if f["start"] is not None or f["end"] is not None:
            report.error(doc.line_of("date"), "date",
                         "« date » (journée entière) ne se combine pas avec « start » ou « end »",
                         "gardez « date » pour une journée entière, ou « start » et « end » "
                         "pour un horaire")
            return None
        return f["date"], f["date"], True
    start, end = f["start"], f["end"]
    if start is None:
        if "start" not in doc.data and "date" not in doc.data:
            report.error(doc.line, "start", "date de l’évènement manquante",
                         "ajoutez « start: AAAA-MM-JJ HH:MM » et « end: … », ou « date: "
                         "AAAA-MM-JJ » pour une journée entière")
        return None
    timed = isinstance(start, datetime)
    if isinstance(end, time):  # a time alone: the day of the start
        if not timed:
            report.error(doc.line_of("end"), "end",
                         "une heure seule en « end » suppose une heure de début en « start »",
                         "écrivez par exemple start: 2027-03-18 14:00 et end: 16:30")
            return None
        end = datetime.combine(start.date(), end)
    if end is None:
        if timed:
            if "end" not in doc.data:
                report.error(doc.line_of("start"), "end", "heure de fin manquante",
                             "ajoutez « end: AAAA-MM-JJ HH:MM »")
            return None
        end = start
    if timed != isinstance(end, datetime):
        report.error(doc.line_of("end"), "end",
                     "« start » et « end » doivent être tous deux des dates, ou tous deux des "
                     "dates avec heure",
                     "écrivez par exemple start: 2027-03-18 14:00 et end: 2027-03-18 16:30")
        return None
    if timed:
        try:
            start = localize(start, site.timezone)
        except Invalid as exc:
            report.error(doc.line_of("start"), "start", exc.message, exc.hint)
            return None
        try:
            end = localize(end, site.timezone)
        except Invalid as exc:
            report.error(doc.line_of("end"), "end", exc.message, exc.hint)
            return None
        if end <= start:
            report.error(doc.line_of("end"), "end", "la fin est avant le début",
                         "indiquez une heure de fin après l’heure de début")
            return None
        return start, end, False
    if end < start:
        report.error(doc.line_of("end"), "end", "le dernier jour est avant le premier",
                     "indiquez en « end » le dernier jour, inclus, après « start »")
        return None
    return start, end, True
