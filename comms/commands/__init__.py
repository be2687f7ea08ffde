"""Command-line commands, one module per area; `comms.cli` assembles them."""
