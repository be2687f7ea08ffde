"""The `comms` command: a thin layer over the library; each area's commands live in
`comms.commands`."""

from __future__ import annotations

import click

from comms.commands import calendar, content, inbox, journal, send
from comms.commands import web as public_site


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comms")
def main() -> None:
    """Lettre d’information et invitations des coordinations ASV, CLS et CLSM."""


for module in (content, calendar, send, inbox, journal):
    for command in module.COMMANDS:
        main.add_command(command)

for command in public_site.COMMANDS:
    main.add_command(command)
