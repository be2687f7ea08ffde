"""The journal on a real SQLite file: migrations, message states, the suppression list, the
plan of a campaign and the one-send-at-a-time lock."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from comms.errors import CommsError, ConfigError
from comms.send.campaign import (
    SKIP_ALREADY_SENT,
    SKIP_BOUNCED,
    SKIP_DUPLICATE,
    SKIP_UNSUBSCRIBED,
    Campaign,
    Recipient,
    plan,
    send_lock,
)
from comms.send.journal import (
    BOUNCE,
    JOURNAL_FILE,
    MIGRATIONS,
    UNSUBSCRIBE,
    Journal,
    Migration,
    sent_campaigns,
)

CAMPAIGN = Campaign("newsletter-2027-1", "newsletter", "2027-1", "newsletter", 2027,
                    "Lettre n° 1", "sante.example.org")


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "var" / "comms.sqlite") as j:
        j.record_campaign(CAMPAIGN.id, kind="newsletter", ref="2027-1", scope="newsletter",
                          year=2027, subject="Lettre n° 1")
        yield j


def test_fresh_journal_has_every_migration(journal):
    assert journal.schema_version() == len(MIGRATIONS)
    assert {"campaigns", "messages", "suppressions"} <= {
        r[0] for r in journal.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_applies_nothing_twice(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    with Journal(path) as j:
        rows = j.db.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert [tuple(r) for r in rows] == [(i + 1, m.name) for i, m in enumerate(MIGRATIONS)]


def test_another_module_appends_a_migration(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    extra = Migration("invitations", """
        CREATE TABLE invitations (event TEXT NOT NULL, sequence INTEGER NOT NULL);
        CREATE INDEX invitations_event ON invitations (event);""")
    with Journal(path, migrations=[*MIGRATIONS, extra]) as j:
        assert j.has_table("invitations")
        assert j.schema_version() == len(MIGRATIONS) + 1


def test_a_failing_migration_leaves_nothing_half_done(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    broken = Migration("broken", "CREATE TABLE half (x INTEGER);\nCREATE TABLE oops (;")
    with pytest.raises(sqlite3.OperationalError):
        Journal(path, migrations=[*MIGRATIONS, broken])
    with Journal(path) as j:
        assert not j.has_table("half")
        assert j.schema_version() == len(MIGRATIONS)


def test_a_journal_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    extra = Migration("future", "CREATE TABLE future (x INTEGER);")
    Journal(path, migrations=[*MIGRATIONS, extra]).close()
    with pytest.raises(ConfigError, match="plus récente"):
        Journal(path)


def test_message_states(journal):
    journal.add_messages(CAMPAIGN.id, [("a@example.org", "<m.a@d>"), ("b@example.org", "<m.b@d>")])
    journal.mark_sending(CAMPAIGN.id, "a@example.org", "smtp")
    row = journal.message(CAMPAIGN.id, "a@example.org")
    assert (row.status, row.attempts, row.transport) == ("sending", 1, "smtp")
    journal.mark_sent(CAMPAIGN.id, "a@example.org", "queued-42")
    row = journal.message(CAMPAIGN.id, "a@example.org")
    assert (row.status, row.provider_id) == ("sent", "queued-42") and row.sent_at
    journal.mark_sending(CAMPAIGN.id, "b@example.org", "smtp")
    journal.mark_failed(CAMPAIGN.id, "b@example.org", "550 refusé", permanent=True)
    row = journal.message(CAMPAIGN.id, "b@example.org")
    assert (row.status, row.last_error, row.permanent) == ("failed", "550 refusé", True)


def test_replanning_keeps_state_and_message_id(journal):
    journal.add_messages(CAMPAIGN.id, [("a@example.org", "<first@d>")])
    journal.mark_sending(CAMPAIGN.id, "a@example.org", "smtp")
    journal.mark_sent(CAMPAIGN.id, "a@example.org", "")
    journal.add_messages(CAMPAIGN.id, [("a@example.org", "<other@d>")])
    row = journal.message(CAMPAIGN.id, "a@example.org")
    assert (row.status, row.message_id) == ("sent", "<first@d>")


def test_status_outside_the_state_machine_is_refused(journal):
    journal.add_messages(CAMPAIGN.id, [("a@example.org", "<m@d>")])
    with pytest.raises(sqlite3.IntegrityError):
        journal.db.execute("UPDATE messages SET status = 'lost'")


def test_suppression_survives_and_keeps_the_first_reason(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        assert j.suppress("Anne@Example.org", UNSUBSCRIBE, "lien") is True
        assert j.suppress("anne@example.org", BOUNCE, "smtp", "550") is False
    with Journal(path) as j:
        s = j.suppression("ANNE@example.org")
        assert (s.email, s.reason, s.source) == ("anne@example.org", "unsubscribe", "lien")
        assert s.scope == "all"
        assert j.is_suppressed("anne@example.org", "newsletter")
        assert not j.is_suppressed("paul@example.org", "newsletter")


def test_a_scoped_suppression_stops_only_its_scope(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        assert j.suppress("anne@example.org", UNSUBSCRIBE, "lien", scope="newsletter")
        assert j.suppress("anne@example.org", UNSUBSCRIBE, "lien", scope="instance:copil")
        assert not j.suppress("anne@example.org", UNSUBSCRIBE, "lien", scope="newsletter")
        assert j.is_suppressed("anne@example.org", "newsletter")
        assert j.is_suppressed("anne@example.org", "instance:copil")
        assert not j.is_suppressed("anne@example.org", "instance:gt-logement")
        assert not j.is_suppressed("anne@example.org", "all")
        assert set(j.suppressed("newsletter")) == {"anne@example.org"}
        assert j.suppressed("instance:gt-logement") == {}
        # Everything ("all", or a bounce) covers every scope, and wins over the scoped record.
        j.suppress("anne@example.org", BOUNCE, "smtp", "550 5.1.1")
        assert j.is_suppressed("anne@example.org", "instance:gt-logement")
        assert j.suppression("anne@example.org", "newsletter").reason == BOUNCE
        assert j.suppressed("newsletter")["anne@example.org"].reason == BOUNCE
        assert [s.scope for s in j.suppressions("ANNE@example.org")] == [
            "newsletter", "instance:copil", "all"]


def test_suppressions_of_an_older_journal_become_suppressions_of_everything(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path, migrations=MIGRATIONS[:2]) as old:
        old.db.execute(
            "INSERT INTO suppressions VALUES ('anne@example.org', 'unsubscribe', 'lien', '', "
            "'2026-05-01T10:00:00+00:00')")
    with Journal(path) as j:
        s = j.suppression("anne@example.org", "instance:copil")
        assert (s.scope, s.reason, s.source, s.created_at) == (
            "all", UNSUBSCRIBE, "lien", "2026-05-01T10:00:00+00:00")
        assert j.schema_version() == len(MIGRATIONS)


def test_plan_classifies_without_writing(journal):
    journal.add_messages(CAMPAIGN.id, [("sent@example.org", "<1@d>"), ("inflight@example.org",
                                                                       "<2@d>")])
    journal.mark_sending(CAMPAIGN.id, "sent@example.org", "smtp")
    journal.mark_sent(CAMPAIGN.id, "sent@example.org", "")
    journal.mark_sending(CAMPAIGN.id, "inflight@example.org", "smtp")
    journal.suppress("gone@example.org", BOUNCE, "smtp")
    journal.suppress("left@example.org", UNSUBSCRIBE, "lien")
    people = [Recipient(e) for e in ("sent@example.org", "inflight@example.org",
                                     "gone@example.org", "Left@Example.org", "new@example.org",
                                     "NEW@example.org")]
    before = journal.db.total_changes
    result = plan(journal, CAMPAIGN, people)
    assert journal.db.total_changes == before
    assert [r.email for r in result.to_send] == ["inflight@example.org", "new@example.org"]
    assert dict(result.skip_counts()) == {SKIP_ALREADY_SENT: 1, SKIP_BOUNCED: 1,
                                          SKIP_UNSUBSCRIBED: 1, SKIP_DUPLICATE: 1}
    assert result.in_flight == 1


def test_sent_campaigns_does_not_create_a_journal(tmp_path, journal):
    assert sent_campaigns(tmp_path / "elsewhere") == set()
    assert not (tmp_path / "elsewhere" / JOURNAL_FILE).exists()
    root = journal.path.parent.parent
    journal.add_messages(CAMPAIGN.id, [("a@example.org", "<1@d>")])
    assert sent_campaigns(root) == set()
    journal.mark_sent(CAMPAIGN.id, "a@example.org", "")
    assert sent_campaigns(root) == {CAMPAIGN.id}


def test_one_send_at_a_time(tmp_path):
    path = tmp_path / "comms.sqlite"
    with send_lock(path), pytest.raises(CommsError, match="déjà en cours"), send_lock(path):
        pass
    with send_lock(path):  # released
        pass


# --------------------------------------------------------------------------- creation race


def _open_and_suppress(path: str, email: str, start: float) -> str:
    """In a separate process: open the (maybe not yet existing) journal at `start` (epoch
    seconds) and record one suppression; the error's text, or "" on success."""
    import time
    from pathlib import Path

    from comms.send.journal import Journal
    time.sleep(max(0.0, start - time.time()))
    try:
        with Journal(Path(path)) as journal:
            journal.suppress(email, "unsubscribe", "test")
        return ""
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _record(errors: list[str], path: str, email: str, start: float) -> None:
    errors.append(_open_and_suppress(path, email, start))


