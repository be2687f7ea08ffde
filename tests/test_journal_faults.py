"""A journal that is empty, corrupt, foreign, read-only or on a full disk is refused with a
French message and nothing is sent; `comms journal backup` and `restore`; an issue already
published but unknown to the journal waits for an explicit confirmation."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import issue_file, write
from smtp_servers import Recorder, smtp_env, start
from test_send import CAMPAIGN, PARTNERS, cli, people, send

from comms.send.journal import JOURNAL_FILE, UNSUBSCRIBE, Journal, JournalError


@pytest.fixture
def territory(root: Path) -> Iterator[tuple[Path, Recorder]]:
    """A territory that already sent issue 2027-1 through a real SMTP server."""
    write(root, "content/partners.csv", PARTNERS)
    with start(Recorder()) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        assert cli("send", "2027-1", "--confirm", "--now", "--root", str(root)).exit_code == 0
        assert len(server.handler.messages) == 3
        server.handler.messages.clear()
        yield root, server.handler


def refused(root: Path, handler: Recorder, *words: str) -> str:
    result = cli("send", "2027-2", "--confirm", "--now", "--root", str(root))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output
    assert handler.messages == [], "nothing is sent"
    return result.output


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """chattr +i: not even root may write (the tests may run as root)."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr indisponible ici: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_journal_truncated_to_zero_bytes_is_refused_not_recreated(territory):
    root, handler = territory
    path = root / JOURNAL_FILE
    path.write_bytes(b"")
    for sidecar in ("comms.sqlite-wal", "comms.sqlite-shm"):
        (path.parent / sidecar).unlink(missing_ok=True)
    out = refused(root, handler, "est vide", "sauvegarde", "var/backups")
    assert "Rien n’a été envoyé" in out
    assert path.stat().st_size == 0, "the file is left as it was"
    again = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
    assert again.exit_code == 1 and handler.messages == []


def test_a_journal_with_garbage_is_refused(territory):
    root, handler = territory
    path = root / JOURNAL_FILE
    with Journal(path):
        pass  # checkpoint the WAL into the file
    data = bytearray(path.read_bytes())
    data[0:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    refused(root, handler, "n’est pas un journal d’envoi", "sauvegarde")


def test_a_journal_corrupted_inside_is_refused(territory):
    root, handler = territory
    path = root / JOURNAL_FILE
    with Journal(path):
        pass
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096
    data[4096 + 100:3 * 4096] = b"\xa5" * (2 * 4096 - 100)  # pages 2 and 3 overwritten
    path.write_bytes(bytes(data))
    refused(root, handler, "endommagé", "sauvegarde")


def test_a_foreign_sqlite_file_is_refused(territory):
    root, handler = territory
    path = root / JOURNAL_FILE
    for p in (path, path.with_name("comms.sqlite-wal"), path.with_name("comms.sqlite-shm")):
        p.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (email TEXT)")
    db.commit()
    db.close()
    refused(root, handler, "n’est pas un journal d’envoi")


def closed_journal(path: Path) -> None:
    """A new journal at PATH, closed, with no -wal or -shm file beside it."""
    with Journal(path):
        pass
    for p in (path.with_name("comms.sqlite-wal"), path.with_name("comms.sqlite-shm")):
        p.unlink(missing_ok=True)


def test_a_read_only_journal_is_refused(territory):
    root, handler = territory
    path = root / JOURNAL_FILE
    closed_journal(path)
    with immutable(path):
        refused(root, handler, "lecture seule")


def test_a_var_folder_not_writable_is_refused(root):
    write(root, "content/partners.csv", PARTNERS)
    (root / "var").mkdir()
    with start(Recorder()) as server, immutable(root / "var"):
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        result = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "droit d’y écrire" in result.output or "écrire" in result.output
        assert server.handler.messages == []


def test_a_full_disk_stops_before_anything_is_sent(tmp_path):
    path = tmp_path / "var" / "comms.sqlite"
    with start(Recorder()) as server:
        with Journal(path) as journal:
            pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
        original = Journal.__init__

        def full(self, *args, **kwargs):  # SQLite's own SQLITE_FULL once the file is at its cap
            original(self, *args, **kwargs)
            self.db.execute(f"PRAGMA max_page_count = {pages}")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Journal, "__init__", full)
            with pytest.raises(sqlite3.OperationalError, match="full") as caught:
                send(tmp_path, smtp_env(server), people(200))
        assert server.handler.messages == []
    from comms.send.journal import journal_error

    assert "disque est plein" in journal_error(path, caught.value).message


# --- backup and restore ------------------------------------------------------------------------

