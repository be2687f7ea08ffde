"""The message sequence of a big event (the journée interprofessionnelle): save-the-date,
invitation, reminder and thanks, each on its day relative to the event's first day.

`invitation` is the iMIP invitation of `comms.invitations.plan` (the sequence only says
when it may start). The other steps are plain HTML + text emails, each with its own template
(templates/step-<step>.mjml.j2 and .txt.j2), sent once to the event's audience: one campaign
per (event, step), so the journal never sends a step twice.

The save-the-date carries no calendar object on purpose: the iMIP invitation is the one
calendar entry each partner gets, the one updates and cancellations act on. A PUBLISH .ics
with another UID would leave a second, stale entry; with the same UID, Google Calendar and
Outlook keep the imported copy and may refuse the later invitation. The email says when the
invitation (or registration) comes instead.

A step missed on its day is sent late for at most CATCH_UP_DAYS days, and never once the
moment has passed: no save-the-date or reminder on or after the event's first day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from comms.directory import Directory
from comms.invitations.imip import (
    context,
    organizer_of,
    personal_values,
    render_bodies,
    subject_date,
    typo,
)
from comms.invitations.plan import Attendee, audience, invitation_day, safe_id
from comms.model import SEQUENCE_STEPS, Address, Event, Instance, Project
from comms.send.campaign import Campaign, Plan, Recipient, plan
from comms.send.journal import Journal
from comms.send.message import OutgoingMessage
from comms.send.personalize import MessageTemplate
from comms.send.tokens import instance_scope

KIND = "sequence"  # campaigns.kind
INVITATION_STEP = "invitation"
MAIL_STEPS = tuple(s for s in SEQUENCE_STEPS if s != INVITATION_STEP)
CATCH_UP_DAYS = 3
HORIZON_DAYS = 30  # `comms due` also lists steps coming, or missed, within this many days
NBSP = "\u00a0"
STEP_LABELS = {
    "save_the_date": "annonce «\u00a0réservez la date\u00a0»",
    "invitation": "invitation",
    "reminder": "rappel",
    "thanks": "remerciements et questionnaire d’évaluation",
}
TODAY, LATE, MISSED, UPCOMING, DONE, CANCELLED = (
    "today", "late", "missed", "upcoming", "done", "cancelled")


@dataclass(frozen=True)
class Step:
    """One plain-email step of one event."""

    event: Event
    instance: Instance
    name: str  # a key of SEQUENCE_STEPS other than "invitation"
    day: date  # the day it is planned for

    @property
    def campaign_id(self) -> str:
        return f"step-{safe_id(self.event.id)}-{self.name.replace('_', '-')}"

    @property
    def deadline(self) -> date:
        """The last day it may still go out."""
        late = self.day + timedelta(days=CATCH_UP_DAYS)
        if self.day < self.event.first_day:
            late = min(late, self.event.first_day - timedelta(days=1))
        return late

    @property
    def template(self) -> str:
        return f"step-{self.name}"

    @property
    def label(self) -> str:
        return STEP_LABELS[self.name]


def steps(project: Project, events: Iterable[Event] | None = None) -> list[Step]:
    """Every plain-email step of every event whose instance has a sequence, by day."""
    out = []
    for event in project.events if events is None else events:
        instance = project.instances[event.instance]
        for name, offset in instance.sequence.items():
            if name in MAIL_STEPS:
                out.append(Step(event, instance, name,
                                event.first_day + timedelta(days=offset)))
    return sorted(out, key=lambda s: (s.day, s.event.id, MAIL_STEPS.index(s.name)))


def timing(step: Step, today: date) -> str:
    """TODAY, LATE (still within the catch-up days), MISSED, UPCOMING or CANCELLED."""
    if step.event.cancelled:
        return CANCELLED
    if today < step.day:
        return UPCOMING
    if today > step.deadline:
        return MISSED
    return TODAY if today == step.day else LATE


# --------------------------------------------------------------------------- wording


def subject(step: Step, project: Project) -> str:
    event, site = step.event, project.site
    title = typo(event.title)
    when = subject_date(event, site)
    return {
        "save_the_date": f"Réservez la date{NBSP}: {title} — {when}",
        "reminder": f"Rappel{NBSP}: {title} — {when}",
        "thanks": f"Merci de votre participation{NBSP}: {title}",
    }[step.name]


def render_step(project: Project, step: Step) -> MessageTemplate:
    """The step's message, rendered once, ready to be personalised."""
    from comms import dates
    from comms.send.headers import list_id

    site = project.site
    inv_day = invitation_day(step.instance, step.event)
    days_left = (step.event.first_day - step.day).days
    rendered = render_bodies(
        project, step.template, subject(step, project),
        **context(project, step.event, step.instance, kind=step.name,
                  invitation_day=dates.format_day(inv_day) if inv_day else "",
                  days_left=days_left))
    organizer = organizer_of(site, step.instance)
    return MessageTemplate(subject=rendered.subject, html_body=rendered.html,
                           text_body=rendered.text,
                           sender=Address(organizer.name, organizer.email), reply_to="",
                           list_id=list_id(step.instance.name, safe_id(step.instance.id),
                                           site.domain), zone=site.timezone,
                           one_click=site.unsubscribe_one_click)