def test_concurrent_openers_create_one_journal(tmp_path):
    """Threads and processes that open a journal not created yet, all at once: none fails,
    none replaces another's file (every suppression recorded is in the one journal), and no
    staging file is left beside it."""
    import threading
    import time
    from concurrent.futures import ProcessPoolExecutor

    for attempt in range(3):
        path = tmp_path / f"round{attempt}" / "comms.sqlite"
        start = time.time() + 1.5
        emails = [f"p{attempt}-{i}@example.org" for i in range(12)]
        errors: list[str] = []
        with ProcessPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(_open_and_suppress, str(path), e, start)
                       for e in emails[6:]]
            threads = [threading.Thread(target=_record, args=(errors, str(path), e, start))
                       for e in emails[:6]]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            errors += [f.result() for f in futures]
        assert [e for e in errors if e] == []
        with Journal(path) as journal:
            assert all(journal.is_suppressed(e, "newsletter") for e in emails)
            assert journal.schema_version() == len(MIGRATIONS)
        assert sorted(p.name for p in path.parent.iterdir()
                      if not p.name.startswith("comms.sqlite-")) == ["comms.sqlite"]


def _in_other_process(path: Path, sql: str) -> list:
    """Run `sql` on the database at `path` from a separate process, its connection closed
    before returning (the last one closed checkpoints and deletes the WAL); the rows."""
    code = ("import json, sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1])\n"
            "rows = db.execute(sys.argv[2]).fetchall()\n"
            "db.close()\n"
            "print(json.dumps(rows))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path), sql], capture_output=True,
                          text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def test_a_second_journal_in_the_process_leaves_the_first_ones_writes_durable(tmp_path):
    """Opening a journal must not close a descriptor of its file (that drops the POSIX locks
    of the process's other connections): a process that closes what it takes for the last
    connection would delete the WAL they still write to. Each worker thread of `comms serve`
    opens its own journal, and the send runs in another process."""
    path = tmp_path / "comms.sqlite"
    first = Journal(path)
    try:
        assert first.suppress("avant@example.org", "unsubscribe", "lien")
        Journal(path).close()  # another thread of the same process opens its own
        _in_other_process(path, "SELECT COUNT(*) FROM suppressions")
        assert first.suppress("apres@example.org", "unsubscribe", "lien")
        seen = _in_other_process(path, "SELECT email FROM suppressions ORDER BY email")
        assert seen == [["apres@example.org"], ["avant@example.org"]]
    finally:
        first.close()
    with Journal(path) as journal:
        assert {s.email for s in journal.suppressions()} == {"avant@example.org",
                                                             "apres@example.org"}
