"""What is due on a day (`comms due`): the issue to publish, invitations not sent yet and
the sequence steps of a journée interprofessionnelle, each on its day and never twice."""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import write
from factories import PARIS, make_event, make_instance, make_project
from test_invitations import cli

from comms.invitations.sequence import (
    CANCELLED,
    LATE,
    MISSED,
    TODAY,
    UPCOMING,
    Step,
    steps,
    timing,
)

SECRET = "test-secret-0123456789abcdef"
NBSP = "\u00a0"
PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter|copil|journee;2026-01-10;
paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;newsletter|gt-logement|journee;2026-01-10;
lea.morel@ccas.example.org;Léa;Morel;CCAS;Directrice;newsletter|journee;2026-01-10;2026-05-02
zoe.klein@cmp.example.org;Zoé;Klein;CMP;Cadre;journee;;
"""
JOURNEE_INSTANCE = """\
journee:
  name: Journée interprofessionnelle
  dispositif: [CLS, CLSM]
  audience: [journee]
  organizer: karim.benali@sante.example.org
  sequence:
    save_the_date: -60
    invitation: -30
    reminder: -7
    thanks: 1
  thanks_to: all  # no mailbox is read here: thank the whole audience
"""
JOURNEE_EVENT = """\
---
instance: journee
title: "Journée interprofessionnelle : santé mentale des jeunes"
start: 2027-06-10 09:00
end: 2027-06-10 16:30
location: Espace culturel de la Halle
registration_url: https://sante.example.org/journee/inscription
evaluation_url: https://sante.example.org/journee/evaluation
---
Programme de la journée.
"""
JOURNEE_PEOPLE = {"anne.durand@mairie.example.org", "paul.roche@ars.example.org",
                  "zoe.klein@cmp.example.org"}


@pytest.fixture
def territory(root: Path) -> Path:
    write(root, "content/partners.csv", PARTNERS)
    write(root, "calendars/instances.yaml",
          (root / "calendars/instances.yaml").read_text(encoding="utf-8") + JOURNEE_INSTANCE)
    write(root, "calendars/events/2027-06-journee.md", JOURNEE_EVENT)
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    return root


def due(root: Path, day: str, *args: str):
    return cli("due", "--date", day, *args, "--root", str(root))


def outbox(root: Path) -> list[Path]:
    folder = root / "var" / "outbox" / "new"
    return sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() \
        else []


def new_messages(root: Path, seen: set[Path]) -> list[email.message.EmailMessage]:
    fresh = [p for p in outbox(root) if p not in seen]
    seen.update(fresh)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in fresh]


def campaigns_of(messages) -> dict[str, set[str]]:
    """Campaign (from the Message-ID) -> recipients."""
    out: dict[str, set[str]] = {}
    for m in messages:
        campaign = m["Message-ID"].strip("<>").split("@")[0].rsplit(".", 1)[0]
        out.setdefault(campaign, set()).add(m["To"].addresses[0].addr_spec)
    return out


# --------------------------------------------------------------------------- timing


def journee_step(name: str, offset: int, start: datetime | None = None) -> Step:
    instance = make_instance("journee", sequence={name: offset})
    event = make_event("2027-06-journee", start=start or datetime(2027, 6, 10, 9, tzinfo=PARIS),
                       instance="journee")
    project = make_project(instances={"journee": instance}, events=[event])
    (step,) = steps(project)
    return step


def test_steps_fall_on_their_days_and_catch_up_a_few_days_only():
    reminder = journee_step("reminder", -7)
    assert reminder.day == date(2027, 6, 3)
    assert timing(reminder, date(2027, 6, 2)) == UPCOMING
    assert timing(reminder, date(2027, 6, 3)) == TODAY
    assert timing(reminder, date(2027, 6, 6)) == LATE
    assert timing(reminder, date(2027, 6, 7)) == MISSED
    thanks = journee_step("thanks", 1)
    assert [timing(thanks, date(2027, 6, d)) for d in (10, 11, 14, 15)] == \
        [UPCOMING, TODAY, LATE, MISSED]


def test_a_step_before_the_event_is_never_sent_on_or_after_it():
    reminder = journee_step("reminder", -2)  # on the 8th: late only until the 9th
    assert reminder.deadline == date(2027, 6, 9)
    assert timing(reminder, date(2027, 6, 9)) == LATE
    assert timing(reminder, date(2027, 6, 10)) == MISSED


def test_a_cancelled_event_has_no_step():
    instance = make_instance("journee", sequence={"reminder": -7})
    event = make_event("j", start=datetime(2027, 6, 10, 9, tzinfo=PARIS), instance="journee",
                       status="cancelled")
    (step,) = steps(make_project(instances={"journee": instance}, events=[event]))
    assert timing(step, date(2027, 6, 3)) == CANCELLED


def test_invitation_is_not_a_mail_step():
    instance = make_instance("journee", sequence={"invitation": -30, "thanks": 1})
    event = make_event("j", start=datetime(2027, 6, 10, 9, tzinfo=PARIS), instance="journee")
    assert [s.name for s in steps(make_project(instances={"journee": instance},
                                                events=[event]))] == ["thanks"]


# --------------------------------------------------------------------------- the listing


def test_listing_names_the_issue_invitations_and_steps(territory):
    result = due(territory, "2027-02-15")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"À envoyer le lundi 15 février 2027{NBSP}:" in out
    assert f"Lettre 2027-1{NBSP}: parution aujourd’hui, 2 destinataires" in out
    assert "(2027-03-copil)" in out and "(2027-04-gt)" in out
    assert "2027-06-journee" not in out  # its invitation waits for its step
    late = due(territory, "2027-02-20").output
    # Past its date and unknown to the journal: a lost journal must not mail it again.
    assert "Lettre 2027-1\u00a0: en retard" not in late
    assert "le journal d’envoi n’en garde aucune trace" in late and "--first-time" in late
    on_day = due(territory, "2027-04-11").output
    assert "2027-06-journee · annonce «\u00a0réservez la date\u00a0», prévue le dimanche " \
        f"11 avril 2027{NBSP}: aujourd’hui, 3 destinataires" in on_day
    assert "2027-06-journee · invitation d’agenda, prévue le mardi 11 mai 2027" in on_day
    assert not (territory / "var").exists(), "a listing writes nothing"
    from comms.send.journal import Journal

    with Journal.open(territory) as journal:  # a send of it was started: late, resumed
        journal.record_campaign("newsletter-2027-1", kind="newsletter", ref="2027-1",
                                scope="newsletter", year=2027, subject="Lettre")
    late = due(territory, "2027-02-20").output
    assert "Lettre 2027-1\u00a0: en retard (parution prévue le lundi 15 février 2027)" in late


def test_run_without_confirm_is_a_simulation(territory):
    result = due(territory, "2027-02-15", "--run")
    assert result.exit_code == 0 and "Simulation" in result.output
    assert outbox(territory) == []
    refused = due(territory, "2027-02-15", "--confirm")
    assert refused.exit_code == 2 and "--run" in refused.output


def test_run_confirm_sends_each_thing_on_its_day_and_never_twice(territory):
    seen: set[Path] = set()
    assert due(territory, "2027-02-15", "--run", "--confirm").exit_code == 0
    sent = campaigns_of(new_messages(territory, seen))
    assert sent == {
        "newsletter-2027-1": {"anne.durand@mairie.example.org", "paul.roche@ars.example.org"},
        "invite-2027-03-copil-s0-request": {"anne.durand@mairie.example.org"},
        "invite-2027-04-gt-s0-request": {"paul.roche@ars.example.org"},
    }
    again = due(territory, "2027-02-15", "--run", "--confirm")
    assert again.exit_code == 0 and "Rien à envoyer" in again.output
    assert new_messages(territory, seen) == []
    assert "Lettre" not in due(territory, "2027-02-16").output  # sent: no longer due

    # Save-the-date on its day: a plain message, no calendar.
    assert due(territory, "2027-04-11", "--run", "--confirm").exit_code == 0
    messages = new_messages(territory, seen)
    assert campaigns_of(messages) == {"step-2027-06-journee-save-the-date": JOURNEE_PEOPLE}
    msg = messages[0]
    assert msg["Subject"].startswith(f"Réservez la date{NBSP}: Journée interprofessionnelle")
    assert msg["From"].addresses[0].addr_spec == "karim.benali@sante.example.org"
    assert [p.get_content_type() for p in msg.walk()] == \
        ["multipart/alternative", "text/plain", "text/html"]
    text = " ".join(msg.get_body(("plain",)).get_content().split())
    assert "vous parviendra le mardi 11 mai 2027" in text
    assert "/journee/inscription" not in text  # the invitation will bring it
    assert msg["List-Unsubscribe"].startswith("<https://sante.example.org/desinscription?t=")
    # Late within the catch-up days, but already sent: nothing.
    assert due(territory, "2027-04-12", "--run", "--confirm").exit_code == 0
    assert new_messages(territory, seen) == []

    # The invitation step: the iMIP invitation.
    assert due(territory, "2027-05-11", "--run", "--confirm").exit_code == 0
    messages = new_messages(territory, seen)
    assert campaigns_of(messages) == {"invite-2027-06-journee-s0-request": JOURNEE_PEOPLE}
    assert any(p.get_content_type() == "text/calendar" for p in messages[0].walk())

    # The reminder is missed by more than the catch-up days: never sent late.
    listing = due(territory, "2027-06-07", "--run", "--confirm")
    assert "manqué" in listing.output
    assert new_messages(territory, seen) == []

    # The thanks the day after, with the evaluation survey, once.
    assert due(territory, "2027-06-11", "--run", "--confirm").exit_code == 0
    messages = new_messages(territory, seen)
    assert campaigns_of(messages) == {"step-2027-06-journee-thanks": JOURNEE_PEOPLE}
    assert messages[0]["Subject"] == \
        f"Merci de votre participation{NBSP}: Journée interprofessionnelle{NBSP}: santé " \
        "mentale des jeunes"
    assert "https://sante.example.org/journee/evaluation" in \
        messages[0].get_body(("plain",)).get_content()
    assert due(territory, "2027-06-12", "--run", "--confirm").exit_code == 0
    assert new_messages(territory, seen) == []


def test_reminder_on_its_day_and_a_late_new_member_gets_it_once(territory):
    seen: set[Path] = set()
    assert due(territory, "2027-06-05", "--run", "--confirm").exit_code == 0  # 2 days late
    reminders = [m for m in new_messages(territory, seen) if "reminder" in m["Message-ID"]]
    assert {m["To"].addresses[0].addr_spec for m in reminders} == JOURNEE_PEOPLE
    assert reminders[0]["Subject"].startswith(f"Rappel{NBSP}: ")
    write(territory, "content/partners.csv",
          PARTNERS + "nouveau@example.org;Nouveau;Membre;X;;journee;;\n")
    assert due(territory, "2027-06-06", "--run", "--confirm").exit_code == 0
    fresh = campaigns_of(new_messages(territory, seen))
    assert fresh["step-2027-06-journee-reminder"] == {"nouveau@example.org"}


def test_a_thanks_step_without_survey_link_is_flagged(territory):
    write(territory, "calendars/events/2027-06-journee.md",
          JOURNEE_EVENT.replace("evaluation_url: https://sante.example.org/journee/evaluation\n",
                                ""))
    out = due(territory, "2027-06-11").output
    assert "pas de questionnaire d’évaluation (evaluation_url)" in out


def test_steps_are_campaigns_of_their_own_kind(territory):
    assert due(territory, "2027-04-11", "--run", "--confirm").exit_code == 0
    from comms.send.journal import Journal

    with Journal.open(territory) as journal:
        kinds = dict(journal.db.execute("SELECT id, kind FROM campaigns").fetchall())
    assert kinds["step-2027-06-journee-save-the-date"] == "sequence"
    assert all(k == "invitation" for c, k in kinds.items() if c.startswith("invite-"))


def test_the_daily_target_runs_due(territory):
    makefile = (Path(__file__).parent.parent / "Makefile").read_text(encoding="utf-8")
    assert "comms due --run --confirm --root $(ROOT)" in makefile
    assert timedelta(days=1)  # a daily cron entry is enough: nothing else to schedule
