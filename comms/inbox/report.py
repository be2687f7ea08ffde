"""Participation indicators of the roadmap (`comms report YEAR`), from what `comms inbox`
recorded: per instance (the journée interprofessionnelle is one), people invited, answers,
acceptances, « peut-être », declines; then bounces (hard and soft, by kind of mailing) and
unsubscribes by scope.

An answer counts when it answers the version the attendee holds (an update sent after it
makes her « pas encore répondu » again, as in `comms rsvp`).
"""

from __future__ import annotations

from collections import Counter

from comms.french import count
from comms.inbox.itip import ACCEPTED, DECLINED, TENTATIVE
from comms.inbox.process import held_invitations
from comms.model import Project
from comms.send.journal import Journal
from comms.send.report import Indicator

SECTION = "Participation"
BOUNCES = "Rebonds"
KIND_LABELS = {"newsletter": "lettre", "invitation": "invitations", "sequence":
               "séquence de la journée"}


def _current_answers(journal: Journal, held: dict[str, dict[str, int]]) -> dict[
        tuple[str, str], str]:
    """(event, attendee) -> PARTSTAT of the answer to the version she holds."""
    out = {}
    for r in journal.db.execute("SELECT event_id, email, partstat, sequence FROM "
                                "rsvp_answers WHERE recurrence_id = ''"):
        holds = held.get(r["event_id"], {}).get(r["email"])
        if holds is not None and r["sequence"] >= holds:
            out[(r["event_id"], r["email"])] = r["partstat"]
    return out


def participation(journal: Journal, year: int, project: Project | None) -> list[Indicator]:
    """The indicators of `year` (events by their first day); [] when no invitation was sent.

    Shapes: one Indicator per (instance, measure), value = number of people (an attendee
    invited to two meetings of an instance counts twice: these are attendances)."""
    if not journal.has_table("rsvp_answers"):
        return []
    held = held_invitations(journal)
    answers = _current_answers(journal, held)
    events = {e.id: e for e in project.events} if project else {}
    years = {r["event_id"]: r["year"] for r in journal.db.execute(
        "SELECT v.event_id, c.year FROM invitation_versions v JOIN campaigns c "
        "ON c.id = v.campaign")}
    scopes = {r["ref"]: r["scope"] for r in journal.db.execute(
        "SELECT ref, scope FROM campaigns WHERE kind = 'invitation'")}
    names = {i.id: i.name for i in project.instances.values()} if project else {}
    per: dict[str, Counter[str]] = {}
    meetings: dict[str, set[str]] = {}
    for event_id, people in held.items():
        event = events.get(event_id)
        event_year = event.first_day.year if event is not None else years.get(event_id)
        if event_year != year or not people:
            continue
        instance = event.instance if event is not None else scopes.get(event_id, "?")
        counts = per.setdefault(instance, Counter())
        meetings.setdefault(instance, set()).add(event_id)
        counts["invited"] += len(people)
        for email in people:
            state = answers.get((event_id, email))
            if state is not None:
                counts["answers"] += 1
                counts[state] += 1
    out = []
    for instance in sorted(per):
        counts = per[instance]
        name = names.get(instance, instance)
        detail = count(len(meetings[instance]), "réunion")
        for key, label in (("invited", "Invitations envoyées (personnes)"),
                           ("answers", "Réponses"), (ACCEPTED, "Acceptations"),
                           (TENTATIVE, "Réponses «\u00a0peut-être\u00a0»"),
                           (DECLINED, "Refus")):
            out.append(Indicator(SECTION, f"{label} — {name}", counts[key], None, detail))
    return out


def bounces_and_unsubscribes(journal: Journal, year: int,
                             project: Project | None = None) -> list[Indicator]:
    """Hard and soft bounces by kind of mailing, counted in the year of the campaign that
    bounced (else the year the notification came), and unsubscribes of `year` by scope."""
    out: list[Indicator] = []
    if journal.has_table("bounces"):
        rows = journal.db.execute("""
            SELECT b.kind, COALESCE(c.kind, '') AS mailing, COUNT(DISTINCT b.email) AS n
            FROM bounces b LEFT JOIN campaigns c ON c.id = b.campaign
            WHERE COALESCE(c.year, CAST(substr(b.at, 1, 4) AS INTEGER)) = ?
            GROUP BY b.kind, mailing
            ORDER BY b.kind, mailing""", (year,)).fetchall()
        for r in rows:
            what = "Adresses en échec définitif" if r["kind"] == "hard" else \
                "Adresses en échec temporaire"
            mailing = KIND_LABELS.get(r["mailing"], "envoi non retrouvé")
            out.append(Indicator(BOUNCES, f"{what} — {mailing}", r["n"]))
    columns = {r["name"] for r in journal.db.execute("PRAGMA table_info(suppressions)")}
    if "scope" in columns:
        for r in journal.db.execute("""
                SELECT scope, COUNT(*) AS n FROM suppressions WHERE reason = 'unsubscribe'
                AND substr(created_at, 1, 4) = ? GROUP BY scope ORDER BY scope""",
                                    (str(year),)):
            from comms.send.unsubscribe import scope_label

            names = {i.id: i.name for i in project.instances.values()} if project else {}
            out.append(Indicator("Désinscriptions",
                                 f"Désinscriptions — {scope_label(r['scope'], names)}", r["n"]))
    return out
