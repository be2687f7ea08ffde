"""Running comms' command line in-process with only the settings a test gives.

Settings the developer's shell may export (COMMS_*, SMTP_*, BREVO_*, IMAP_*, DKIM_*) are
removed, so a test sees the environment it names plus the territory's own `.env`.
"""

from __future__ import annotations

import os

from click.testing import CliRunner, Result

from comms.cli import main

SETTING_PREFIXES = ("COMMS_", "SMTP_", "BREVO_", "IMAP_", "DKIM_")


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `comms ARGS...` with `env` (variable -> value) as the only settings; exceptions
    propagate so a traceback fails the test."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith(SETTING_PREFIXES)}
    clean.update(env or {})
    return CliRunner().invoke(main, list(args), env=clean, catch_exceptions=False)
