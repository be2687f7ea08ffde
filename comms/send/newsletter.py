"""Sending one issue of the newsletter to a list of the partners directory.

Everything here is specific to the newsletter (who is on the list, the greeting, the
unsubscribe link, building the web archive first); the send loop itself is
`comms.send.campaign`, shared with invitations.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from comms.content.source import newest_source
from comms.errors import CommsError, ContentError, Problem, closest
from comms.model import Address, Issue, Project, Site
from comms.send.headers import check_line, list_id, list_unsubscribe, unsubscribe_url
from comms.send.message import OutgoingMessage
from comms.send.personalize import (
    GREETING_MARK,
    UNSUBSCRIBE_MAILTO_MARK,
    UNSUBSCRIBE_MARK,
    MessageTemplate,
    greeting,
)
from comms.send.tokens import NEWSLETTER as NEWSLETTER_SCOPE
from comms.send.tokens import make_token
from comms.uri import to_uri

# The send loop (campaign) and the directory are imported by the functions of a send: a build
# uses this module for its preview .eml only, and starts faster without them.
if TYPE_CHECKING:
    from comms.directory import Directory, Partner
    from comms.render.newsletter import RenderedIssue
    from comms.send.campaign import Campaign, Progress, Recipient, Summary
    from comms.send.journal import Journal
    from comms.send.transports.base import Transport
    from comms.settings import Settings

KIND = "newsletter"
SKIP_DIRECTORY_UNSUBSCRIBED = "désinscrit dans l’annuaire"
TEST_PREFIX = "[TEST] "
LIST = "newsletter"  # the directory list an issue goes to unless `send --list` says


def campaign_id(issue_id: str) -> str:
    return f"{KIND}-{issue_id}"


def find_issue(project: Project, issue_id: str) -> Issue:
    issue = project.issue(issue_id)
    if issue is None:
        known = [i.id for i in project.issues]
        guess = closest(issue_id, known)
        raise CommsError(
            f"La lettre « {issue_id} » n’existe pas"
            + (f"\u00a0; vouliez-vous écrire « {guess} »\u00a0?" if guess else ".")
            + f" Lettres prévues\u00a0: {', '.join(known) or 'aucune'}.")
    return issue


def render_template(project: Project, issue_id: str, list_name: str) -> MessageTemplate:
    """The issue rendered once, with markers where each recipient's text goes."""
    from comms.render.newsletter import Personal, render_issue

    rendered = render_issue(project, issue_id, Personal(GREETING_MARK, UNSUBSCRIBE_MARK,
                                                             UNSUBSCRIBE_MAILTO_MARK))
    site = project.site
    return MessageTemplate(subject=rendered.subject, html_body=rendered.html,
                           text_body=rendered.text, sender=site.sender, reply_to=site.reply_to,
                           list_id=list_id(site.newsletter_title, list_name, site.domain),
                           zone=site.timezone, one_click=site.unsubscribe_one_click)


class NewsletterFactory:
    """recipient + Message-ID -> the personalised message (greeting, signed unsubscribe
    link in the body and in List-Unsubscribe)."""

    def __init__(self, site: Site, template: MessageTemplate, secret: str):
        self.site = site
        self.template = template
        self.secret = secret

    def __call__(self, recipient: Recipient, message_id: str,
                 subject_prefix: str = "") -> OutgoingMessage:
        partner: Partner | None = recipient.data
        token = make_token(self.secret, recipient.email, NEWSLETTER_SCOPE)
        url = unsubscribe_url(self.site.unsubscribe_url, token)
        return self.template.personalize(
            to=Address(recipient.name, recipient.email),
            greeting=greeting(partner.first_name, partner.last_name) if partner else
            greeting("", ""),
            unsubscribe_url=url,
            list_unsubscribe=list_unsubscribe(url, self.site.unsubscribe_mailto, token),
            message_id=message_id,
            subject_prefix=subject_prefix)


@dataclass
class Audience:
    campaign: Campaign
    recipients: list[Recipient]
    skipped: list[tuple[Recipient, str]]  # unsubscribed according to the directory


def audience(project: Project, issue: Issue, list_name: str, directory: Directory,
             subject: str) -> Audience:
    """The campaign and who is on its list; those the directory marks as unsubscribed are
    skipped (and recorded in the suppression list when the send is confirmed)."""
    from comms.send.campaign import Campaign, Recipient

    members = directory.members(list_name)
    if not members:
        present = ", ".join(sorted(directory.list_names())) or "aucune"
        raise CommsError(
            f"Personne n’est inscrit à la liste « {list_name} » dans {directory.path}.",
            [Problem(directory.path, None, "lists", f"liste « {list_name} » vide",
                     f"listes présentes dans l’annuaire\u00a0: {present}")])
    recipients, skipped = [], []
    for partner in members:
        recipient = Recipient(partner.email, partner.name, partner)
        if partner.unsubscribed_on is not None:
            skipped.append((recipient, SKIP_DIRECTORY_UNSUBSCRIBED))
        else:
            recipients.append(recipient)
    site = project.site
    campaign = Campaign(id=campaign_id(issue.id), kind=KIND, ref=issue.id, scope=list_name,
                        year=issue.year, subject=subject, domain=site.domain)
    return Audience(campaign, recipients, skipped)


def record_directory_unsubscribes(journal: Journal, directory: Directory) -> int:
    """Copy the directory's unsubscribes into the suppression list, which outlives any
    later version of the directory."""
    from comms.send.journal import UNSUBSCRIBE

    added = 0
    for partner in directory.partners:
        if partner.unsubscribed_on is not None:
            added += journal.suppress(partner.email, UNSUBSCRIBE, "annuaire",
                                      f"désinscrit le {partner.unsubscribed_on:%d/%m/%Y}",
                                      at=partner.unsubscribed_on.isoformat())
    return added


