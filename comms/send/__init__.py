"""Sending: campaigns, transports, the journal, tokens and headers."""

from pathlib import Path

# Where a content root keeps its journal (comms.send.journal), named here so that a command
# can tell whether a root ever sent without loading the journal's code.
JOURNAL_FILE = Path("var/comms.sqlite")
