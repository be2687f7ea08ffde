"""The unsubscribe confirmation page in headless Chromium at 375 px (a phone): axe-core finds
no violation of impact serious or critical, nothing overflows sideways, and a screenshot is
kept (in the test's temporary folder). Skipped where Chromium is not installed; `.ci/run`
installs Debian's `chromium`."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from test_web import SECRET, token_for  # noqa: F401 - the same territory and tokens
from test_web import server as server
from test_web import territory as territory

JS = Path(__file__).parent / "js"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")) if p and Path(p).is_file()), None)
PHONE = 375

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                "(Debian package chromium; .ci/run installs it)")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def check(url: str, screenshot: Path) -> dict:
    result = subprocess.run(["node", str(JS / "axe-check.mjs"), url, str(screenshot),
                             str(PHONE)], capture_output=True, text=True, timeout=120,
                            env={"CHROMIUM": CHROMIUM or "", "PATH": "/usr/bin:/bin",
                                 "HOME": str(screenshot.parent)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("page", ["confirmation", "erreur"])
def test_unsubscribe_pages_are_accessible_on_a_phone(territory, server, tmp_path, page):
    token = token_for(territory, "anne.durand@mairie.example.org") if page == "confirmation" \
        else "lien-abime"
    shot = tmp_path / f"desinscription-{page}-{PHONE}.png"
    found = check(f"{server.unsubscribe_url}?t={token}", shot)
    assert found["status"] == (200 if page == "confirmation" else 400)
    serious = [v for v in found["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious, ensure_ascii=False, indent=1)
    assert found["innerWidth"] == PHONE
    assert found["scrollWidth"] <= PHONE  # nothing wider than the phone's screen
    width, height = png_size(shot)
    assert width == PHONE and height > 200
