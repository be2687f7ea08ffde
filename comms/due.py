"""What is due on a day, and sending it: `comms due`, run every morning by `make daily`.

Three kinds of mailings have a day:
- an issue of the newsletter, on its `publish_on` (or later, « en retard », while the next
  issue is not out): sent to the `newsletter` list by the newsletter's own send path;
- calendar invitations, updates and cancellations that the invite planner wants and the
  journal has not recorded as sent;
- the steps of an instance's sequence (journée interprofessionnelle) on their day, or late
  within `comms.invitations.sequence.CATCH_UP_DAYS`.
Each is a campaign of the send journal, so running this twice a day, or after a crash, never
sends anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from comms.directory import NEWSLETTER, Directory
from comms.invitations.plan import LABELS, EventPlan, plan_invitations, send_plans
from comms.invitations.sequence import StepFactory, StepPlan, plan_steps
from comms.model import Issue, Project
from comms.send.campaign import Plan, Summary
from comms.send.campaign import plan as plan_campaign
from comms.send.journal import PENDING, SENDING, SENT, Journal
from comms.send.transports.base import Transport
from comms.settings import Settings


@dataclass
class IssueDue:
    issue: Issue
    late: bool  # its publish date has passed
    resume: bool  # a send was started and interrupted
    plan: Plan


@dataclass
class Due:
    day: date
    issue: IssueDue | None
    invitations: list[EventPlan]  # every event's plan (the listing says why some wait)
    steps: list[StepPlan]
    warnings: list[str] = field(default_factory=list)

    @property
    def invitations_to_send(self) -> list[EventPlan]:
        return [p for p in self.invitations if p.deliveries]

    @property
    def steps_to_send(self) -> list[StepPlan]:
        return [s for s in self.steps if s.due]

    @property
    def empty(self) -> bool:
        return self.issue is None and not self.invitations_to_send and not self.steps_to_send


def _counts(journal: Journal, campaign: str, delivers: bool = True) -> dict[str, int]:
    """status -> messages; with `delivers`, what the outbox only deposited is pending."""
    status = "CASE WHEN status = 'sent' AND transport = 'outbox' THEN 'pending' ELSE status END" \
        if delivers else "status"
    return {row[0]: row[1] for row in journal.db.execute(
        f"SELECT {status} AS s, COUNT(*) FROM messages WHERE campaign = ? GROUP BY s",
        (campaign,))}


def issue_due(project: Project, directory: Directory, journal: Journal,
              day: date, delivers: bool = True) -> IssueDue | None:
    """The latest issue published on `day` or before, unless its send is done (`delivers`:
    False when the transport is the outbox, whose deposits then count as done)."""
    from comms.send import newsletter

    published = [i for i in project.issues if i.publish_on <= day]
    if not published:
        return None
    issue = published[-1]
    counts = _counts(journal, newsletter.campaign_id(issue.id), delivers)
    started = counts.get(SENT, 0) > 0
    interrupted = counts.get(PENDING, 0) + counts.get(SENDING, 0) > 0
    if started and not interrupted:
        return None
    audience = newsletter.audience(project, issue, NEWSLETTER, directory, subject="")
    the_plan = plan_campaign(journal, audience.campaign, audience.recipients, audience.skipped,
                             delivers=delivers)
    if not the_plan.to_send:
        return None
    return IssueDue(issue, issue.publish_on < day, started, the_plan)


def what_is_due(project: Project, directory: Directory, journal: Journal, day: date,
                delivers: bool = True) -> Due:
    """Everything due on `day`; writes nothing. `delivers`: False when the transport is the
    outbox (a trial): what an earlier trial deposited counts as done for it, and as still
    to send for a real transport."""
    from comms.invitations.plan import forgotten_events, forgotten_warning
    from comms.send import newsletter

    due = Due(day, issue_due(project, directory, journal, day, delivers),
              plan_invitations(project, directory, journal, day, delivers=delivers),
              plan_steps(project, directory, journal, day, delivers=delivers))
    if due.issue is not None and newsletter.unknown_published(journal, due.issue.issue, day):
        due.warnings.append(newsletter.unknown_published_message(due.issue.issue))
        due.issue = None  # never mailed again to everyone from a lost journal
    for event_id in forgotten_events(project, journal):
        due.warnings.append(forgotten_warning(event_id))
    return due


def hold_issue(project: Project, directory: Directory, journal: Journal, due: Due) -> None:
    """Keep `due`'s issue for a later run (its page or images are not online yet): nothing is
    sent, but its campaign is recorded so that on the next days it is due « en retard »
    rather than refused as a published issue the journal does not know
    (`newsletter.unknown_published`). Removes the issue from `due`."""
    from comms.send import newsletter

    assert due.issue is not None
    campaign = newsletter.audience(project, due.issue.issue, NEWSLETTER, directory,
                                   subject="").campaign
    journal.record_campaign(campaign.id, kind=campaign.kind, ref=campaign.ref,
                            scope=campaign.scope, year=campaign.year, subject=campaign.subject)
    due.issue = None


Report = Callable[[str, Summary], None]


def send_step(project: Project, journal: Journal, item: StepPlan, transport: Transport,
              settings: Settings) -> Summary:
    from comms.send import campaign as campaigns

    factory = StepFactory(project, item.step, settings.require_secret())
    return campaigns.run(journal, item.campaign, item.recipients, factory, transport,
                         settings, skipped=item.skipped)


def run_due(project: Project, directory: Directory, journal: Journal, due: Due,
            transport: Transport, settings: Settings, report: Report) -> list[Summary]:
    """Send everything `due` lists: the issue, then invitations, then sequence steps.
    `report(label, summary)` is called after each campaign. A campaign stopped by a
    configuration problem (`Summary.check`) ends the run: nothing after it is tried."""
    from comms.send import newsletter

    summaries = []
    newsletter.record_directory_unsubscribes(journal, directory)
    if due.issue is not None:
        summary = newsletter.send_issue(project, directory, journal, due.issue.issue,
                                        NEWSLETTER, transport, settings)
        report(f"Lettre {due.issue.issue.id}", summary)
        summaries.append(summary)
        if summary.check:
            return summaries
    for plan, version, summary in send_plans(project, due.invitations_to_send, journal,
                                             transport, settings):
        kinds = sorted({d.kind for d in plan.deliveries if d.version == version})
        report(f"{plan.event.id} · {', '.join(LABELS[k] for k in kinds)} "
               f"(séquence {version.sequence})", summary)
        summaries.append(summary)
    if any(s.check for s in summaries):
        return summaries
    for item in due.steps_to_send:
        summary = send_step(project, journal, item, transport, settings)
        report(f"{item.step.event.id} · {item.step.label}", summary)
        summaries.append(summary)
        if summary.check:
            break
    return summaries
