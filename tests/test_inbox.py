"""`comms inbox` against a real Dovecot: RSVPs in the five clients' shapes, DSNs, auto-replies,
mailto unsubscribes and other mail; counts per meeting, once-only processing, kill -9 and
resume; then `comms rsvp`."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import inbox_mail as mails
import pytest
from click.testing import CliRunner
from conftest import write
from imap_server import Mailbox
from inbox_mail import Reply
from smtp_servers import smtp_env

from comms.cli import main
from comms.inbox.classify import AUTO_REPLY, BOUNCE, COUNTER, OTHER, REPLY, UNSUBSCRIBE, classify
from comms.inbox.mailbox import HANDLED_KEYWORD
from comms.send.journal import Journal
from comms.send.tokens import make_token

SECRET = "test-secret-0123456789abcdef"
TODAY = "2027-01-10"
NBSP = "\u00a0"
COPIL_UID = "2027-03-copil@sante.example.org"
GT_UID = "2027-04-gt@sante.example.org"
HEADER = "email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on\n"
PEOPLE = {
    "anne.durand@mairie.example.org": ("Anne", "Durand", "Mairie de Lisière"),
    "paul.roche@ars.example.org": ("Paul", "Roche", "ARS"),
    "karim@cmp.example.org": ("Karim", "Haddad", "CMP"),
    "nina.petit@mda.example.org": ("Nina", "Petit", "MDA"),
    "lucie.blanc@ccas.example.org": ("Lucie", "Blanc", "CCAS"),
    "marc.noir@cpam.example.org": ("Marc", "Noir", "CPAM"),
    "ines.vert@ville.example.org": ("Inès", "Vert", "Ville"),
}


def partners() -> str:
    rows = [f"{e};{first};{last};{org};Membre;newsletter|copil;2026-01-10;\n"
            for e, (first, last, org) in PEOPLE.items()]
    rows[1] = rows[1].replace("newsletter|copil", "newsletter|copil|gt-logement")
    return HEADER + "".join(rows)


def cli(*args: str, env: dict[str, str] | None = None):
    clean: dict[str, str | None] = {k: None for k in os.environ
                                    if k.startswith(("COMMS_", "SMTP_", "BREVO_", "IMAP_"))}
    clean.update(env or {})
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)


@pytest.fixture
def territory(root: Path, smtp_server) -> Path:
    """Invitations to the COPIL (7 partners) and the GT (1) sent through a real SMTP
    server, as the journal records them."""
    write(root, "content/partners.csv", partners())
    result = cli("invite", "--confirm", "--root", str(root), "--today", TODAY,
                 env=smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    return root


def env_for(mailbox: Mailbox, smtp_server=None, **extra: str) -> dict[str, str]:
    env = {"COMMS_UNSUBSCRIBE_SECRET": SECRET, **mailbox.env(**extra)}
    if smtp_server is not None:
        env.update(smtp_env(smtp_server))
    return env


def inbox(root: Path, mailbox: Mailbox, *args: str, **extra: str):
    return cli("inbox", *args, "--root", str(root), env=env_for(mailbox, **extra))


def answers(root: Path) -> dict[tuple[str, str], tuple[str, int]]:
    with Journal.open(root) as journal:
        return {(r["event_id"], r["email"]): (r["partstat"], r["sequence"]) for r in
                journal.db.execute("SELECT * FROM rsvp_answers")}


def journal_rows(root: Path, sql: str) -> list:
    with Journal.open(root) as journal:
        return [tuple(r) for r in journal.db.execute(sql)]


def copil_message_id(root: Path, email: str) -> str:
    (row,) = journal_rows(root, "SELECT message_id FROM messages WHERE recipient = "
                          f"'{email}' AND campaign LIKE 'invite-2027-03-copil-%'")
    return row[0]


def a_day_of_mail(root: Path) -> list[bytes]:
    """One of each: the five clients, a delegation, a COUNTER, three DSNs, two auto-replies,
    a mailto unsubscribe, a question, a REPLY for an unknown meeting."""
    emails = list(PEOPLE)
    return [
        mails.outlook(Reply(COPIL_UID, emails[0], "ACCEPTED", name="Anne Durand")),
        mails.gmail(Reply(COPIL_UID, emails[1], "DECLINED", name="Paul Roche",
                          comment="Je serai en congé, ma collègue viendra.")),
        mails.zimbra(Reply(COPIL_UID, emails[2], "TENTATIVE")),
        mails.apple(Reply(COPIL_UID, emails[3], "ACCEPTED")),
        mails.thunderbird(Reply(GT_UID, emails[1], "ACCEPTED",
                                organizer="karim.benali@sante.example.org")),
        mails.outlook(Reply(COPIL_UID, emails[4], "DELEGATED",
                            delegated_to="adjointe@ccas.example.org",
                            delegate="adjointe@ccas.example.org")),
        mails.gmail(Reply(COPIL_UID, emails[0], "ACCEPTED", method="COUNTER",
                          dtstart="20270325T130000Z", comment="Plutôt le 25 ?")),
        mails.postfix_dsn(emails[5], copil_message_id(root, emails[5])),
        mails.gmail_delayed(emails[6], copil_message_id(root, emails[6])),
        mails.out_of_office(emails[3]),
        mails.absence(emails[2]),
        mails.unsubscribe_mail(emails[2], make_token(SECRET, emails[2])),
        mails.unrelated(emails[0]),
        mails.thunderbird(Reply("inconnu-123@autre.example.org", emails[0], "ACCEPTED")),
    ]


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("client", sorted(mails.CLIENTS))
def test_each_clients_reply_is_read(client):
    build = mails.CLIENTS[client]
    item = classify(build(Reply(COPIL_UID, "anne.durand@mairie.example.org", "TENTATIVE",
                                sequence=2, comment="Peut-être en retard")))
    assert item.kind == REPLY
    (answer,) = item.answers  # the inline part and the attachment count once
    assert (answer.uid, answer.sequence, answer.comment) == (COPIL_UID, 2, "Peut-être en retard")
    (person,) = answer.attendees
    assert (person.email, person.partstat) == ("anne.durand@mairie.example.org", "TENTATIVE")


def test_a_reply_without_sequence_answers_version_zero():
    item = classify(mails.apple(Reply(COPIL_UID, "a@b.example.org", sequence=None)))
    assert item.answers[0].sequence == 0


@pytest.mark.parametrize(("mail", "kind", "hard", "soft"), [
    (mails.postfix_dsn("x@dead.example.org", "<m@s>"), BOUNCE, ("x@dead.example.org",), ()),
    (mails.exchange_ndr("y@dead.example.org", "<m@s>"), BOUNCE, ("y@dead.example.org",), ()),
    (mails.gmail_delayed("z@full.example.org", "<m@s>"), BOUNCE, (), ("z@full.example.org",)),
    (mails.qmail_bounce("q@old.example.net"), BOUNCE, ("q@old.example.net",), ()),
    (mails.out_of_office("a@b.example.org"), AUTO_REPLY, (), ()),
    (mails.absence("a@b.example.org"), AUTO_REPLY, (), ()),
    (mails.unrelated("a@b.example.org"), OTHER, (), ()),
])
def test_bounces_auto_replies_and_the_rest(mail, kind, hard, soft):
    item = classify(mail)
    assert (item.kind, item.hard, item.soft) == (kind, hard, soft)


def test_the_returned_message_id_names_the_campaign():
    item = classify(mails.postfix_dsn("x@dead.example.org", "<invite-a.1@sante.example.org>"))
    assert "<invite-a.1@sante.example.org>" in item.original_ids


def test_unsubscribe_token_from_subject_or_body():
    token = make_token(SECRET, "a@b.example.org")
    for mail in (mails.unsubscribe_mail("a@b.example.org", token),
                 mails.unsubscribe_mail("a@b.example.org", token, in_body=True)):
        item = classify(mail)
        assert (item.kind, item.token_text) == (UNSUBSCRIBE, token)


def test_counter_is_not_a_reply():
    item = classify(mails.gmail(Reply(COPIL_UID, "a@b.example.org", method="COUNTER",
                                      dtstart="20270325T130000Z")))
    assert item.kind == COUNTER
    assert item.answers[0].proposed_start.startswith("2027-03-25T13:00")


# --------------------------------------------------------------------------- the whole run


def test_a_day_of_mail_counted_per_meeting_then_nothing_twice(territory, mailbox, smtp_server):
    emails = list(PEOPLE)
    mailbox.deliver(*a_day_of_mail(territory))
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    got = answers(territory)
    assert got == {
        ("2027-03-copil", emails[0]): ("ACCEPTED", 0),
        ("2027-03-copil", emails[1]): ("DECLINED", 0),
        ("2027-03-copil", emails[2]): ("TENTATIVE", 0),
        ("2027-03-copil", emails[3]): ("ACCEPTED", 0),
        ("2027-03-copil", emails[4]): ("DELEGATED", 0),
        ("2027-03-copil", "adjointe@ccas.example.org"): ("ACCEPTED", 0),
        ("2027-04-gt", emails[1]): ("ACCEPTED", 0),
    }
    out = result.output
    assert f"2027-03-copil{NBSP}: 3 accepté, 1 peut-être, 1 refusé, 1 délégué" in out
    assert f"2027-04-gt{NBSP}: 1 accepté" in out
    assert "propose un autre horaire" in out and "non appliqué" in out
    assert "inconnu-123@autre.example.org" in out
    assert f"Réponses automatiques (absences) ignorées{NBSP}: 2" in out
    assert f"Bilan{NBSP}: 14 messages lus, 11 traité(s), 3 laissé(s) non lu(s)" in out

    with Journal.open(territory) as journal:
        assert journal.suppression(emails[5]).reason == "bounce"  # hard: everything stops
        assert journal.suppression(emails[2]).reason == "unsubscribe"
        assert journal.suppression(emails[6]) is None  # one soft bounce is not enough
        (campaign,) = [r[0] for r in journal.db.execute(
            "SELECT campaign FROM bounces WHERE email = ?", (emails[5],))]
        assert campaign.startswith("invite-2027-03-copil-")

    flags = mailbox.flags()
    unread = [uid for uid, f in flags.items() if b"\\Seen" not in f]
    assert len(unread) == 3  # the COUNTER, the question, the unknown meeting
    assert sum(HANDLED_KEYWORD.encode() in f for f in flags.values()) == 11

    again = inbox(territory, mailbox)
    assert again.exit_code == 0, again.output
    assert f"Bilan{NBSP}: 0 message lu, 0 traité(s), 0 laissé(s)" in again.output
    assert answers(territory) == got

    # the next send skips the bounced and the unsubscribed addresses
    write(territory, "calendars/events/2027-05-copil.md",
          "---\ninstance: copil\ntitle: Second COPIL\nstart: 2027-05-20 14:00\n"
          "end: 2027-05-20 16:00\nlocation: Mairie\n---\nTexte.\n")
    smtp_server.handler.messages.clear()
    sent = cli("invite", "2027-05-copil", "--confirm", "--root", str(territory), "--today",
               TODAY, env=smtp_env(smtp_server))
    assert sent.exit_code == 0, sent.output
    to = {m.rcpt_tos[0] for m in smtp_server.handler.messages}
    assert emails[5] not in to and emails[2] not in to
    assert emails[0] in to and emails[6] in to


def test_soft_bounces_in_a_row_suppress_after_the_limit(territory, mailbox):
    email = list(PEOPLE)[6]
    mid = copil_message_id(territory, email)
    mailbox.deliver(mails.gmail_delayed(email, mid))
    assert inbox(territory, mailbox, BOUNCE_SOFT_LIMIT="2").exit_code == 0
    with Journal.open(territory) as journal:
        assert not journal.is_suppressed(email)
    mailbox.deliver(mails.gmail_delayed(email, "<unknown-campaign@sante.example.org>"))
    result = inbox(territory, mailbox, BOUNCE_SOFT_LIMIT="2")
    assert "Écartées après plusieurs échecs temporaires" in result.output
    with Journal.open(territory) as journal:
        assert journal.suppression(email).reason == "bounce"


def test_an_update_resets_the_answer_until_she_answers_again(territory, mailbox, smtp_server):
    anne, paul = list(PEOPLE)[:2]
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, anne, "ACCEPTED")),
                    mails.gmail(Reply(COPIL_UID, paul, "DECLINED")))
    assert inbox(territory, mailbox).exit_code == 0
    # the meeting moves: everybody gets SEQUENCE 1
    write(territory, "calendars/events/2027-03-copil.md",
          "---\ninstance: copil\nstart: 2027-03-18 15:00\nend: 2027-03-18 17:00\n"
          "location: Mairie\n---\nOrdre du jour.\n")
    sent = cli("invite", "--confirm", "--root", str(territory), "--today", TODAY,
               env=smtp_env(smtp_server))
    assert sent.exit_code == 0, sent.output
    listing = cli("rsvp", "2027-03-copil", "--csv", "--root", str(territory),
                  env=env_for(mailbox))
    rows = {r["adresse"]: r for r in csv.DictReader(io.StringIO(listing.output.lstrip("\ufeff")),
                                                     delimiter=";")}
    assert rows[anne]["réponse"] == "pas encore répondu"
    assert "accepté" in rows[anne]["remarque"]
    # Paul answers the old version late (SEQUENCE 0), Anne the update (SEQUENCE 1)
    mailbox.deliver(mails.zimbra(Reply(COPIL_UID, paul, "ACCEPTED", sequence=0,
                                       dtstamp="20270113T090000Z")),
                    mails.apple(Reply(COPIL_UID, anne, "ACCEPTED", sequence=1)))
    result = inbox(territory, mailbox)
    assert "version précédente" in result.output and paul in result.output
    listing = cli("rsvp", "2027-03-copil", "--csv", "--root", str(territory),
                  env=env_for(mailbox))
    rows = {r["adresse"]: r for r in csv.DictReader(io.StringIO(listing.output.lstrip("\ufeff")),
                                                     delimiter=";")}
    assert rows[anne]["réponse"] == "accepté"
    assert rows[paul]["réponse"] == "pas encore répondu"
    assert len(rows) == len(PEOPLE)
