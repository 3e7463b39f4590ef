"""The click group every tipbox command group is built with.

``-h`` is ``--help`` everywhere: the root group sets it and click passes it
down to every subcommand's context. A mistyped command name is one
``error: ...`` line with the closest command as a suggestion and exit
status 2 (a usage error), never click's three-line usage block.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import click

from tipbox.cli.failures import CliError

__all__ = ["HELP_OPTIONS", "Group", "MistypedCommand", "no_such_command"]

#: ``context_settings`` that make ``-h`` a synonym of ``--help``.
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


class MistypedCommand(CliError):
    """An unknown command name: one ``error: ...`` line, exit status 2."""

    exit_code = 2


def no_such_command(name: str, choices: Iterable[str], command_path: str) -> str:
    """"No such command 'x'. Did you mean 'y'?" with a pointer to the group's help."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    suggestion = f" Did you mean {close[0]!r}?" if close else ""
    return f"No such command {name!r}.{suggestion} (see '{command_path} --help')"


class Group(click.Group):
    """A group whose unknown commands get a suggestion (:class:`MistypedCommand`)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as error:
            choices = self.list_commands(ctx)
            message = no_such_command(error.command_name, choices, ctx.command_path)
            raise MistypedCommand(message) from None
