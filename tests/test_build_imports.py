"""`comms build` starts fast: it loads the libraries of what it writes (templates, MJML,
Markdown, iCalendar, images), never those of sending, reading mailboxes or serving the site.
Checked in a fresh interpreter, as a coordinator runs the command; a rebuild whose images did
not change does not even load Pillow's image module."""

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
    print(" ".join(sorted(sys.modules)))
"""

# DKIM (dkimpy, dnspython), tokens (cryptography: the sample has no .env, so no secret),
# the directory's address check, Excel directories, the web server, the mail API, IMAP,
# bounces, progress bars.
NOT_FOR_A_BUILD = {"dkim", "dns", "cryptography", "email_validator", "openpyxl", "starlette",
                   "uvicorn", "requests", "imapclient", "flufl", "rich"}


def sample_copy(tmp_path: Path) -> Path:
    root = tmp_path / "territoire"
    root.mkdir()
    shutil.copy(REPO / "comms.yaml", root / "comms.yaml")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "calendars", root / "calendars")
    return root


def build(root: Path, out: Path, cache: Path) -> set[str]:
    """`comms build 2027-1` in a fresh interpreter: the modules it loaded."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("COMMS_ROOT", None)
    result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(out)],
                            capture_output=True, text=True, env=env, cwd=root.parent,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "2027-1" / "newsletter.html").is_file()
    return set(result.stdout.split("\n")[-2].split())


def test_a_build_loads_no_library_of_sending_reading_or_serving(tmp_path):
    root = sample_copy(tmp_path)
    modules = build(root, tmp_path / "out", tmp_path / "cache")
    loaded = {name.split(".")[0] for name in modules}
    assert {"jinja2", "mjml", "markdown_it", "icalendar", "PIL"} <= loaded  # what it writes
    assert loaded & NOT_FOR_A_BUILD == set()
    assert "PIL.Image" in modules  # the images were read and resized: nothing was cached


def published(out: Path) -> dict[str, bytes]:
    """Every file of a build but the preview .eml (its Date and Message-ID are new each
    time): the images, the web pages, the calendars."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix != ".eml"}


def test_a_rebuild_with_unchanged_images_does_not_load_pillow(tmp_path):
    """Images are kept in the user's cache folder by content: the second build reads them
    back without Pillow and writes the same bytes, as does a build that cannot use a cache."""
    from PIL import Image

    root = sample_copy(tmp_path)
    # Large enough to be resized and recompressed, so that the cache holds computed bytes.
    Image.effect_noise((1400, 700), 50).convert("RGB").save(
        root / "content/images/sism-2026-participation.png")
    Image.effect_noise((700, 300), 50).convert("RGB").save(root / "content/images/logo.png")
    cache = tmp_path / "cache"
    cold = build(root, tmp_path / "cold", cache)
    assert "PIL.Image" in cold
    assert list((cache / "comms" / "images").iterdir())
    warm = build(root, tmp_path / "warm", cache)
    assert "PIL.Image" not in warm and "PIL.ImageOps" not in warm
    no_cache = tmp_path / "file"
    no_cache.write_text("", encoding="utf-8")  # XDG_CACHE_HOME is a file: no cache folder
    assert "PIL.Image" in build(root, tmp_path / "uncached", no_cache)

    first = published(tmp_path / "cold")
    assert any(name.endswith("/images/sism-2026-participation.png") for name in first)
    assert any(name.endswith(".html") for name in first)
    assert published(tmp_path / "warm") == first
    assert published(tmp_path / "uncached") == first
    with Image.open(tmp_path / "warm/2027-1/images/sism-2026-participation.png") as image:
        assert image.size == (1072, 536)  # resized: the cached bytes are the computed ones


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
