"""The roadmap's yearly indicators, from the journal: issues sent against the three
planned, recipients per issue, invitations per instance, failures and unsubscribes."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from comms.french import count as counted
from comms.model import Project
from comms.send.journal import JOURNAL_FILE, Journal

ROADMAP_ISSUES_PER_YEAR = 3


@dataclass(frozen=True)
class Indicator:
    section: str  # « Lettres », « Invitations »...
    label: str
    value: int
    target: int | None = None
    detail: str = ""


def _rows(journal: Journal, sql: str, *args: object) -> list:
    return journal.db.execute(sql, args).fetchall()


def yearly_report(root: Path, year: int, project: Project | None = None) -> list[Indicator]:
    """Every indicator of `year`; zeros when nothing was sent yet."""
    out: list[Indicator] = []
    planned = [i for i in project.issues if i.year == year] if project else []
    target = len(project.site.issue_dates) if project else ROADMAP_ISSUES_PER_YEAR
    path = root / JOURNAL_FILE
    journal = Journal(path) if path.is_file() else None
    try:
        newsletters = _rows(journal, """
            SELECT c.ref, c.scope,
                   SUM(m.status = 'sent' AND m.transport != 'outbox') AS sent,
                   SUM(m.status = 'failed') AS failed,
                   MIN(CASE WHEN m.status = 'sent' AND m.transport != 'outbox'
                            THEN m.sent_at END) AS first_sent
            FROM campaigns c LEFT JOIN messages m ON m.campaign = c.id
            WHERE c.kind = 'newsletter' AND c.year = ?
            GROUP BY c.id ORDER BY c.ref""", year) if journal else []
        sent_issues = [r for r in newsletters if (r["sent"] or 0) > 0]
        if project:
            out.append(Indicator("Lettres", "Lettres prévues", len(planned), target,
                                 ", ".join(i.id for i in planned)))
        out.append(Indicator("Lettres", "Lettres envoyées", len(sent_issues), target,
                             ", ".join(r["ref"] for r in sent_issues)))
        for r in newsletters:
            first = "/".join(reversed((r["first_sent"] or "")[:10].split("-")))
            out.append(Indicator("Lettres", f"Destinataires de la lettre {r['ref']}",
                                 r["sent"] or 0, None,
                                 f"liste {r['scope']}" + (f", envoyée le {first}" if first
                                                          else ", pas encore envoyée")))
        invitations = _rows(journal, """
            SELECT c.scope,
                   COUNT(DISTINCT CASE WHEN m.status = 'sent' AND m.transport != 'outbox'
                                       THEN c.id END) AS campaigns,
                   SUM(m.status = 'sent' AND m.transport != 'outbox') AS sent
            FROM campaigns c LEFT JOIN messages m ON m.campaign = c.id
            WHERE c.kind = 'invitation' AND c.year = ?
            GROUP BY c.scope ORDER BY c.scope""", year) if journal else []
        names = {i.id: i.name for i in project.instances.values()} if project else {}
        for r in invitations:
            out.append(Indicator("Invitations", f"Invitations envoyées — "
                                 f"{names.get(r['scope'], r['scope'])}", r["sent"] or 0,
                                 None, counted(r["campaigns"], "envoi") if r["campaigns"]
                                 else ""))
        if not invitations:
            out.append(Indicator("Invitations", "Invitations envoyées", 0))
        if journal is not None:  # answers, bounces and unsubscribes read by `comms inbox`
            from comms.inbox import report as inbox_report

            out.extend(inbox_report.participation(journal, year, project))
            out.extend(inbox_report.bounces_and_unsubscribes(journal, year, project))
            out.extend(departures(root, year, project))
        failures = _rows(journal, """
            SELECT COUNT(*) FROM messages m JOIN campaigns c ON c.id = m.campaign
            WHERE c.year = ? AND m.status = 'failed'""", year) if journal else [(0,)]
        out.append(Indicator("Envois", "Messages en échec", failures[0][0]))
        uncertain = _rows(journal, """
            SELECT COUNT(*) FROM messages m JOIN campaigns c ON c.id = m.campaign
            WHERE c.year = ? AND m.status = 'failed' AND m.maybe_delivered_at IS NOT NULL""",
                          year) if journal else [(0,)]
        out.append(Indicator("Envois", "Messages peut-être remis (sans réponse finale)",
                             uncertain[0][0], None, "comptés aussi parmi les échecs"))
        for reason, label in (("unsubscribe", "Désinscriptions"),
                              ("bounce", "Adresses en échec définitif")):
            count = _rows(journal, """SELECT COUNT(*) FROM suppressions
                WHERE reason = ? AND substr(created_at, 1, 4) = ?""", reason,
                          str(year)) if journal else [(0,)]
            out.append(Indicator("Désinscriptions", label, count[0][0]))
        lifted = _rows(journal, """SELECT reason, COUNT(*) AS n FROM suppression_lifts
            WHERE substr(lifted_at, 1, 4) = ? GROUP BY reason ORDER BY reason""",
                       str(year)) if journal else []
        reason_names = {"unsubscribe": "désinscription", "bounce": "échec définitif"}
        out.append(Indicator("Désinscriptions", "Exclusions levées",
                             sum(r["n"] for r in lifted), None,
                             ", ".join(f"{r['n']} {reason_names.get(r['reason'], r['reason'])}"
                                       for r in lifted)))
    finally:
        if journal is not None:
            journal.close()
    return out


def departures(root: Path, year: int, project: Project | None) -> list[Indicator]:
    """Per instance, the members who stopped its invitations in `year`, by name and date:
    each one may have left the council and must then be replaced."""
    from comms.dates import format_day
    from comms.send.follow_up import instance_name, instance_unsubscribes

    directory = None
    if project is not None:
        from comms.directory import load_partners
        from comms.errors import CommsError
        from comms.settings import load_settings

        try:
            directory = load_partners(project, load_settings(root).partners)
        except CommsError:
            directory = None  # names only: the addresses are enough to act on
    by_instance: dict[str, list[str]] = {}
    for u in instance_unsubscribes(root):
        if u.on.year != year:
            continue
        partner = directory.find(u.email) if directory is not None else None
        who = f"{partner.name} ({u.email})" if partner is not None and partner.name \
            else u.email
        by_instance.setdefault(u.instance_id, []).append(f"{who} le {format_day(u.on)}")
    return [Indicator("Désinscriptions",
                      f"Membres qui ne reçoivent plus les invitations — "
                      f"{instance_name(project, instance_id)}", len(people), None,
                      "à remplacer s’ils quittent l’instance\u00a0: " + "\u00a0; ".join(people))
            for instance_id, people in sorted(by_instance.items())]


def write_csv(indicators: list[Indicator], path: Path) -> Path:
    """`;`-separated, UTF-8 with BOM: opens as columns in a French spreadsheet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["rubrique", "indicateur", "valeur", "objectif", "détail"])
        for i in indicators:
            writer.writerow([i.section, i.label, i.value,
                             "" if i.target is None else i.target, i.detail])
    return path
