"""Command-line commands, one module per area; `comms.cli` assembles them."""

from comms.commands import french

french.install()
