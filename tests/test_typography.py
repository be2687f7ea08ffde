"""Coordinators type plain punctuation; partners read French typography (built issue, both
parts), while code spans, link targets and URLs stay exactly as written."""

from __future__ import annotations

import email
import email.policy

from click.testing import CliRunner
from conftest import news_file, write

from comms.cli import main

NB = "\u00a0"
BODY = ("Attention! Inscriptions avant le 3 mars: voir l'agenda «Bien vieillir» à 14:30. "
        "Le code `a: b?` reste tel quel, comme https://x.example.org/?q=1&r=l'a et "
        "[le programme](https://x.example.org/p?x=1).")


def test_news_text_gets_french_typography_in_html_and_text(root, tmp_path):
    write(root, "content/news/2027-01-20-typo.md",
          news_file("Quoi de neuf?", "2027-01-20", body=BODY))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", "2027-1", "--root", str(root), "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes((out / "2027-1/newsletter.eml").read_bytes(),
                                       policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content().replace("&#160;", NB).replace("&nbsp;", NB)
    flat = text.replace("\r\n", " ")  # wrapping breaks only at ordinary spaces
    for expected in (f"Attention{NB}!", f"3 mars{NB}: voir", "l’agenda", f"«{NB}Bien vieillir{NB}»",
                     "14:30", f"Quoi de neuf{NB}?"):
        assert expected in html, expected
        assert expected in flat, expected
    assert "<code" in html and "a: b?</code>" in html  # code span untouched
    assert "https://x.example.org/?q=1&amp;r=l'a" in html  # bare URL untouched
    assert 'href="https://x.example.org/p?x=1"' in html
    assert "l'agenda" not in html and "l'agenda" not in text


def test_calendar_files_get_french_typography_too(root, tmp_path):
    """What the partner's calendar shows (title, place, text, reminder) reads like the email;
    the code span and the URL of the event text stay as written."""
    import icalendar

    write(root, "calendars/events/2027-03-20-x.md",
          "---\ninstance: copil\ntitle: \"Point d'étape: l'avenant?\"\nstart: 2027-03-20 9h30\n"
          "end: 11h\nlocation: \"Mairie: salle 2\"\n---\n" + BODY + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["calendar", "--root", str(root), "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    feed = icalendar.Calendar.from_ical(next(out.rglob("agenda.ics")).read_bytes())
    event = next(e for e in feed.walk("VEVENT") if "avenant" in str(e["SUMMARY"]))
    assert str(event["SUMMARY"]) == f"Point d’étape{NB}: l’avenant{NB}?"
    assert str(event["LOCATION"]) == f"Mairie{NB}: salle 2"
    text = str(event["DESCRIPTION"])
    assert f"Attention{NB}!" in text and f"«{NB}Bien vieillir{NB}»" in text and "14:30" in text
    assert "`a: b?`" in text and "https://x.example.org/?q=1&r=l'a" in text
