"""`comms build` starts fast: it loads the libraries of what it writes (templates, MJML,
Markdown, iCalendar, images), never those of sending, reading mailboxes or serving the site.
Checked in a fresh interpreter, as a coordinator runs the command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import sys
from comms.cli import main
try:
    main(["build", "2027-1", "--root", sys.argv[1], "--out", sys.argv[2]],
         standalone_mode=False)
finally:
    print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""

# DKIM (dkimpy, dnspython), tokens (cryptography: the sample has no .env, so no secret),
# the directory's address check, Excel directories, the web server, the mail API, IMAP,
# bounces, progress bars.
NOT_FOR_A_BUILD = {"dkim", "dns", "cryptography", "email_validator", "openpyxl", "starlette",
                   "uvicorn", "requests", "imapclient", "flufl", "rich"}


def test_a_build_loads_no_library_of_sending_reading_or_serving(tmp_path):
    root = tmp_path / "territoire"
    root.mkdir()
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "calendars", root / "calendars")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("COMMS_ROOT", None)
    result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "2027-1" / "newsletter.html").is_file()
    loaded = set(result.stdout.split("\n")[-2].split())
    assert {"jinja2", "mjml", "markdown_it", "icalendar", "PIL"} <= loaded  # what it writes
    assert loaded & NOT_FOR_A_BUILD == set()


def test_every_command_is_found_where_the_lazy_table_says():
    """`comms.cli` names each command's module without importing it: the table must list
    every command of every module, under that module."""
    import importlib
    import pkgutil

    import comms.commands
    from comms.cli import LAZY_COMMANDS

    declared = {}
    for info in pkgutil.iter_modules(comms.commands.__path__):
        module = importlib.import_module(f"comms.commands.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            declared[command.name] = info.name
    assert declared == LAZY_COMMANDS


def test_an_unknown_command_is_refused_with_the_nearest_names():
    result = subprocess.run([sys.executable, "-m", "comms", "invit"], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2
    nb = "\u00a0"
    assert f"commande «{nb}invit{nb}» inconnue" in result.stderr
    assert f"«{nb}init{nb}», «{nb}invite{nb}»" in result.stderr
