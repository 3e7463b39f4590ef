"""The root group of ``python -m tipbox``: every command, each imported when it runs.

Each command group lives in its own module, imported only when that command
runs, so that a command needs only its own dependencies (the offline
``age`` tool does not even come through here: see :func:`tipbox.cli.main`).
"""

from __future__ import annotations

import importlib

import click

from tipbox import __version__
from tipbox.cli.groups import HELP_OPTIONS, Group
from tipbox.cli.instance_dirs import instance_dir_options

# name -> "module:attribute" of a click command or group
COMMANDS = {
    "age": "tipbox.cli.age:age",
    "init": "tipbox.cli.instance:init",
    "export": "tipbox.cli.instance:export",
    "run": "tipbox.cli.run:run",
    "reviewers": "tipbox.cli.admin:reviewers",  # add, list + the admin commands
    "keys": "tipbox.cli.keys:keys",
    "recovery": "tipbox.cli.recovery:recovery",
    "desks": "tipbox.cli.desks:desks",
    "purge": "tipbox.cli.keys:purge",
    "settings": "tipbox.cli.admin:settings",
    "audit": "tipbox.cli.admin:audit",
    "backup": "tipbox.cli.ops:backup",
    "restore": "tipbox.cli.ops:restore",
    "doctor": "tipbox.cli.ops:doctor",
    "notify": "tipbox.cli.ops:notify",
    "sweep": "tipbox.cli.sweep:sweep",
    "store": "tipbox.cli.store:store",
    "onion-auth": "tipbox.cli.onion:onion_auth",
}


class LazyGroup(Group):
    """A group that imports a command's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings=HELP_OPTIONS)
@instance_dir_options
@click.version_option(version=__version__, message="tipbox %(version)s")
def cli() -> None:
    """tipbox: secure anonymous tip submission for newsrooms."""

