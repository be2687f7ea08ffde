"""Scoped unsubscribes end to end, through the real token round trip: links taken from the
messages a real SMTP server (aiosmtpd on 127.0.0.1) received, fed to `comms unsubscribe
--token`, then the next newsletter and invitations."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cli_runner import cli
from conftest import write
from smtp_servers import smtp_env, take

from comms.send.journal import Journal

ANNE = "anne.durand@mairie.example.org"
PAUL = "paul.roche@ars.example.org"
TODAY = "2027-01-10"




def to_of(msg) -> str:
    return msg["To"].addresses[0].addr_spec


def text_of(msg) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return part.get_content()


def list_unsubscribe(msg) -> tuple[str, str]:
    https, mailto = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    return https, mailto


@pytest.fixture
def territory(root: Path, smtp_server):
    env = smtp_env(smtp_server)
    write(root, ".env", "")
    return root, smtp_server, env


def send(root, env, issue):
    result = cli("send", issue, "--confirm", "--now", "--root", str(root), env=env)
    assert result.exit_code == 0, result.output
    return result


def invite(root, env, *args):
    result = cli("invite", *args, "--confirm", "--root", str(root), "--today", TODAY, env=env)
    assert result.exit_code == 0, result.output
    return result


def unsubscribe(root, env, text):
    result = cli("unsubscribe", "--token", text, "--root", str(root), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_newsletter_link_stops_the_newsletter_not_the_council(territory):
    root, server, env = territory
    send(root, env, "2027-1")
    anne = next(m for m in take(server) if to_of(m) == ANNE)
    https, mailto = list_unsubscribe(anne)
    assert ANNE not in https and "anne" not in https.lower()
    assert https in text_of(anne)  # the body's « se désinscrire » is the same link
    out = unsubscribe(root, env, https)
    assert "de la lettre d’information" in out
    # The mailto subject of the same message says the same thing: nothing new recorded.
    subject = unquote(mailto.split("subject=", 1)[1])
    again = unsubscribe(root, env, subject)
    assert "était déjà écarté de la lettre d’information (depuis le " in again
    assert not re.search(r"depuis le \d{4}-", again)  # a French date, not ISO

    invite(root, env, "2027-03-copil")
    assert ANNE in {to_of(m) for m in take(server)}  # still invited to the COPIL
    send(root, env, "2027-2")
    assert {to_of(m) for m in take(server)} == {PAUL}


def test_invitation_footer_offers_the_instance_or_everything(territory):
    root, server, env = territory
    invite(root, env, "2027-03-copil")
    messages = {to_of(m): m for m in take(server)}
    anne_text, paul_text = text_of(messages[ANNE]), text_of(messages[PAUL])
    instance_link = re.search(r"Ne plus recevoir les invitations de «\u00a0Comité de pilotage"
                              r"\u00a0»\u00a0: (\S+)", anne_text).group(1)
    all_link = re.search(r"Ne plus recevoir aucun message de la coordination\u00a0: (\S+)",
                         paul_text).group(1)
    # One-click (List-Unsubscribe) stops the instance, like the first footer link.
    assert list_unsubscribe(messages[ANNE])[0] == instance_link

    stopped = unsubscribe(root, env, instance_link)
    assert "est désinscrit des invitations de «\u00a0Comité de pilotage\u00a0»" in stopped
    assert "de les" not in stopped
    assert "tous les messages" in unsubscribe(root, env, all_link)
    with Journal.open(root) as journal:
        assert journal.is_suppressed(ANNE, "instance:copil")
        assert not journal.is_suppressed(ANNE, "instance:gt-logement")
        assert not journal.is_suppressed(ANNE, "newsletter")
        assert journal.is_suppressed(PAUL, "newsletter")

    # The COPIL moves: Anne (left the COPIL) and Paul (left everything) hear nothing.
    event = root / "calendars" / "events" / "2027-03-copil.md"
    event.write_text(event.read_text(encoding="utf-8").replace("14:00", "15:00"),
                     encoding="utf-8")
    invite(root, env, "2027-03-copil")
    assert {to_of(m) for m in take(server)} & {ANNE, PAUL} == set()
    send(root, env, "2027-1")
    assert {to_of(m) for m in take(server)} == {ANNE}


def footer_mailtos(msg) -> tuple[str, str]:
    """The footer's « ou écrire à » mailto URI in the HTML part (its href) and the text."""
    part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    href = re.search(r'ou écrire à\s*<a href="(mailto:[^"]+)"', part.get_content()).group(1)
    text = re.search(r"ou écrire à\s+(\S+)", text_of(msg)).group(1)
    return html.unescape(href), text


def mailto_subject(uri: str) -> str:
    """The subject an RFC 6068 mailto URI writes (percent-decoded)."""
    parts = urlsplit(uri)
    assert parts.scheme == "mailto" and parts.path == "desinscription@sante.example.org"
    (subject,) = parse_qs(parts.query)["subject"]
    return subject


def test_newsletter_footer_mailto_carries_the_token_of_list_unsubscribe(territory):
    root, server, env = territory
    send(root, env, "2027-1")
    messages = {to_of(m): m for m in take(server)}
    footers = {who: footer_mailtos(m) for who, m in messages.items()}
    for who, msg in messages.items():
        assert footers[who] == (list_unsubscribe(msg)[1],) * 2, who
    assert footers[ANNE] != footers[PAUL]  # each partner's own token

    out = unsubscribe(root, env, mailto_subject(footers[ANNE][0]))
    assert "de la lettre d’information" in out
    with Journal.open(root) as journal:
        assert journal.is_suppressed(ANNE, "newsletter")
        assert not journal.is_suppressed(ANNE, "instance:copil")
        assert not journal.is_suppressed(PAUL, "newsletter")


def test_invitation_footer_mailto_carries_the_instance_token(territory):
    root, server, env = territory
    invite(root, env, "2027-03-copil")
    anne = next(m for m in take(server) if to_of(m) == ANNE)
    footers = footer_mailtos(anne)
    assert footers == (list_unsubscribe(anne)[1],) * 2

    out = unsubscribe(root, env, mailto_subject(footers[1]))
    assert "est désinscrit des invitations de «\u00a0Comité de pilotage\u00a0»" in out
    with Journal.open(root) as journal:
        assert journal.is_suppressed(ANNE, "instance:copil")
        assert not journal.is_suppressed(ANNE, "newsletter")
