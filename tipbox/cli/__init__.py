"""The ``python -m tipbox`` command line.

Each command group lives in its own module, imported only when that command
runs (:mod:`tipbox.cli.root`): the offline ``age`` tool must start fast and
must not need the server's dependencies, so ``python -m tipbox age ...``
goes straight to :mod:`tipbox.cli.age_args`, which parses its options
without click and without building the rest of the command tree. Every
command fails with a one-line message and exit status 1, never a traceback;
a mistyped command is one line with a suggestion and exit status 2
(:mod:`tipbox.cli.groups`). ``-h`` is ``--help`` everywhere.
The global ``--data-dir`` and ``--keys-dir`` override ``TIPBOX_DATA_DIR``
and ``TIPBOX_KEYS_DIR`` (:mod:`tipbox.cli.instance_dirs`).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cli", "main"]


def main() -> None:
    """Run the command line with ``sys.argv`` (the console script and ``-m``)."""
    program = "tipbox" if sys.argv[0].endswith("tipbox") else "python -m tipbox"
    if sys.argv[1:2] == ["age"]:
        from tipbox.cli.age_args import run  # noqa: PLC0415 - the offline tool's fast start

        run(f"{program} age", sys.argv[2:])
    else:
        from tipbox.cli.root import cli  # noqa: PLC0415 - the whole command tree

        cli(prog_name=program)


def __getattr__(name: str) -> Any:
    """``tipbox.cli.cli`` and ``COMMANDS``: the root group, built on first use."""
    if name in ("cli", "COMMANDS", "LazyGroup"):
        from tipbox.cli import root  # noqa: PLC0415 - see the module docstring

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
