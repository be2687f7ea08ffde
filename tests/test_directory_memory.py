"""A large directory stays small in memory while a campaign is sent: partners on the same
lists share one set of list names."""

from __future__ import annotations

from comms.directory import load_directory


def test_partners_on_the_same_lists_share_one_set(tmp_path):
    path = tmp_path / "partners.csv"
    path.write_text(
        "email;first_name;last_name;organisation;role;lists;consent_on;unsubscribed_on\n"
        "a@example.org;A;A;;;newsletter|copil;;\n"
        "b@example.org;B;B;;;COPIL, newsletter;;\n"
        "c@example.org;C;C;;;newsletter;;\n", encoding="utf-8")
    a, b, c = load_directory(path).partners
    assert a.lists == b.lists == {"newsletter", "copil"}
    assert a.lists is b.lists
    assert c.lists == {"newsletter"} and c.lists is not a.lists