class StepFactory:
    """recipient + Message-ID -> the personalised step message."""

    def __init__(self, project: Project, step: Step, secret: str):
        self.project = project
        self.template = render_step(project, step)
        self.secret = secret
        self.instance_id = step.instance.id

    def __call__(self, recipient: Recipient, message_id: str) -> OutgoingMessage:
        person: Attendee = recipient.data
        partner = person.partner
        personal = personal_values(self.project.site, self.secret, recipient.email,
                                   recipient.name, partner.first_name if partner else "",
                                   partner.last_name if partner else "",
                                   scope=instance_scope(self.instance_id))
        return self.template.personalize(
            to=personal.to, greeting=personal.greeting,
            unsubscribe_url=personal.unsubscribe_url,
            unsubscribe_all_url=personal.unsubscribe_all_url,
            list_unsubscribe=personal.list_unsubscribe, message_id=message_id)


# --------------------------------------------------------------------------- what is due


@dataclass
class StepPlan:
    step: Step
    timing: str
    campaign: Campaign
    recipients: list[Recipient]
    skipped: list[tuple[Recipient, str]]
    plan: Plan | None = None  # who would receive it now (None: not due)
    warnings: list[str] = field(default_factory=list)

    @property
    def due(self) -> bool:
        return self.timing in (TODAY, LATE) and self.plan is not None and bool(
            self.plan.to_send)


def campaign_of(project: Project, step: Step) -> Campaign:
    return Campaign(id=step.campaign_id, kind=KIND, ref=step.event.id,
                    scope=step.instance.id, year=step.event.first_day.year,
                    subject=subject(step, project), domain=project.site.domain)


SKIP_NOT_ACCEPTED = "n’a pas accepté l’invitation"


def accepted(journal: Journal, event_id: str) -> set[str]:
    """Attendees whose answer to the invitation they hold is ACCEPTED (RSVPs recorded by
    `comms inbox`; an answer to a version older than the one held does not count)."""
    if not journal.has_table("rsvp_answers"):
        return set()
    held: dict[str, tuple[int, str]] = {}
    for row in journal.db.execute("""
            SELECT v.sequence, v.method, m.recipient FROM messages m
            JOIN invitation_versions v ON v.campaign = m.campaign
            WHERE m.status = 'sent' AND v.event_id = ? ORDER BY v.sequence, v.rowid""",
                                  (event_id,)):
        held[row["recipient"]] = (row["sequence"], row["method"])
    out = set()
    for row in journal.db.execute("SELECT email, partstat, sequence, delegated_from FROM "
                                  "rsvp_answers WHERE event_id = ? AND recurrence_id = ''",
                                  (event_id,)):
        holder = row["email"] if row["email"] in held else row["delegated_from"].split(",")[0]
        sequence, method = held.get(holder, (None, ""))
        if method == "REQUEST" and row["partstat"] == "ACCEPTED" and row["sequence"] >= sequence:
            out.add(row["email"])
    return out


def plan_steps(project: Project, directory: Directory, journal: Journal, today: date,
               horizon: int = HORIZON_DAYS, delivers: bool = True) -> list[StepPlan]:
    """Steps due today or late, and, for the listing, those missed or coming within
    `horizon` days. Writes nothing. `delivers`: False when the transport is the outbox."""
    out = []
    window = timedelta(days=horizon)
    for step in steps(project):
        when = timing(step, today)
        if when in (UPCOMING, CANCELLED) and step.day > today + window:
            continue
        if when in (MISSED, CANCELLED) and step.deadline < today - window:
            continue
        attendees, skipped = audience(project, step.event, directory)
        skipped_r = [(Recipient(a.email, a.name, a), reason) for a, reason in skipped]
        warnings = []
        if step.name == "thanks" and step.instance.thanks_to == "accepted":
            came = accepted(journal, step.event.id)
            skipped_r += [(Recipient(a.email, a.name, a), SKIP_NOT_ACCEPTED)
                          for a in attendees if a.key not in came]
            attendees = [a for a in attendees if a.key in came]
            if not came:
                warnings.append("personne n’a accepté l’invitation d’après les réponses lues "
                                "par «\u00a0comms inbox\u00a0»\u00a0: le remerciement ne part à "
                                "personne (écrivez «\u00a0thanks_to: all\u00a0» dans "
                                "l’instance pour l’envoyer à toute l’audience)")
        recipients = [Recipient(a.email, a.name, a) for a in attendees]
        campaign = campaign_of(project, step)
        item = StepPlan(step, when, campaign, recipients, skipped_r, warnings=warnings)
        if when in (TODAY, LATE):
            item.plan = plan(journal, campaign, recipients, skipped_r, delivers=delivers)
            if not item.plan.to_send:
                item.timing = DONE
        elif when == MISSED and journal.states(campaign.id):
            item.timing = DONE
        if step.name == "thanks" and not step.event.evaluation_url:
            item.warnings.append("pas de questionnaire d’évaluation (evaluation_url) dans "
                                 f"{step.event.source.name}")
        out.append(item)
    return out
