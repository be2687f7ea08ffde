"""The public side: `comms publish` (only public files, byte-stable, atomic) and `comms serve`
under its production server (uvicorn on 127.0.0.1): the site with every image, feeds with
validators, and the RFC 8058 one-click unsubscribe recorded in the real journal."""

from __future__ import annotations

import email
import email.policy
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import cli_runner as runner
import pytest
import requests
from click.testing import CliRunner
from conftest import news_file, write
from smtp_servers import smtp_env
from web_server import child_env, running

from comms.cli import main
from comms.send.journal import Journal
from comms.send.tokens import make_token
from comms.settings import load_settings

SECRET = "test-secret-0123456789abcdef"
TODAY = "2027-03-01"  # 2027-1 has appeared (15 February), 2027-2 has not (15 June)
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
PARTNERS = """\
email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on
anne.durand@mairie.example.org;Anne;Durand;Mairie;Adjointe;newsletter|copil;2026-01-10;
paul.roche@ars.example.org;Paul;Roche;ARS;Délégué;newsletter|copil;2026-01-10;
sans.nom@unafam.example.org;;;UNAFAM;;newsletter;2026-01-10;
"""


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.forms: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and values.get("src"):
            self.images.append(values["src"] or "")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        if tag == "form":
            self.forms.append(values)


def links(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def token_for(root: Path, address: str, scope: str = "newsletter") -> str:
    """A token as the territory's messages carry it (its secret, bound to its name)."""
    return make_token(load_settings(root, environ={}).require_secret(), address, scope)


def cli(*args: str):
    clean: dict[str, str | None] = {k: None for k in os.environ
                                    if k.startswith(("COMMS_", "SMTP_", "BREVO_"))}
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)


@pytest.fixture
def territory(root: Path) -> Path:
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", f"COMMS_UNSUBSCRIBE_SECRET={SECRET}\n")
    # comms serve answers the unsubscribe URL: the messages may announce one-click.
    config = (root / "comms.yaml").read_text(encoding="utf-8")
    write(root, "comms.yaml", config.replace("unsubscribe:\n", "unsubscribe:\n  one_click: true\n"))
    write(root, "content/news/2027-01-12-photo.md", news_file(
        "Avec photo", "2027-01-12", extra="image: content/images/photo.png\n"
        "image_alt: Une photo\n"))
    write(root, "content/news/2027-01-13-brouillon.md", news_file(
        "Brouillon secret", "2027-01-13", extra="draft: true\n"))
    return root


@pytest.fixture
def server(territory: Path):
    with running("serve", "--port", "0", "--root", str(territory), "--today", TODAY) as srv:
        yield srv


# --------------------------------------------------------------------------- publish


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (inode, mtime in ns) of every file."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_publish_writes_only_public_files_and_is_byte_stable(territory, tmp_path):
    dest = tmp_path / "www" / "lettre"
    result = cli("publish", str(dest), "--root", str(territory), "--today", TODAY)
    assert result.exit_code == 0, result.output
    files = set(tree(dest))
    assert "index.html" in files and "2027-1/index.html" in files
    assert "2027-1/images/photo.png" in files
    assert any(f.startswith("2027-1/agenda/") and f.endswith(".ics") for f in files)
    assert "calendars/agenda.ics" in files
    assert not any(f.startswith("2027-2/") for f in files)  # not yet published
    assert not any(f.endswith((".eml", ".mjml", ".csv", ".sqlite")) or ".env" in f
                   for f in files)
    everything = "".join(p.read_text(encoding="utf-8", errors="replace")
                         for p in dest.rglob("*") if p.is_file())
    assert "Brouillon secret" not in everything
    assert "anne.durand" not in everything and "paul.roche" not in everything

    index = (dest / "index.html").read_text(encoding="utf-8")
    assert 'href="./2027-1/"' in index and "2027-2" not in index
    # Subscribing needs the feed's full address, even on a page with relative links.
    assert "webcal://sante.example.org/lettre/calendars/agenda.ics" in index
    page = links((dest / "2027-1" / "index.html").read_text(encoding="utf-8"))
    assert page.images and all(src.startswith("../2027-1/images/") for src in page.images)
    for src in page.images:
        assert (dest / "2027-1" / src).resolve().is_file()

    before = tree(dest)
    again = cli("publish", str(dest), "--root", str(territory), "--today", TODAY)
    assert again.exit_code == 0 and "0 écrit," in again.output, again.output
    assert tree(dest) == before  # same inodes, same times: nothing rewritten

    later = cli("publish", str(dest), "--root", str(territory), "--today", "2027-06-20")
    assert later.exit_code == 0, later.output
    after = tree(dest)
    assert "2027-2/index.html" in after
    assert after["2027-1/images/photo.png"] == before["2027-1/images/photo.png"]