def check_address(address: str, what: str = "l’adresse") -> str:
    """An address typed on the command line, checked like the directory's."""
    from comms.directory import check_email

    check_line(address, what)
    try:
        return check_email(address.strip())
    except ValueError as exc:
        raise CommsError(f"« {address} » n’est pas une adresse électronique valide "
                         f"({exc}).") from None


def proof_message(site: Site, template: MessageTemplate, secret: str, address: str,
                 directory: Directory | None) -> OutgoingMessage:
    """One copy with [TEST] in the subject, personalised as the directory says if the
    address is in it; a fresh Message-ID, outside any campaign."""
    from comms.send.campaign import Recipient

    partner = directory.find(address) if directory else None
    recipient = Recipient(address, partner.name if partner else "", partner)
    message_id = f"<test.{uuid.uuid4().hex}@{site.domain}>"
    return NewsletterFactory(site, template, secret)(recipient, message_id, TEST_PREFIX)


def preview_message(project: Project, rendered: RenderedIssue, secret: str = "", *,
                    list_name: str = LIST, now: datetime | None = None) -> bytes:
    """The preview `newsletter.eml` of a built issue: built like every partner's copy
    (`MessageTemplate`), with the same List-Id, List-Unsubscribe and List-Unsubscribe-Post
    headers, addressed to the sender's own address.

    With the unsubscribe `secret`, List-Unsubscribe carries a token for that address as a
    partner's carries hers; without one (a build on a machine without .env) it names the
    unsubscribe page and address without a token. `now` fixes the Date header.
    """
    site = project.site
    template = MessageTemplate(
        subject=rendered.subject, html_body=rendered.html, text_body=rendered.text,
        sender=site.sender, reply_to=site.reply_to,
        list_id=list_id(site.newsletter_title, list_name, site.domain), zone=site.timezone,
        personal=False, date=now, one_click=site.unsubscribe_one_click)
    if secret:
        token = make_token(secret, site.sender.email, NEWSLETTER_SCOPE)
        header = list_unsubscribe(unsubscribe_url(site.unsubscribe_url, token),
                                  site.unsubscribe_mailto, token)
    else:
        mailto = to_uri(f"mailto:{site.unsubscribe_mailto}")
        header = f"<{to_uri(site.unsubscribe_url)}>, <{mailto}>"
    message = template.personalize(
        to=site.sender, greeting="", unsubscribe_url="", list_unsubscribe=header,
        message_id=f"<lettre-{rendered.content.issue.id}.{uuid.uuid4().hex[:16]}@{site.domain}>")
    return message.as_bytes()



def ensure_built(project: Project, issue_id: str, out: Path, delivered: bool = False) -> bool:
    """Build OUT/<issue>/ (web archive, images, agenda files the email links to) unless it
    is newer than every source, or the issue was `delivered` already and is built (its web
    archive stays what partners received); True when it was built."""
    built = out / issue_id / "newsletter.html"
    if built.is_file() and (delivered or
                            built.stat().st_mtime >= newest_source(project.site.root)):
        return False
    from comms.build import build_issue

    build_issue(project, issue_id, out)
    return True


def refuse_on_content_errors(error: ContentError) -> ContentError:
    """The same problems, introduced as the reason nothing is sent."""
    return ContentError(error.problems, "Envoi refusé\u00a0: le contenu a des erreurs "
                        "(voir ci-dessus, ou « comms check »). Rien n’a été envoyé.")


def unknown_published(journal: Journal, issue: Issue, today: date) -> bool:
    """True when `issue` appeared before `today` (local date) but the journal has no record
    of ever sending it: more likely a lost or replaced journal than an issue never sent, and
    sending it could reach everyone a second time."""
    return issue.publish_on < today and not journal.knows_campaign(campaign_id(issue.id))


def unknown_published_message(issue: Issue) -> str:
    """Why the send waits for `--first-time` (French)."""
    return (f"La lettre {issue.id} est parue le {issue.publish_on:%d/%m/%Y}, mais le journal "
            "d’envoi n’en garde aucune trace. Si le journal a été perdu ou remplacé, "
            "restaurez d’abord sa sauvegarde (comms journal restore)\u00a0: sinon tous les "
            "partenaires la recevraient une seconde fois. Si ce numéro n’a vraiment jamais "
            f"été envoyé, confirmez avec «\u00a0comms send {issue.id} --confirm "
            "--first-time\u00a0».")


def send_issue(project: Project, directory: Directory, journal: Journal, issue: Issue,
               list_name: str, transport: Transport, settings: Settings,
               progress: Progress | None = None,
               template: MessageTemplate | None = None,
               resend_maybe_delivered: bool = False) -> Summary:
    """Send an issue to a list: build it if needed, record the directory's unsubscribes,
    then run the campaign (only what was not sent yet goes out; messages maybe delivered
    only with `resend_maybe_delivered`)."""
    from comms.send import campaign as campaigns

    secret = settings.require_secret()
    template = template or render_template(project, issue.id, list_name)
    audience_ = audience(project, issue, list_name, directory, template.subject)
    delivered = journal.delivered(audience_.campaign.id)
    ensure_built(project, issue.id, project.site.root / "build", delivered)
    if transport.delivers:  # what goes out, for `check` to spot news that come later
        from comms.selection import news_of

        journal.record_items(audience_.campaign.id,
                             [item.id for item in news_of(project, issue)])
    record_directory_unsubscribes(journal, directory)
    factory = NewsletterFactory(project.site, template, secret)
    return campaigns.run(journal, audience_.campaign, audience_.recipients, factory, transport,
                         settings, skipped=audience_.skipped, progress=progress,
                         resend_maybe_delivered=resend_maybe_delivered)

