"""The preview .eml, parsed back with the standard library."""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from email.utils import parsedate_to_datetime

import pytest
from factories import PARIS, make_site
from test_newsletter import project

from comms.render.newsletter import render_issue
from comms.send.newsletter import preview_message

NOW = datetime(2027, 2, 15, 8, 30, tzinfo=PARIS)


@pytest.fixture(scope="module")
def parsed():
    proj = project()
    rendered = render_issue(proj, "2027-1")
    raw = preview_message(proj, rendered, now=NOW)
    return raw, email.message_from_bytes(raw, policy=policy.default), rendered


def test_headers_are_ascii_and_encoded(parsed):
    raw, _, _ = parsed
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # RFC 2047: no raw UTF-8 in headers
    assert b"=?utf-8?" in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_subject_and_addresses(parsed):
    _, msg, rendered = parsed
    assert msg["Subject"] == rendered.subject == \
        "La Lettre santé de Val-de-Lisière n°\u00a01 — Hiver 2027"
    (sender,) = msg["From"].addresses
    assert sender.display_name == "Coordination santé Val-de-Lisière"
    assert sender.addr_spec == "lettre@sante.example.org"
    assert msg["To"].addresses[0].addr_spec == "lettre@sante.example.org"
    assert msg["Reply-To"].addresses[0].addr_spec == "coordination@sante.example.org"
    assert msg["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"].endswith("@sante.example.org>")
    assert "<https://sante.example.org/desinscription>" in msg["List-Unsubscribe"]
    assert "<mailto:desinscription@sante.example.org>" in msg["List-Unsubscribe"]


def test_multipart_alternative_text_then_html(parsed):
    _, msg, rendered = parsed
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().replace("\r\n", "\n") == rendered.text
    assert parts[1].get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html
    assert msg.get_body(("html",)).get_content().startswith("<!doctype html>")


def test_message_ids_are_unique_and_date_defaults_to_now():
    proj = project(site=make_site())
    rendered = render_issue(proj, "2027-1")
    first = email.message_from_bytes(preview_message(proj, rendered), policy=policy.default)
    second = email.message_from_bytes(preview_message(proj, rendered), policy=policy.default)
    assert first["Message-ID"] != second["Message-ID"]
    assert parsedate_to_datetime(first["Date"]).tzinfo is not None