def test_backup_then_restore_after_truncation_keeps_sent_and_unsubscribed(territory):
    root, handler = territory
    assert cli("unsubscribe", "paul.roche@ars.example.org", "--root", str(root)).exit_code == 0
    with Journal.open(root):  # the journal is open (as during a send) while it is copied
        result = cli("journal", "backup", "--root", str(root))
    assert result.exit_code == 0, result.output
    backups = sorted((root / "var" / "backups").glob("comms-*.sqlite"))
    assert len(backups) == 1 and "var/backups" in result.output
    with Journal(backups[0]) as copy:
        assert copy.suppression("paul.roche@ars.example.org").reason == UNSUBSCRIBE
        assert len(copy.messages(CAMPAIGN.id)) == 3

    (root / JOURNAL_FILE).write_bytes(b"")
    dry = cli("journal", "restore", str(backups[0]), "--root", str(root))
    assert dry.exit_code == 0 and (root / JOURNAL_FILE).stat().st_size == 0
    done = cli("journal", "restore", str(backups[0]), "--confirm", "--root", str(root))
    assert done.exit_code == 0, done.output
    assert list((root / "var").glob("comms.sqlite.remplacé-*")), "the broken one is kept"
    again = cli("send", "2027-1", "--confirm", "--now", "--root", str(root))
    assert again.exit_code == 0 and "envoyés\u00a0: 0" in again.output
    assert handler.messages == []


def test_restore_refuses_a_backup_that_is_not_a_journal(territory, tmp_path):
    root, _ = territory
    fake = tmp_path / "faux.sqlite"
    fake.write_bytes(b"")
    result = cli("journal", "restore", str(fake), "--confirm", "--root", str(root))
    assert result.exit_code == 1 and "est vide" in result.output
    with Journal.open(root) as journal:  # the journal in place is untouched
        assert len(journal.messages(CAMPAIGN.id)) == 3


def test_backup_without_a_journal_says_so(root):
    result = cli("journal", "backup", "--root", str(root))
    assert result.exit_code == 1 and "rien n’a encore été envoyé" in result.output


def test_an_interrupted_creation_never_leaves_an_empty_journal(tmp_path):
    path = tmp_path / "var" / "comms.sqlite"
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "comms.sqlite.new").write_bytes(b"")  # a creation killed midway
    # ...and one by a process that no longer runs (PIDs stay below 2**22 on Linux).
    (tmp_path / "var" / "comms.sqlite.new-99999999-1-0a0b").write_bytes(b"")
    with Journal(path) as journal:
        assert journal.schema_version() > 0
    assert not (tmp_path / "var" / "comms.sqlite.new").exists()
    assert not (tmp_path / "var" / "comms.sqlite.new-99999999-1-0a0b").exists()
    with pytest.raises(JournalError):
        path.write_bytes(b"")
        Journal(path)


# --- an issue already published that the journal never saw ------------------------------------

def test_an_issue_already_published_but_unknown_asks_for_confirmation(root):
    write(root, "content/partners.csv", PARTNERS)
    write(root, "content/issues/2026-1.md", issue_file(1, "2026-02-15", "Hiver 2026"))
    with start(Recorder()) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        dry = cli("send", "2026-1", "--root", str(root))
        assert dry.exit_code == 0 and "aucune trace" in dry.output
        result = cli("send", "2026-1", "--confirm", "--now", "--root", str(root))
        assert result.exit_code == 1 and "--first-time" in result.output
        assert "comms journal restore" in result.output
        assert server.handler.messages == []
        confirmed = cli("send", "2026-1", "--confirm", "--now", "--first-time", "--root", str(root))
        assert confirmed.exit_code == 0, confirmed.output
        assert len(server.handler.messages) == 3
        # Known to the journal from now on: an interrupted or repeated send needs nothing more.
        again = cli("send", "2026-1", "--confirm", "--now", "--root", str(root))
        assert again.exit_code == 0 and "envoyés\u00a0: 0" in again.output


def test_plan_with_an_impossible_year_is_a_french_error(root):
    result = cli("plan", "99999", "--root", str(root))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "99999 est hors des valeurs possibles" in result.output
    assert not (root / "content" / "issues" / "99999-1.md").exists()


def test_a_disk_write_error_is_not_called_a_damaged_journal(territory):
    """SQLite's "disk I/O error" (here: a file size limit the journal's shared memory file
    cannot grow past) says nothing against the journal: never advise to replace it."""
    import resource
    import signal
    import sys

    root, handler = territory

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    for name in ("comms.sqlite-wal", "comms.sqlite-shm"):
        (root / "var" / name).unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "comms", "send", "2027-2", "--confirm",
                           "--root", str(root)], capture_output=True, text=True,
                          preexec_fn=limited, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "endommagé" not in done.stderr and "sauvegarde" not in done.stderr
    assert "n’est pas en cause" in done.stderr and "Rien n’a été envoyé" in done.stderr
    assert handler.messages == []


def test_an_unsubscribe_the_journal_refuses_is_never_announced_as_done(territory):
    root, _ = territory
    path = root / JOURNAL_FILE
    closed_journal(path)
    with immutable(path):
        result = cli("unsubscribe", "inconnue@exemple.org", "--root", str(root))
    assert result.exit_code == 1 and "lecture seule" in result.output
    assert "désinscrite" not in result.output and "est désinscrit" not in result.output
    assert "n’est pas dans l’annuaire" not in result.output  # said once it is recorded
    with Journal(path) as journal:
        assert journal.suppression("inconnue@exemple.org", "all") is None
    done = cli("unsubscribe", "inconnue@exemple.org", "--root", str(root))
    assert done.exit_code == 0 and "n’est pas dans l’annuaire" in done.output
    assert "est désinscrit" in done.output
