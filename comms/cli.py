"""The `comms` command: a thin layer over the library; each area's commands live in
`comms.commands`.

A command's module is imported only when that command runs (click's "lazily loading
subcommands" pattern): `comms build` does not pay for the libraries of sending, reading
mailboxes or serving the site. `comms --help` imports them all to list them.
"""

from __future__ import annotations

import gc
import importlib

import click
from click.utils import make_str

import comms.commands  # noqa: F401  (installs click's French words before commands exist)

# Command name -> module of `comms.commands` that declares it in its COMMANDS list.
LAZY_COMMANDS = {
    **dict.fromkeys(("init", "check", "build", "new", "plan", "status"), "content"),
    **dict.fromkeys(("calendar", "invite", "due"), "calendar"),
    **dict.fromkeys(("send", "unsubscribe", "unsuppress", "report"), "send"),
    **dict.fromkeys(("inbox", "rsvp", "emargement"), "inbox"),
    "journal": "journal",
    **dict.fromkeys(("preview", "publish", "serve"), "web"),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module on first use.

    `lazy` maps each command name to its module under `comms.commands`; loading a module
    registers every command of its `COMMANDS` list.
    """

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def _load(self, module_name: str) -> None:
        # Importing a command's libraries creates many objects that live as long as the
        # process: the collector would walk them again and again for nothing. It is paused
        # while they load, then they are moved out of its reach (gc.freeze).
        gc.disable()
        try:
            module = importlib.import_module(f"comms.commands.{module_name}")
        finally:
            gc.freeze()
            gc.enable()
        for command in module.COMMANDS:
            if command.name not in self.commands:
                self.add_command(command)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, by name (imports every command module)."""
        for module_name in dict.fromkeys(self.lazy.values()):
            self._load(module_name)
        return self.commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self._load(self.lazy[cmd_name])
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and make_str(args[0]) not in self.lazy:
            self.load_all()  # an unknown name: click suggests the nearest known ones
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comms")
def main() -> None:
    """Lettre d’information et invitations des coordinations ASV, CLS et CLSM."""
