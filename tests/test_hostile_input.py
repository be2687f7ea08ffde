"""Hostile or damaged input is refused at read time, with file, line and field, and nothing is
built or sent: invisible characters in one-line fields, URLs that would split
List-Unsubscribe, YAML alias bombs and deep nesting, file names with line breaks, files
leading outside the territory; very long display names stay within RFC 5322 / 2047 limits;
an accented SMTP password works; a damaged local outbox is repaired."""

from __future__ import annotations

import email
import email.policy
import os
import tracemalloc
import unicodedata
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from conftest import CONFIG, PNG, event_file, news_file, write
from smtp_servers import Authenticator, Recorder, smtp_env, start
from test_send import PARTNERS, cli
from test_transports_smtp import message, transport

from comms import content
from comms.model import Address
from comms.send.headers import format_address
from comms.send.message import OutgoingMessage

INVISIBLE = ["\x00", "\x0b", "\x0c", "\x1c", "\x1e", "\u2028", "\u2029", "\x85"]


def errors(root: Path) -> list[str]:
    _, problems = content.inspect(root)
    return [p.format(root) for p in problems if p.is_error]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_an_invisible_character_in_a_title_is_refused_with_file_line_field(root, char):
    write(root, "content/news/2027-01-10-a.md", news_file(f"Premi{char}ère", "2027-01-10"))
    found = errors(root)
    assert found == [f"content/news/2027-01-10-a.md:2: title\u00a0: caractère invisible "
                     f"U+{ord(char):04X} dans la valeur — retapez cette ligne au clavier (un "
                     "copier-coller l’a sans doute apporté)"]


def test_invisible_characters_are_unicode_controls_and_separators_but_tab():
    from comms.content.fields import invisible_character

    for code in range(0x110000):
        char = chr(code)
        invisible = char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp")
        assert invisible_character(f"a{char}b") == (f"U+{code:04X}" if invisible else None)


@pytest.mark.parametrize("escape", ["\\v", "\\f", "\\x1c", "\\x1e", "\\L", "\\P", "\\N", "\\0"])
def test_an_escaped_invisible_character_is_refused_too(root, escape):
    write(root, "calendars/events/2027-03-copil.md",
          event_file("2027-03-18 14:00", "2027-03-18 16:30",
                     extra=f'title: "Comité{escape}de pilotage"\n'))
    (line,) = [e for e in errors(root) if "2027-03-copil" in e]
    assert line.startswith("calendars/events/2027-03-copil.md:6: title\u00a0: caractère "
                           "invisible U+")


def test_invite_and_build_stop_on_the_same_field(root):
    write(root, "content/partners.csv", PARTNERS)
    write(root, "calendars/events/2027-03-copil.md",
          event_file("2027-03-18 14:00", "2027-03-18 16:30",
                     extra='title: "Comité\\u2028de pilotage"\n'))
    with start(Recorder()) as server:
        write(root, ".env", "".join(f"{k}={v}\n" for k, v in smtp_env(server).items()))
        invited = cli("invite", "--confirm", "--root", str(root), "--today", "2027-02-01")
        built = cli("build", "2027-1", "--root", str(root))
        assert server.handler.messages == []
    for result in (invited, built):
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "2027-03-copil.md:6: title" in result.output
        assert "U+2028" in result.output
    assert not (root / "var" / "outbox").exists()


def test_an_invisible_character_in_the_directory_is_refused(root):
    write(root, "content/partners.csv", PARTNERS.replace("Anne;Durand", "An\x1ene;Durand"))
    write(root, ".env", "COMMS_UNSUBSCRIBE_SECRET=test-secret-0123456789abcdef\n")
    result = cli("send", "2027-1", "--root", str(root))
    assert result.exit_code == 1 and "partners.csv:2" in result.output
    assert "first_name" in result.output


@pytest.mark.parametrize("value", [
    "https://sante.example.org/d>, <https://autre.example/x",
    "https://sante.example.org/d, https://autre.example/x",
    "https://sante.example.org/se désinscrire",
    'https://sante.example.org/d"x',
])
def test_a_url_setting_that_would_split_list_unsubscribe_is_refused(root, value):
    config = CONFIG.replace("  url: https://sante.example.org/desinscription",
                            f"  url: '{value}'")
    write(root, "comms.yaml", config)
    found = errors(root)
    assert len(found) == 1 and found[0].startswith("comms.yaml:")
    assert "unsubscribe.url\u00a0: l’adresse" in found[0]
    assert "sans espace ni virgule ni chevron" in found[0]


