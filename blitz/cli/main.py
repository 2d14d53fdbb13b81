"""The `blitz` command group, loading each command's module only when it runs.

Lazy loading keeps `blitz --help` fast and lets the server's machine run
without the client's plotting dependencies being imported.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from blitz import __version__

#: command name -> "module:attribute" of its click command.  Add one line per command.
COMMANDS: dict[str, str] = {
    "boards": "blitz.cli.control:boards",
    "demo": "blitz.cli.demo:demo",
    "command": "blitz.cli.control:command",
    "delete": "blitz.cli.sessions:delete",
    "download": "blitz.cli.sessions:download",
    "errors": "blitz.cli.notifications:errors",
    "live": "blitz.cli.live:live",
    "reset": "blitz.cli.control:reset",
    "sessions": "blitz.cli.sessions:sessions",
    "start": "blitz.cli.control:start",
    "status": "blitz.cli.control:status",
    "stop": "blitz.cli.control:stop",
    "ui": "blitz.cli.ui:ui",
    "server": "blitz.cli.server:server",
    "simulate": "blitz.cli.simulate:simulate",
    "readings": "blitz.cli.browse:readings",
    "stats": "blitz.cli.browse:stats",
    "compare": "blitz.cli.browse:compare",
    "export": "blitz.cli.browse_files:export",
    "import": "blitz.cli.browse_files:import_",
    "archive": "blitz.cli.browse_files:archive",
    "plot": "blitz.cli.browse_plot:plot",
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attribute = self._lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="blitz")
def cli() -> None:
    """Blitz: log expansion boards to Redis, download sessions, browse and plot them.

    \b
    Example:
      blitz demo                 # everything on this machine, simulated boards
      blitz server --serial /dev/ttyACM0
      blitz start && blitz live  # on the laptop
    """


def main() -> None:
    """Console-script entry point."""
    cli()
