"""`comms check` reports link targets that cannot be what the coordinator meant (a mail
client has no base URL), with file, line and the fix, in French."""

from __future__ import annotations

import os

from click.testing import CliRunner
from conftest import event_file, news_file, write

from comms.cli import main
from comms.render.links import bad_links

NEWS = """\
Premier paragraphe avec un [bon lien](https://sante.example.org/page) et un
[document publié](docs/pssm.pdf), une [adresse](mailto:contact@exemple.fr).

Voir [le site de la mairie](www.mairie-lisiere.fr/agenda).
Écrire à [Anne](anne.durand@mairie.example.org).
Le [compte rendu](C:\\Users\\claire\\Documents\\cr.pdf) et [l’intranet](http://intranet/cr).
Le [serveur](http://192.168.1.20/partage), le [dépôt](ftp://depot.example.org/x).
`[pas un lien](www.exemple.fr)` dans du code.
"""


def cli(*args: str):
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("COMMS_")}
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)


def test_bad_targets_found_with_their_line():
    found = {(b.line, b.target) for b in bad_links(NEWS)}
    assert found == {(4, "www.mairie-lisiere.fr/agenda"),
                     (5, "anne.durand@mairie.example.org"),
                     (6, "C:\\Users\\claire\\Documents\\cr.pdf"), (6, "http://intranet/cr"),
                     (7, "http://192.168.1.20/partage"), (7, "ftp://depot.example.org/x")}
    hints = {b.target: b.hint for b in bad_links(NEWS)}
    assert "(https://www.mairie-lisiere.fr/agenda)" in hints["www.mairie-lisiere.fr/agenda"]
    assert "(mailto:anne.durand@mairie.example.org)" in hints[
        "anne.durand@mairie.example.org"]


def test_check_reports_them_with_file_line_and_fix(root):
    path = write(root, "content/news/2027-01-20-liens.md",
                 news_file("Liens", "2027-01-20", body=NEWS))
    write(root, "calendars/events/2027-05-visio.md",
          event_file("2027-05-06 14:00", "2027-05-06 16:00",
                     extra="").replace("Ordre du jour.", "Salle : [plan](www.plan.fr)."))
    result = cli("check", "--root", str(root))
    assert result.exit_code == 1
    out = result.output
    offset = path.read_text(encoding="utf-8").splitlines().index(NEWS.splitlines()[0])
    assert f"2027-01-20-liens.md:{offset + 4}: lien" in out
    assert f"2027-01-20-liens.md:{offset + 5}: lien" in out
    assert "sans «\u00a0mailto:\u00a0»" in out and "votre ordinateur" in out
    assert "adresse interne" in out and "ne sera pas cliquable" in out
    assert "2027-05-visio.md:7: lien" in out and "(https://www.plan.fr)" in out
    assert "docs/pssm.pdf" not in out and "sante.example.org/page" not in out
    assert "Traceback" not in out