def peak_bytes(root: Path) -> tuple[list[str], int]:
    tracemalloc.start()
    try:
        found = errors(root)
        return found, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_yaml_alias_bomb_is_refused_with_little_memory(root):
    lines = ['lol0: &l0 "lollollollollollollollollol"']
    for i in range(1, 12):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    write(root, "comms.yaml", CONFIG + "\n".join(lines) + "\n")
    found, peak = peak_bytes(root)
    assert any("les alias YAML" in e and e.startswith("comms.yaml:25:") for e in found)
    assert peak < 50_000_000, f"{peak} bytes"


def test_deep_nesting_is_refused_with_little_memory(root):
    deep = "[" * 25_000 + "]" * 25_000  # a 50 KB file
    write(root, "content/news/2027-01-10-a.md",
          news_file("Première", "2027-01-10", extra=f"summary: {deep}\n"))
    found, peak = peak_bytes(root)
    assert any("imbrication trop profonde" in e for e in found)
    assert peak < 50_000_000, f"{peak} bytes"


@pytest.mark.parametrize("folder", ["content/news", "calendars/events", "content/issues"])
def test_a_file_name_with_a_line_break_is_refused(root, folder):
    name = "2027-01-10-a\nBcc: x.md" if folder != "calendars/events" else "2027-03-x\r.md"
    source = (news_file("Première", "2027-01-10") if folder == "content/news"
              else event_file("2027-03-18 14:00", "2027-03-18 16:30")
              if folder == "calendars/events" else "---\nnumber: 3\npublish_on: 2027-10-15\n---\n")
    (root / folder / name).write_text(source, encoding="utf-8")
    found = errors(root)
    assert any(e.startswith(f"{folder}: nom de fichier") and "retour à la ligne" in e
               and "\n" not in e for e in found)


def test_files_leading_outside_the_territory_are_refused(root, tmp_path):
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    (outside / "secret.md").write_text(news_file("Secret", "2027-01-12"), encoding="utf-8")
    (outside / "photo.png").write_bytes(PNG)
    os.symlink(outside / "secret.md", root / "content/news/2027-01-12-lien.md")
    write(root, "content/news/2027-01-10-a.md",
          news_file("Première", "2027-01-10", extra="image: ../ailleurs/photo.png\n"
                    "image_alt: Une photo\n"))
    write(root, "comms.yaml", CONFIG.replace('  color: "#1f5f7a"',
                                             '  color: "#1f5f7a"\n  logo: ../ailleurs/photo.png'))
    found = "\n".join(errors(root))
    assert "content/news/2027-01-12-lien.md: le fichier mène hors du dossier" in found
    assert "2027-01-10-a.md:6: image\u00a0: l’image « ../ailleurs/photo.png » est hors" in found
    assert "brand.logo\u00a0: l’image « ../ailleurs/photo.png » est hors" in found
    result = cli("build", "2027-1", "--root", str(root))
    assert result.exit_code == 1 and not (root / "build" / "2027-1").exists()


# --- headers and transports ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["x" * 20_000, "é" * 20_000, "Dupont, Jean " * 1500,
                                  "Élodie Durand", "Dupont, Jean"])
def test_display_names_are_folded_within_rfc_limits(name):
    data = OutgoingMessage(sender=Address("Coordination santé", "lettre@sante.example.org"),
                           to=Address(name.strip(), "anne@example.org"), subject="Lettre",
                           text="Bonjour\n").as_bytes()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    value = format_address(name.strip(), "anne@example.org")
    decoded = str(make_header(decode_header(value.replace("\r\n", ""))))
    assert decoded.endswith(" <anne@example.org>")
    assert decoded.removesuffix(" <anne@example.org>").strip('"').replace('\\"', '"') \
        == name.strip()
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == "anne@example.org"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_an_accented_smtp_password_logs_in(tmp_path):
    auth = Authenticator("coordinatrice", "Pâquerette-été-2027")
    with start(Recorder(), authenticator=auth, auth_required=True,
               auth_require_tls=False) as server:
        env = smtp_env(server, SMTP_USER="coordinatrice", SMTP_PASSWORD="Pâquerette-été-2027",
                       SMTP_ALLOW_PLAIN_LOOPBACK="true")
        with transport(tmp_path, env) as t:
            t.send(message())
        assert len(server.handler.messages) == 1 and auth.attempts == 1
        wrong = smtp_env(server, SMTP_USER="coordinatrice", SMTP_PASSWORD="Pâquerette",
                         SMTP_ALLOW_PLAIN_LOOPBACK="true")
        from comms.errors import ConfigError

        with pytest.raises(ConfigError, match="Identifiants SMTP refusés"):
            transport(tmp_path, wrong).open()


