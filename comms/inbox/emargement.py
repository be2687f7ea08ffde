"""The sign-in sheet (feuille d'émargement) of a meeting, that funded meetings must keep.

A printable HTML page (A4, one row per expected participant with an empty signature
column, and a few blank rows for people who come unannounced), from the territory's
`templates/emargement.html.j2` or the packaged one. Expected participants are those who hold
the invitation and did not decline it nor delegate it (a delegate has her own row): those who
accepted first, then « peut-être », then those who have not answered, each by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from comms.dates import format_day
from comms.directory import Directory
from comms.errors import CommsError
from comms.inbox.itip import ACCEPTED, DECLINED, DELEGATED, NEEDS_ACTION, TENTATIVE
from comms.inbox.rsvp import RsvpTable, rsvp_tables
from comms.model import Event, Project
from comms.send.journal import Journal

TEMPLATE = "emargement.html.j2"
BLANK_ROWS = 5
FOLDER = Path("build") / "emargement"
NOTES = {ACCEPTED: "", TENTATIVE: "a répondu «\u00a0peut-être\u00a0»",
         NEEDS_ACTION: "n’a pas répondu"}


@dataclass(frozen=True)
class SheetRow:
    name: str  # the person's name, or her address when the directory has none
    organisation: str
    note: str  # "" for those who accepted


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def pick_table(tables: list[RsvpTable], event: Event, day: date | None,
               today: date) -> RsvpTable:
    """The table of `day` (a series' occurrence), else the next occurrence from `today`,
    else the last one."""
    if not any(t.lines for t in tables):
        raise CommsError(f"Aucune invitation n’a été envoyée pour «\u00a0{event.id}\u00a0»\u00a0: "
                         "pas de feuille d’émargement sans liste d’invités. Lancez d’abord "
                         "«\u00a0comms invite\u00a0».")
    if day is not None:
        for table in tables:
            if _day(table.when) == day:
                return table
        known = ", ".join(_day(t.when).isoformat() for t in tables[:12])
        raise CommsError(f"«\u00a0{event.id}\u00a0» n’a pas lieu le {format_day(day)}. "
                         f"Dates possibles (à écrire ainsi)\u00a0: {known}.")
    upcoming = [t for t in tables if _day(t.when) >= today]
    return upcoming[0] if upcoming else tables[-1]


def sheet_rows(table: RsvpTable) -> list[SheetRow]:
    rows = []
    for line in table.lines:  # already sorted: accepted, peut-être, ..., then by name
        if line.partstat in (DECLINED, DELEGATED):
            continue
        rows.append(SheetRow(line.name or line.email, line.organisation,
                             NOTES.get(line.partstat, "")))
    return rows


def render_sheet(project: Project, journal: Journal, event: Event,
                 directory: Directory | None, day: date | None = None,
                 today: date | None = None) -> tuple[str, RsvpTable]:
    """(HTML text, the table used). CommsError when nothing was sent for the event or
    the series has no occurrence on `day`."""
    from comms.dates import format_when
    from comms.invitations.imip import organizer_of
    from comms.render.markdown import french_spacing
    from comms.render.templates import render, theme_for

    site = project.site
    table = pick_table(rsvp_tables(project, journal, event, directory), event, day,
                       today or date.today())
    instance = project.instances[event.instance]
    rows = sheet_rows(table)
    counts = table.counts
    accepted = counts[ACCEPTED]
    summary = (f"{len(rows)} personne{'s' if len(rows) > 1 else ''} attendue"
               f"{'s' if len(rows) > 1 else ''}, dont {accepted} "
               f"{'ont' if accepted > 1 else 'a'} accepté.")
    if table.occurrence is not None:
        span = table.occurrence + (event.end - event.start) if isinstance(
            table.occurrence, datetime) else table.occurrence
        when = format_when((table.occurrence, span, event.all_day), site.timezone)
    else:
        when = format_when(event, site.timezone)
    organizer = organizer_of(site, instance)
    html = render(site.root, TEMPLATE, title=french_spacing(event.title),
                  territory=site.territory, instance=french_spacing(instance.name),
                  when=when[:1].upper() + when[1:], place=french_spacing(event.location),
                  rows=rows, blank=BLANK_ROWS, summary=summary,
                  organizer=f"{organizer.name}, {organizer.email}",
                  colour=theme_for(site).brand)
    return html, table


def sheet_path(root: Path, event: Event, table: RsvpTable) -> Path:
    suffix = f"-{_day(table.when).isoformat()}" if table.occurrence is not None else ""
    return root / FOLDER / f"{event.id}{suffix}.html"
