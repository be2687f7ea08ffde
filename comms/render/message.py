"""The preview message of an issue (newsletter.eml): what a partner would receive.

Opened in a mail client, it shows the email exactly as sent: text and HTML alternatives,
French headers encoded by the `email` package (RFC 2047), a Message-ID on our domain.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from comms.model import Project
from comms.render.newsletter import RenderedIssue


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def preview_message(project: Project, rendered: RenderedIssue, *,
                    now: datetime | None = None) -> bytes:
    """The .eml bytes: multipart/alternative (text/plain, then text/html), both UTF-8.

    It is addressed to the sender's own address, so opening or re-sending it reaches no one
    else. `now` fixes the Date header (tests, reproducible builds).
    """
    site = project.site
    sender = _address(site.sender.name, site.sender.email)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = _address(site.sender.name, site.sender.email)
    if site.reply_to:
        msg["Reply-To"] = site.reply_to
    msg["Subject"] = rendered.subject
    when = now or datetime.now(site.timezone)
    if when.tzinfo is None:
        when = when.replace(tzinfo=site.timezone)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(idstring=f"lettre-{rendered.content.issue.id}",
                                   domain=site.domain)
    unsubscribe = []
    if site.unsubscribe_mailto:
        unsubscribe.append(f"<mailto:{site.unsubscribe_mailto}>")
    if site.unsubscribe_url:
        unsubscribe.append(f"<{site.unsubscribe_url}>")
    if unsubscribe:
        msg["List-Unsubscribe"] = ", ".join(unsubscribe)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
