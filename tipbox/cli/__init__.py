"""The ``python -m tipbox`` command line.

Each command group lives in its own module, imported only when that command
runs: the offline ``age`` tool must start as fast as the Go ``age`` CLI and
must not need the server's dependencies. Every command fails with a
one-line message and exit status 1, never a traceback; a mistyped command
is one line with a suggestion and exit status 2 (:mod:`tipbox.cli.groups`).
``-h`` is ``--help`` everywhere. The global ``--data-dir`` and
``--keys-dir`` override ``TIPBOX_DATA_DIR`` and ``TIPBOX_KEYS_DIR``
(:mod:`tipbox.cli.instance_dirs`).
"""

from __future__ import annotations

import importlib
import sys

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
    "purge": "tipbox.cli.keys:purge",
    "settings": "tipbox.cli.admin:settings",
    "audit": "tipbox.cli.admin:audit",
    "backup": "tipbox.cli.ops:backup",
    "restore": "tipbox.cli.ops:restore",
    "doctor": "tipbox.cli.ops:doctor",
    "notify": "tipbox.cli.ops:notify",
    "sweep": "tipbox.cli.sweep:sweep",
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


def main() -> None:
    cli(prog_name="tipbox" if sys.argv[0].endswith("tipbox") else "python -m tipbox")