def test_failed_publish_leaves_the_previous_site_whole(territory, tmp_path):
    dest = tmp_path / "lettre"
    assert cli("publish", str(dest), "--root", str(territory), "--today", TODAY).exit_code == 0
    before = {p: (dest / p).read_bytes() for p in tree(dest)}
    # A broken news item: nothing may be published, the old site stays.
    write(territory, "content/news/2027-01-14-cassee.md", "---\ntitle: X\ndate: 2027-13-45\n"
          "dispositif: CLSM\nsection: news\n---\nTexte.\n")
    result = cli("publish", str(dest), "--root", str(territory), "--today", "2027-06-20")
    assert result.exit_code == 1 and "2027-01-14-cassee.md" in result.output
    assert {p: (dest / p).read_bytes() for p in tree(dest)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lettre", "territoire"]


def test_publish_refuses_a_folder_it_did_not_write(territory, tmp_path):
    dest = tmp_path / "documents"
    write(dest, "important.txt", "à garder")
    result = cli("publish", str(dest), "--root", str(territory), "--today", TODAY)
    assert result.exit_code == 1
    assert "n’a pas été écrit par comms publish" in result.output
    assert (dest / "important.txt").read_text(encoding="utf-8") == "à garder"


@pytest.mark.skipif(not __import__("shutil").which("rsync"), reason="rsync is not installed")
def test_publish_with_rsync_and_a_refused_copy(territory, tmp_path):
    dest = tmp_path / "rsync-dest"
    result = cli("publish", str(dest), "--rsync", "--root", str(territory), "--today", TODAY)
    assert result.exit_code == 0, result.output
    before = tree(dest)
    assert "2027-1/index.html" in before
    again = cli("publish", str(dest), "--rsync", "--root", str(territory), "--today", TODAY)
    assert "0 écrit," in again.output, again.output
    assert tree(dest) == before
    bad = cli("publish", "nobody@host.invalid:/srv/lettre", "--root", str(territory),
              "--today", TODAY)
    assert bad.exit_code == 1 and "rsync a échoué" in bad.output
    assert "rsync error:" not in bad.output  # the cause is named, not rsync's summary
    assert "site déjà en ligne n’a pas été modifié" in bad.output


def test_publish_through_a_link_to_the_served_folder(territory, tmp_path):
    served = tmp_path / "srv-lettre"
    served.mkdir()
    link = tmp_path / "www-lettre"
    link.symlink_to(served)
    for _ in range(2):
        result = cli("publish", str(link), "--root", str(territory), "--today", TODAY)
        assert result.exit_code == 0, result.output
        assert link.is_symlink() and (served / "2027-1" / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["srv-lettre", "territoire",
                                                          "www-lettre"]


@pytest.mark.skipif(not __import__("shutil").which("rsync"), reason="rsync is not installed")
def test_rsync_refuses_a_folder_it_did_not_write(territory, tmp_path):
    dest = tmp_path / "mairie"
    write(dest, "index.html", "site de la mairie")
    write(dest, "docs/arrêté municipal.pdf", "à garder")
    result = cli("publish", str(dest), "--rsync", "--root", str(territory), "--today", TODAY)
    assert result.exit_code == 1
    assert "n’a pas été écrit par comms publish" in result.output
    assert (dest / "index.html").read_text(encoding="utf-8") == "site de la mairie"
    assert (dest / "docs" / "arrêté municipal.pdf").is_file()
    assert not (dest / "2027-1").exists()


# --------------------------------------------------------------------------- serve: the site


def test_site_pages_images_and_feeds_answer(server):
    index = requests.get(server.site_url, timeout=10)
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    assert "max-age" in index.headers["cache-control"]
    issue = next(h for h in links(index.text).links if h.endswith("2027-1/"))
    page_url = urljoin(server.site_url, issue)
    page = requests.get(page_url, timeout=10)
    assert page.status_code == 200
    found = links(page.text)
    assert len(found.images) >= 1
    for src in found.images:
        image = requests.get(urljoin(page_url, src), timeout=10)
        assert image.status_code == 200, src
        assert image.headers["content-type"] == "image/png"
    local = [h for h in found.links if h.endswith(".ics") and h.startswith("../")]
    assert local
    for href in local:
        ics = requests.get(urljoin(page_url, href), timeout=10)
        assert ics.status_code == 200, href
        assert ics.headers["content-type"] == "text/calendar; charset=utf-8"
        assert ics.content.startswith(b"BEGIN:VCALENDAR")

    feed_url = urljoin(server.site_url, "calendars/agenda.ics")
    feed = requests.get(feed_url, timeout=10)
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    etag, modified = feed.headers["etag"], feed.headers["last-modified"]
    assert requests.get(feed_url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert requests.get(feed_url, headers={"If-Modified-Since": modified},
                        timeout=10).status_code == 304
    missing = requests.get(urljoin(server.site_url, "2027-2/"), timeout=10)
    assert missing.status_code == 404 and "Page introuvable" in missing.text
    assert "Traceback" not in missing.text


def test_a_republished_feed_is_served_anew_and_a_huge_one_still_streams(territory, server):
    """Small files are answered from memory while unchanged: a file renamed into place (as
    `comms publish` does) is seen at the next request, with its own ETag."""
    feed_url = urljoin(server.site_url, "calendars/agenda.ics")
    first = requests.get(feed_url, timeout=10)
    assert requests.get(feed_url, timeout=10).content == first.content  # from memory
    path = territory / "build" / "site" / "calendars" / "agenda.ics"
    staged = path.with_name("agenda.ics.new")
    staged.write_bytes(first.content + b"\r\n")
    staged.replace(path)
    second = requests.get(feed_url, timeout=10)
    assert second.content == first.content + b"\r\n"
    assert second.headers["etag"] != first.headers["etag"]
    assert int(second.headers["content-length"]) == len(second.content)
    assert requests.get(feed_url, headers={"If-None-Match": second.headers["etag"]},
                        timeout=10).status_code == 304
    big = path.with_name("grand.ics")
    big.write_bytes(b"X" * (1024 * 1024))
    answer = requests.get(urljoin(server.site_url, "calendars/grand.ics"), timeout=10)
    assert answer.status_code == 200 and len(answer.content) == 1024 * 1024
    head = requests.head(feed_url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(second.content)


def test_email_images_may_be_shown_by_a_webmail_of_another_origin(territory, server):
    # A webmail (Zimbra, Roundcube) loads the email's images from its own origin: a
    # « same-origin » resource policy would make the browser block them.
    image = requests.get(urljoin(server.site_url, "2027-1/images/photo.png"), timeout=10)
    assert image.status_code == 200
    assert image.headers["cross-origin-resource-policy"] == "cross-origin"
    feed = requests.get(urljoin(server.site_url, "calendars/agenda.ics"), timeout=10)
    assert feed.headers["cross-origin-resource-policy"] == "cross-origin"
    token = token_for(territory, "anne.durand@mairie.example.org")
    page = requests.get(f"{server.unsubscribe_url}?t={token}", timeout=10)
    assert page.headers["cross-origin-resource-policy"] == "same-origin"


def test_serve_answers_at_french_paths(territory):
    config = (territory / "comms.yaml").read_text(encoding="utf-8")
    config = config.replace("https://sante.example.org/lettre/",
                            "https://sante.example.org/lettre-santé/")
    config = config.replace("https://sante.example.org/desinscription",
                            "https://sante.example.org/désinscription")
    write(territory, "comms.yaml", config)
    with running("serve", "--port", "0", "--root", str(territory), "--today", TODAY) as srv:
        assert srv.site_url.endswith("/lettre-sant%C3%A9/")
        assert srv.unsubscribe_url.endswith("/d%C3%A9sinscription")
        assert requests.get(srv.site_url, timeout=10).status_code == 200
        image = urljoin(srv.site_url, "2027-1/images/photo.png")
        assert requests.head(image, timeout=10).status_code == 200
        token = token_for(territory, "anne.durand@mairie.example.org")
        url = f"{srv.unsubscribe_url}?t={token}"
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "Confirmer la désinscription" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert requests.post(url, data=ONE_CLICK, timeout=10).status_code == 200
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")


# --------------------------------------------------------------------------- serve: unsubscribe


def local(server, url: str) -> str:
    """The public unsubscribe URL of a message, pointed at the test server."""
    parts = urlsplit(url)
    return urljoin(server.unsubscribe_url, parts.path) + "?" + parts.query


def sent_messages(root: Path) -> list[email.message.EmailMessage]:
    folder = root / "var" / "outbox" / "new"
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.iterdir())]


def test_one_click_from_a_real_message_then_the_next_send_skips_her(territory, server):
    result = cli("send", "2027-1", "--confirm", "--root", str(territory))
    assert result.exit_code == 0, result.output
    anne = next(m for m in sent_messages(territory)
                if m["To"].endswith("<anne.durand@mairie.example.org>"))
    https = next(part.strip("<> ") for part in anne["List-Unsubscribe"].split(",")
                 if "https://" in part)
    assert anne["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    answer = requests.post(local(server, https), data=ONE_CLICK, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 200, answer.text
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    assert "Désinscription enregistrée" in answer.text
    with Journal.open(territory) as journal:  # recorded before the answer
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")
        # The newsletter's link stops the newsletter, not her council's invitations.
        assert not journal.is_suppressed("anne.durand@mairie.example.org", "instance:copil")
        assert not journal.is_suppressed("paul.roche@ars.example.org")

    dry = cli("send", "2027-2", "--root", str(territory))
    assert dry.exit_code == 0, dry.output
    assert "2 destinataires la recevraient" in dry.output
    assert "1 écarté" in dry.output


def test_one_click_from_a_message_received_by_smtp_then_a_dry_run_skips_her(
        territory, server, smtp_server):
    # The List-Unsubscribe header as the partner's server received it (raw bytes, folded
    # as sent), not as the outbox wrote it.
    env = smtp_env(smtp_server)
    result = runner.cli("send", "2027-1", "--confirm", "--now", "--root", str(territory),
                        env=env)
    assert result.exit_code == 0, result.output
    raw = next(m.data for m in smtp_server.handler.messages
               if m.rcpt_tos == ["anne.durand@mairie.example.org"])
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
    assert fields[b"List-Unsubscribe-Post"] == b"List-Unsubscribe=One-Click"
    https = re.search(rb"<(https://[^>]+)>", fields[b"List-Unsubscribe"]).group(1).decode()

    answer = requests.post(local(server, https), data="List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 200, answer.text
    assert "Désinscription enregistrée" in answer.text

    dry = runner.cli("send", "2027-2", "--root", str(territory), env=env)
    assert dry.exit_code == 0, dry.output
    assert "2 destinataires la recevraient" in dry.output
    assert "1 écarté" in dry.output
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")
        assert not journal.is_suppressed("paul.roche@ars.example.org")


def test_one_click_as_multipart_form_data(territory, server):
    token = token_for(territory, "paul.roche@ars.example.org")
    answer = requests.post(f"{server.unsubscribe_url}?t={token}", files={
        "List-Unsubscribe": (None, "One-Click")}, timeout=10)
    assert answer.status_code == 200, answer.text
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("paul.roche@ars.example.org")


def test_get_shows_a_confirmation_page_and_records_nothing(territory, server):
    token = token_for(territory, "anne.durand@mairie.example.org")
    page = requests.get(f"{server.unsubscribe_url}?t={token}", timeout=10)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="fr"' in page.text and "Se désinscrire" in page.text
    assert "anne.durand@mairie.example.org" in page.text
    assert "Confirmer la désinscription" in page.text
    (form,) = links(page.text).forms
    assert form["method"] == "post"
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert "http://" not in page.text.split("<footer")[0].replace(server.unsubscribe_url, "")
    with Journal.open(territory) as journal:
        assert not journal.is_suppressed("anne.durand@mairie.example.org")
    # A newsletter token offers the newsletter (checked) or everything.
    assert page.text.count('type="radio"') == 2
    assert 'value="newsletter" checked' in page.text and 'value="all"' in page.text
    # The button posts the form to the same address; she chose everything.
    done = requests.post(f"{server.unsubscribe_url}?t={token}",
                         data={"List-Unsubscribe": "One-Click", "scope": "all"}, timeout=10)
    assert done.status_code == 200 and "ne recevra plus aucun message de la coordination" in done.text
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")
        assert journal.is_suppressed("anne.durand@mairie.example.org", "instance:copil")


def test_an_invitation_token_names_its_instance(territory, server):
    token = token_for(territory, "paul.roche@ars.example.org", "instance:copil")
    page = requests.get(f"{server.unsubscribe_url}?t={token}", timeout=10)
    assert "invitations de «\u00a0Comité de pilotage\u00a0»" in page.text
    wider = requests.post(f"{server.unsubscribe_url}?t={token}",
                          data={"List-Unsubscribe": "One-Click", "scope": "newsletter"},
                          timeout=10)
    assert wider.status_code == 400  # only its own scope, or everything
    done = requests.post(f"{server.unsubscribe_url}?t={token}", data=ONE_CLICK, timeout=10)
    assert done.status_code == 200
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("paul.roche@ars.example.org", "instance:copil")
        assert not journal.is_suppressed("paul.roche@ars.example.org", "newsletter")


def test_a_token_for_everything_reads_no_message_at_all(territory, server):
    token = token_for(territory, "paul.roche@ars.example.org", "all")
    page = requests.get(f"{server.unsubscribe_url}?t={token}", timeout=10)
    assert page.status_code == 200
    assert "Vous ne recevrez plus aucun message de la coordination." in page.text
    assert "tous les messages" not in page.text
    done = requests.post(f"{server.unsubscribe_url}?t={token}", data=ONE_CLICK, timeout=10)
    assert "ne recevra plus aucun message de la coordination." in done.text


@pytest.mark.parametrize("kind", ["forged", "truncated", "junk", "empty"])
def test_bad_tokens_get_a_french_400_and_nothing_is_recorded(territory, server, kind):
    good = token_for(territory, "anne.durand@mairie.example.org")
    token = {"forged": make_token("another-territory-secret-xyz", "anne.durand@mairie.example.org", "newsletter"),
             "truncated": good[:-6], "junk": good + "%00<script>", "empty": ""}[kind]
    for method in ("GET", "POST"):
        answer = requests.request(method, f"{server.unsubscribe_url}?t={token}",
                                  data=ONE_CLICK if method == "POST" else None, timeout=10)
        assert answer.status_code == 400
        assert "Lien de désinscription invalide" in answer.text
        assert "<script>" not in answer.text and "Traceback" not in answer.text
    with Journal.open(territory) as journal:
        assert journal.suppressed() == {}


def test_another_territorys_token_gets_the_page_of_any_invalid_link(territory, server):
    """The server's log tells the coordinator; the page tells a visitor nothing more than
    for a forged link."""
    anne = "anne.durand@mairie.example.org"
    foreign = make_token("another-territory-secret-xyz", anne, "newsletter")
    forged = token_for(territory, anne)[:-2] + "AA"
    pages = []
    for token in (foreign, forged):
        answer = requests.post(f"{server.unsubscribe_url}?t={token}", data=ONE_CLICK, timeout=10)
        assert answer.status_code == 400
        pages.append(answer.text)
    assert pages[0] == pages[1]
    assert "Lien de désinscription invalide" in pages[0]
    deadline = time.monotonic() + 10
    while not any("autre territoire" in line for line in server.output):
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.05)
    logged = "".join(server.output)
    assert logged.count("autre territoire") == 1  # the forged link is not called foreign
    assert anne not in logged and foreign not in logged
    with Journal.open(territory) as journal:
        assert journal.suppressed() == {}


def test_requests_are_bounded(territory, server):
    token = token_for(territory, "anne.durand@mairie.example.org")
    big = requests.post(f"{server.unsubscribe_url}?t={token}",
                        data={"List-Unsubscribe": "One-Click", "x": "a" * 20_000}, timeout=10)
    assert big.status_code == 413 and "Requête trop volumineuse" in big.text
    missing_body = requests.post(f"{server.unsubscribe_url}?t={token}", timeout=10)
    assert missing_body.status_code == 400
    with Journal.open(territory) as journal:
        assert journal.suppressed() == {}
    statuses = [requests.get(f"{server.unsubscribe_url}?t=forged{i}", timeout=10).status_code
                for i in range(25)]
    assert statuses[:20] == [400] * 20 and statuses[-1] == 429
    limited = requests.get(f"{server.unsubscribe_url}?t=forged", timeout=10)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60  # seconds (RFC 9110 §10.2.3)


SMALL_SERVER = """
import sys
from pathlib import Path
from comms import content
from comms.web import server
from comms.settings import load_settings
from comms.web.app import ServeConfig, create_app
project = content.load_project(Path(sys.argv[1]))
secret = load_settings(project.site.root).require_secret()
app = create_app(ServeConfig(root=project.site.root, site=project.site, site_dir=None,
                             secret=secret, max_in_flight=2))
sock = server.bind("127.0.0.1", 0)
print("Site\\u00a0: " + server.base_url(sock) + "/", flush=True)
print("Désinscription\\u00a0: " + server.base_url(sock) + "/desinscription", flush=True)
server.run(app, sock)
"""


def test_a_flood_gets_a_french_503_and_the_server_recovers(territory):
    import socket

    process = subprocess.Popen([sys.executable, "-c", SMALL_SERVER, str(territory)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=child_env())
    held: list[socket.socket] = []
    try:
        assert process.stdout is not None
        process.stdout.readline()
        url = process.stdout.readline().split("\u00a0: ", 1)[1].strip()
        host, port = urlsplit(url).hostname, urlsplit(url).port
        token = token_for(territory, "anne.durand@mairie.example.org")
        for _ in range(2):  # two one-click POSTs whose bodies are slow to come
            conn = socket.create_connection((host, port), timeout=10)
            conn.sendall(f"POST /desinscription?t={token} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\n"
                         f"Content-Length: {len('List-Unsubscribe=One-Click')}\r\n\r\n"
                         .encode())
            held.append(conn)
        busy = None
        for _ in range(50):  # until the server has read both requests
            busy = requests.get(f"{url}?t={token}", timeout=10)
            if busy.status_code == 503:
                break
        assert busy is not None and busy.status_code == 503
        assert "Service momentanément indisponible" in busy.text
        assert busy.headers["retry-after"] == "5"
        assert busy.headers["content-type"].startswith("text/html")
        answers = []
        for conn in held:
            conn.sendall(b"List-Unsubscribe=One-Click")
            answers.append(conn.recv(4096))
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
        assert requests.get(f"{url}?t={token}", timeout=10).status_code == 200
    finally:
        for conn in held:
            conn.close()
        process.terminate()
        process.wait(timeout=20)
    with Journal.open(territory) as journal:
        assert journal.is_suppressed("anne.durand@mairie.example.org", "newsletter")


def bad_token_statuses(url: str, forwarded_for: str | None = None) -> list[int]:
    """25 bad tokens from 127.0.0.5 (a proxy that is not on 127.0.0.1, as seen from a
    container), each for another visitor when `forwarded_for` is given."""
    import http.client

    parts = urlsplit(url)
    statuses = []
    for i in range(25):
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10,
                                          source_address=("127.0.0.5", 0))
        headers = {"X-Forwarded-For": f"{forwarded_for}{i}"} if forwarded_for else {}
        conn.request("GET", f"{parts.path}?t=forged{i}", headers=headers)
        statuses.append(conn.getresponse().status)
        conn.close()
    return statuses


def test_the_proxy_names_each_visitor_for_the_bad_token_limit(territory):
    with running("serve", "--port", "0", "--root", str(territory), "--today", TODAY,
                 "--proxy", "127.0.0.5") as srv:
        assert bad_token_statuses(srv.unsubscribe_url, "203.0.113.") == [400] * 25
        # The proxy's own requests (no X-Forwarded-For) share one limit.
        assert bad_token_statuses(srv.unsubscribe_url)[-1] == 429
    with running("serve", "--port", "0", "--root", str(territory), "--today", TODAY) as srv:
        # Not trusted by default: a forged X-Forwarded-For does not escape the limit.
        assert bad_token_statuses(srv.unsubscribe_url, "203.0.113.")[-1] == 429


def many_partners(count: int) -> str:
    rows = ["email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on"]
    rows += [f"p{i:03d}@structure.example.org;P{i};N{i};S;;newsletter;2026-01-10;"
             for i in range(count)]
    return "\n".join(rows) + "\n"


def test_concurrent_one_click_posts_during_a_send(territory, server):
    count = 300
    write(territory, "content/partners.csv", many_partners(count))
    leaving = [f"p{i:03d}@structure.example.org" for i in range(0, count, 3)]
    send = subprocess.Popen([sys.executable, "-m", "comms", "send", "2027-1", "--confirm",
                             "--root", str(territory)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=child_env({"COMMS_RATE_PER_MINUTE": "0"}))
    started = threading.Event()
    secret_tokens = {a: token_for(territory, a) for a in leaving}

    def post(address: str) -> int:
        started.wait(10)
        url = f"{server.unsubscribe_url}?t={secret_tokens[address]}"
        return requests.post(url, data=ONE_CLICK, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(post, a) for a in leaving]
        started.set()
        statuses = [f.result() for f in futures]
    output, _ = send.communicate(timeout=120)
    assert send.returncode == 0, output
    assert statuses == [200] * len(leaving), "".join(server.output)[-3000:]
    with Journal.open(territory) as journal:
        assert set(journal.suppressed()) == set(leaving)
        rows = journal.messages("newsletter-2027-1")
        assert {r.status for r in rows.values()} <= {"sent", "skipped"}
    db = sqlite3.connect(territory / "var" / "comms.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    dry = cli("send", "2027-2", "--root", str(territory))
    assert f"{count - len(leaving)} destinataires la recevraient" in dry.output, dry.output


def test_serve_reports_a_port_in_use_and_a_missing_site(territory, server, tmp_path):
    port = urlsplit(server.site_url).port
    served = tree(territory / "build" / "site")
    result = cli("serve", "--port", str(port), "--root", str(territory), "--today", "2027-06-20")
    assert result.exit_code == 1 and f"Le port {port} est déjà utilisé" in result.output
    assert tree(territory / "build" / "site") == served  # the running server's site untouched
    result = cli("serve", "--port", "0", "--site", str(tmp_path / "nulle-part"),
                 "--root", str(territory))
    assert result.exit_code == 1 and "ne contient pas de site publié" in result.output


# --------------------------------------------------------------------------- preview


def test_preview_serves_the_email_and_page_locally_and_rebuilds(territory):
    import time

    with running("preview", "2027-1", "--no-browser", "--root", str(territory),
                 "--today", "2027-01-01") as srv:  # before it appears
        side = requests.get(srv.site_url, timeout=10)
        assert side.status_code == 200 and "Aperçu de la lettre 2027-1" in side.text
        assert side.headers["x-frame-options"] == "SAMEORIGIN"
        frames = [src for src in (a.split('"')[0] for a in side.text.split('src="')[1:])]
        assert "2027-1/email.html" in frames and "2027-1/" in frames
        base = urljoin(srv.site_url, "/")
        email_html = requests.get(urljoin(srv.site_url, "2027-1/email.html"), timeout=10)
        assert email_html.status_code == 200
        images = links(email_html.text).images
        assert images and all(src.startswith(base) for src in images)
        for src in images:
            assert requests.get(src, timeout=10).status_code == 200, src
        page_url = urljoin(srv.site_url, "2027-1/")
        assert requests.get(page_url, timeout=10).status_code == 200

        write(territory, "content/issues/2027-1.md",
              "---\nnumber: 1\npublish_on: 2027-02-15\nperiod: Hiver 2027\n---\n"
              "Édito réécrit pendant l’aperçu.\n")
        deadline = time.monotonic() + 30
        while "Édito réécrit" not in requests.get(page_url, timeout=10).text:
            assert time.monotonic() < deadline, "".join(srv.output)
            time.sleep(0.2)
        while not any("Aperçu reconstruit" in line for line in srv.output):
            assert time.monotonic() < deadline, "".join(srv.output)
            time.sleep(0.1)
    # Once stopped (Ctrl-C, SIGTERM), the preview's temporary folder is gone.
    assert srv.process.returncode == 0, "".join(srv.output)
    deadline = time.monotonic() + 10
    while not any("Aperçu arrêté." in line for line in srv.output):
        assert time.monotonic() < deadline, "".join(srv.output)
        time.sleep(0.05)
    assert not any("Relancez" in line for line in srv.output)  # the send's wording
    built = next(line for line in srv.output if "aperçu construit dans" in line)
    folder = Path(built.rsplit(" dans ", 1)[1].rstrip(".\n"))
    assert folder.name == "site" and not folder.parent.exists()


def test_publish_removes_the_staging_folders_a_killed_publish_left(territory, tmp_path):
    import tempfile

    dest = tmp_path / "www" / "lettre"
    dest.parent.mkdir(parents=True)
    # What a publication killed while writing leaves beside the site (same naming).
    stale = Path(tempfile.mkdtemp(prefix=".lettre.new-", dir=dest.parent))
    (stale / "2027-1").mkdir()
    (stale / "2027-1" / "index.html").write_text("à moitié", encoding="utf-8")
    # Not of its naming: another site's staging, a file, a look-alike name.
    others = [Path(tempfile.mkdtemp(prefix=".archives.new-", dir=dest.parent)),
              dest.parent / ".lettre.new-notes", dest.parent / "lettre.new-abcd1234"]
    others[1].mkdir()
    others[2].write_text("x", encoding="utf-8")

    result = cli("publish", str(dest), "--root", str(territory), "--today", TODAY)
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert all(p.exists() for p in others)
    assert sorted(p.name for p in dest.parent.iterdir()) == \
        sorted(["lettre", *(p.name for p in others)])
