"""What the journal tells the coordinator to act on, for `comms check` and `comms report`:
council members who stopped an instance's invitations (a member who leaves must be
replaced), and news items that fall into an issue already delivered (they would never be
read).

Reads the journal only when it exists (`comms check` never creates it); "delivered" means
real deliveries (`journal.DELIVERED`), never deposits in the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from comms.dates import format_day
from comms.errors import WARNING, Problem
from comms.model import Project

UNSUBSCRIBE = "unsubscribe"
INSTANCE_PREFIX = "instance:"


@dataclass(frozen=True)
class InstanceUnsubscribe:
    """An unsubscribe from one instance's invitations still in force."""

    email: str  # lower case, as the journal keeps it
    instance_id: str
    on: date  # day it was recorded (UTC day of the journal's timestamp)
    source: str  # "link", "command", "mailbox"…


def instance_unsubscribes(root: Path) -> list[InstanceUnsubscribe]:
    """Suppressions of scope `instance:<id>` with reason unsubscribe, oldest first; empty
    when there is no journal yet (it is not created just to be read)."""
    from comms.send.journal import JOURNAL_FILE, Journal

    path = root / JOURNAL_FILE
    if not path.is_file():
        return []
    with Journal(path) as journal:
        rows = journal.db.execute(
            "SELECT email, scope, source, created_at FROM suppressions "
            "WHERE reason = ? AND scope LIKE 'instance:%' ORDER BY created_at, email",
            (UNSUBSCRIBE,)).fetchall()
    return [InstanceUnsubscribe(r["email"], r["scope"][len(INSTANCE_PREFIX):],
                                date.fromisoformat(r["created_at"][:10]), r["source"])
            for r in rows]


def instance_name(project: Project | None, instance_id: str) -> str:
    instance = project.instances.get(instance_id) if project else None
    return instance.name if instance else instance_id


def departure_problems(project: Project, directory) -> list[Problem]:
    """One warning per council member who stopped an instance's invitations while the
    directory still puts them on one of its audience lists: name, instance, date, and
    what to do (replace them, then take them off the list; the warning then stops).
    `directory` is a `comms.directory.Directory`, or None when it could not be read."""
    problems: list[Problem] = []
    for u in instance_unsubscribes(project.site.root):
        instance = project.instances.get(u.instance_id)
        partner = directory.find(u.email) if directory is not None else None
        if directory is not None and instance is not None and (
                partner is None or not set(instance.audience) & partner.lists):
            continue  # already taken off the instance's lists: nothing left to do
        who = f"{partner.name} ({u.email})" if partner is not None and partner.name \
            else u.email
        lists = ", ".join(f"«\u00a0{name}\u00a0»" for name in instance.audience) \
            if instance else ""
        problems.append(Problem(
            directory.path if partner is not None else None,
            partner.line if partner is not None else None, None,
            f"{who} ne reçoit plus les invitations de "
            f"«\u00a0{instance_name(project, u.instance_id)}\u00a0» "
            f"(désinscription du {format_day(u.on)})",
            "si cette personne quitte l’instance, trouvez qui la remplace et inscrivez-la\u00a0; "
            + (f"retirez ensuite {lists} de ses listes dans l’annuaire" if lists else
               "retirez-la ensuite des listes de l’instance dans l’annuaire")
            + " (cet avertissement disparaîtra)",
            WARNING))
    return problems
