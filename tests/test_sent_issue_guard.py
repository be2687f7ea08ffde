"""An issue that went out (real deliveries through the aiosmtpd server, not outbox deposits)
is not rewritten behind the partners' backs: `check` reports a news item that falls into it
afterwards, with its file, line and the issue to pin it to; a rebuild that would change its
web archive is refused (nothing written) unless --force."""

from __future__ import annotations

from pathlib import Path

from cli_runner import cli
from conftest import news_file, write
from smtp_servers import smtp_env

LATE = "content/news/2027-01-20-tardive.md"



def send(root: Path, env: dict[str, str] | None = None) -> None:
    result = cli("send", "2027-1", "--confirm", "--now", "--root", str(root), env=env)
    assert result.exit_code == 0, result.output


def test_a_news_item_falling_into_a_sent_issue_is_reported(root: Path, smtp_server):
    write(root, ".env", "")
    send(root, smtp_env(smtp_server))
    assert "déjà partie" not in cli("check", "--root", str(root)).output
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    result = cli("check", "--root", str(root))
    assert result.exit_code == 0, result.output  # a warning: the content is valid
    assert (f"{LATE}:3: avertissement\u00a0: date\u00a0: la lettre 2027-1 est déjà "
            "partie\u00a0: épinglez-la avec issue: 2027-2") in result.output
    assert "2027-01-10-a.md" not in result.output  # items that went out are not reported
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20", extra="issue: 2027-2\n"))
    assert "déjà partie" not in cli("check", "--root", str(root)).output
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20", extra="issue: 2027-1\n"))
    pinned = cli("check", "--root", str(root))
    assert f"{LATE}:6: avertissement\u00a0: issue\u00a0: la lettre 2027-1 est déjà" \
        in pinned.output


def test_outbox_deposits_do_not_count_as_sent(root: Path):
    write(root, ".env", "")
    send(root)  # the embedded default: var/outbox, nothing leaves the machine
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    assert "déjà partie" not in cli("check", "--root", str(root)).output
    assert cli("build", "2027-1", "--root", str(root)).exit_code == 0


def test_the_archive_of_a_sent_issue_is_not_rewritten_silently(root: Path, smtp_server):
    write(root, ".env", "")
    assert cli("build", "--all", "--root", str(root)).exit_code == 0
    page = root / "build" / "2027-1" / "index.html"
    send(root, smtp_env(smtp_server))
    before = page.read_bytes()
    again = cli("build", "2027-1", "--root", str(root))  # nothing changed: allowed
    assert again.exit_code == 0, again.output
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    for args in (("build", "2027-1"), ("build", "--all")):
        refused = cli(*args, "--root", str(root))
        assert refused.exit_code == 1, refused.output
        assert "Construction refusée" in refused.output
        assert "l’archive web de la lettre 2027-1 changerait" in refused.output
        assert "--force" in refused.output and "Traceback" not in refused.output
        assert page.read_bytes() == before
    forced = cli("build", "2027-1", "--force", "--root", str(root))
    assert forced.exit_code == 0, forced.output
    assert "Arrivée tardive" in page.read_text(encoding="utf-8")
    # The unsent next issue is built freely.
    assert cli("build", "2027-2", "--root", str(root)).exit_code == 0


def test_sending_a_sent_issue_again_keeps_its_archive_and_the_late_item_warning(
        root: Path, smtp_server):
    """A second `send --confirm` of an issue that went out (a resumed run, nothing left to
    send) neither rebuilds its web archive with a news item added since nor records that
    item as gone out: `check` keeps reporting it."""
    write(root, ".env", "")
    env = smtp_env(smtp_server)
    send(root, env)
    page = root / "build" / "2027-1" / "index.html"
    before = page.read_bytes()
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    send(root, env)
    assert page.read_bytes() == before
    assert "la lettre 2027-1 est déjà partie" in cli("check", "--root", str(root)).output


def test_a_sent_issue_rebuilt_without_its_build_folder_keeps_what_went_out(
        root: Path, smtp_server):
    """On another machine (or after the build folder was cleaned), the archive of a sent
    issue is not rebuilt with a news item that did not go out with it, unless --force."""
    import shutil

    write(root, ".env", "")
    send(root, smtp_env(smtp_server))
    shutil.rmtree(root / "build")
    assert cli("build", "2027-1", "--root", str(root)).exit_code == 0  # same items: allowed
    shutil.rmtree(root / "build")
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    for args in (("build", "2027-1"), ("build", "--all")):
        refused = cli(*args, "--root", str(root))
        assert refused.exit_code == 1, refused.output
        assert "Construction refusée" in refused.output
        assert not (root / "build" / "2027-1").exists()
    forced = cli("build", "2027-1", "--force", "--root", str(root))
    assert forced.exit_code == 0, forced.output


def test_an_issue_sent_by_due_also_reports_late_news(root: Path, smtp_server):
    """`comms due --run --confirm` (what `make daily` runs) records what went out too."""
    write(root, ".env", "")
    result = cli("due", "--run", "--confirm", "--date", "2027-02-15", "--root", str(root),
                 env=smtp_env(smtp_server))
    assert result.exit_code == 0, result.output
    assert smtp_server.handler.messages
    write(root, LATE, news_file("Arrivée tardive", "2027-01-20"))
    assert "la lettre 2027-1 est déjà partie" in cli("check", "--root", str(root)).output
