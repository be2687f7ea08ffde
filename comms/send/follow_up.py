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


def _field_line(source: Path, names: tuple[str, ...]) -> int | None:
    """Line (1-based) of the first front-matter field among `names`, for the message."""
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for name in names:
        for number, line in enumerate(lines, start=1):
            if line.startswith(f"{name}:"):
                return number
    return None


def late_news_problems(project: Project) -> list[Problem]:
    """One warning per news item that now falls into an issue already delivered (real
    deliveries, not outbox deposits) but did not go out with it: it would never be read.
    The warning gives the item's file and the line of its `issue:` (else `date:`) field,
    and the issue to pin it to. Issues sent before comms recorded their items are
    skipped (what went out is unknown)."""
    from comms.selection import news_of
    from comms.send.journal import JOURNAL_FILE, Journal, sent_campaigns
    from comms.send.newsletter import campaign_id

    root = project.site.root
    delivered = sent_campaigns(root)
    sent = [i for i in project.issues if campaign_id(i.id) in delivered]
    if not sent:
        return []
    problems: list[Problem] = []
    with Journal(root / JOURNAL_FILE) as journal:
        for issue in sent:
            went_out = journal.items(campaign_id(issue.id))
            if not went_out:
                continue
            later = [i for i in project.issues if i.publish_on > issue.publish_on
                     and campaign_id(i.id) not in delivered]
            target = (f"épinglez-la avec issue: {later[0].id}" if later else
                      "créez la lettre suivante (comms plan), puis épinglez-la avec "
                      "issue: et son numéro")
            for item in news_of(project, issue):
                if item.id in went_out:
                    continue
                line = _field_line(item.source, ("issue", "date"))
                problems.append(Problem(
                    item.source, line, "issue" if item.issue else "date",
                    f"la lettre {issue.id} est déjà partie\u00a0: {target}",
                    "sinon, cette actualité ne paraîtra dans aucune lettre envoyée",
                    WARNING))
    return problems
