"""Read .ics files with Mozilla's ical.js (Thunderbird's engine) from the tests.

A second, independent parser: icalendar reads back what icalendar wrote, ical.js reads it the
way a mail client does. The package is installed in tests/js by `make test` (npm ci); when it
is missing the tests fail, they never skip silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "parse-ics.mjs"
INSTALL = "npm ci --prefix tests/js"


def parse_with_icaljs(path: Path, occurrences: int = 12) -> dict:
    """What ical.js reads in `path`: method, name, and per VEVENT its UTC times.

    Each event has uid, summary, status, sequence, start/end (UTC ISO strings, or
    YYYY-MM-DD when isDate), tzid, isDate, recurring, attendees (count), organizer (bool),
    alarms (count), dtstamp, lastModified, recurrenceId (of an exception), exdates and the
    first `occurrences` starts of a recurring event.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node.js 20, then run `make test`")
    if not (JS_DIR / "node_modules" / "ical.js" / "package.json").is_file():
        pytest.fail(f"ical.js is not installed in {JS_DIR}: run `make test` "
                    f"(it runs `{INSTALL}`)")
    result = subprocess.run(
        [node, str(SCRIPT), str(path), str(occurrences)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"ical.js could not read {path}:\n{result.stderr}")
    return json.loads(result.stdout)
