"""Commands of the calendar area."""

COMMANDS: list = []