def test_an_outbox_missing_its_folders_is_repaired(root):
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", "COMMS_UNSUBSCRIBE_SECRET=test-secret-0123456789abcdef\n")
    (root / "var" / "outbox").mkdir(parents=True)  # no tmp/, new/ nor cur/
    result = cli("send", "2027-1", "--confirm", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert len(list((root / "var" / "outbox" / "new").iterdir())) == 3
    for sub in ("tmp", "cur"):
        assert (root / "var" / "outbox" / sub).is_dir()


def test_an_outbox_folder_replaced_by_a_file_is_reported(root):
    write(root, "content/partners.csv", PARTNERS)
    write(root, ".env", "COMMS_UNSUBSCRIBE_SECRET=test-secret-0123456789abcdef\n")
    (root / "var" / "outbox").mkdir(parents=True)
    (root / "var" / "outbox" / "tmp").write_text("")
    result = cli("send", "2027-1", "--confirm", "--root", str(root))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "est un fichier, pas un dossier" in result.output
    assert not (root / "var" / "outbox" / "new").exists() or not list(
        (root / "var" / "outbox" / "new").iterdir())


@pytest.mark.parametrize("first", ["x" * 20_000, "é" * 20_000])
def test_a_newsletter_to_a_very_long_name_keeps_short_header_lines(first):
    from test_send import personalised

    data = personalised("anne@example.org", first, "Durand").as_bytes()
    lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in lines) <= 998  # RFC 5322 §2.1.1, every line
    start = next(i for i, line in enumerate(lines) if line.startswith(b"To: "))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(b" "))
    to = lines[start:end]
    assert len(to) > 100 and max(len(line) for line in to) <= 78
    decoded = str(make_header(decode_header(b"".join(to)[4:].decode("ascii"))))
    assert decoded == f"{first} Durand <anne@example.org>"


BROKEN_URLS = ["https://[::1/x", "http://[fe80::1", "https://exemple.org]/x"]


@pytest.mark.parametrize("value", BROKEN_URLS)
def test_a_broken_url_setting_is_refused_in_french(root, value):
    write(root, "comms.yaml", CONFIG.replace(
        "  url: https://sante.example.org/desinscription", f"  url: '{value}'"))
    found = errors(root)
    assert len(found) == 1 and found[0].startswith("comms.yaml:"), found
    assert "unsubscribe.url\u00a0:" in found[0]


@pytest.mark.parametrize("value", BROKEN_URLS)
def test_a_broken_link_in_a_news_item_is_reported_not_a_traceback(root, value):
    write(root, "content/news/2027-01-10-a.md",
          news_file("Première", "2027-01-10") + f"\nVoir [ce lien]({value}).\n")
    result = cli("check", "--root", str(root))
    assert result.exit_code in (0, 1) and "Traceback" not in result.output
    assert "2027-01-10-a.md" in result.output, result.output
    built = cli("build", "2027-1", "--root", str(root))
    assert built.exit_code in (0, 1) and "Traceback" not in built.output


@pytest.mark.parametrize("value", BROKEN_URLS)
def test_a_broken_url_given_as_an_unsubscribe_token_is_refused(root, value):
    result = cli("unsubscribe", "--token", f"{value}?t=abc", "--root", str(root),
                 env={"COMMS_UNSUBSCRIBE_SECRET": "test-secret-0123456789abcdef"})
    assert result.exit_code != 0 and "Jeton de désinscription invalide" in result.output


@pytest.mark.parametrize("value", ["http://[::1", "https://[::1]:99999/v3",
                                   "https://api.brevo.com:abc/v3"])
def test_a_broken_brevo_api_url_is_a_configuration_error(root, value):
    result = cli("send", "2027-1", "--root", str(root),
                 env={"COMMS_TRANSPORT": "brevo", "BREVO_API_KEY": "xkeysib-test",
                      "BREVO_API_URL": value,
                      "COMMS_UNSUBSCRIBE_SECRET": "test-secret-0123456789abcdef"})
    assert result.exit_code != 0
    assert "BREVO_API_URL" in result.output and "n’est pas une adresse d’API valable" \
        in result.output, result.output
