"""``python -m tipbox age``: the offline age tool's commands, options and help (click).

This is the tool as the command tree knows it (``python -m tipbox --data-dir
X age ...``, ``--help``, every usage error). ``python -m tipbox age ...``
itself starts through :mod:`tipbox.cli.age_args`, which parses the same
options without click and comes back here for anything it does not
handle exactly as click would. What the commands do, and the tool's
security contract: :mod:`tipbox.cli.age_tool`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from tipbox.cli import age_tool
from tipbox.cli.failures import CliError

_P = ParamSpec("_P")
_T = TypeVar("_T")

AgeCliError = CliError


class _AgeCommand(click.Command):
    """A command whose usage errors are one line with exit status 1, like age."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            hint = f"see '{ctx.command_path} --help'"
            raise AgeCliError(f"{err.format_message()} ({hint})") from None


class _AgeGroup(click.Group):
    command_class = _AgeCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise AgeCliError(err.format_message()) from None


def _one_line_errors(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Every failure of a command as one ``error: ...`` line (:func:`age_tool.describe`)."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - never a traceback
            raise AgeCliError(age_tool.describe(error)) from None

    return wrapper


# -- commands ----------------------------------------------------------------

_OUTPUT = click.option(
    "-o", "--output", metavar="OUT", help="Write to OUT instead of stdout ('-' forces stdout)."
)
_INPUT = click.argument("input_path", metavar="[IN]", required=False)


@click.group(cls=_AgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def age() -> None:
    """Offline age encryption: keys, encrypt, decrypt.

    Works without a network and is compatible with age (age-encryption.org)
    and its other implementations. Typical use on an air-gapped laptop:

    \b
      python -m tipbox age keygen --pq -o key.txt    # make your key (0600)
      python -m tipbox age recipient -i key.txt      # share this age1pq1... line
      python -m tipbox age encrypt -r age1pq1... -o notes.age notes.txt
      python -m tipbox age decrypt -i key.txt -o tip.pdf tip.pdf.age
      python -m tipbox age encrypt -p -a -o note.txt.age note.txt   # passphrase
      python -m tipbox age decrypt -o note.txt note.txt.age         # asks for it

    Data goes to stdout unless -o is given; IN defaults to stdin. Keep key
    files on the air-gapped machine or on encrypted removable media. On any
    failure the command prints one "error: ..." line and exits with status 1,
    and with -o no output file is left behind.
    """


@age.command(short_help="Generate a new identity (secret key) file.")
@click.option("--pq", is_flag=True, help="Post-quantum hybrid key (mlkem768x25519, age1pq1...).")
@click.option("-o", "--output", metavar="FILE", help="Write the key to FILE (must not exist).")
@_one_line_errors
def keygen(pq: bool, output: str | None) -> None:
    """Generate a new identity (secret key), like age-keygen.

    The identity file holds "# created:" and "# public key:" comments and the
    AGE-SECRET-KEY-... line. With -o the file is created mode 0600 and the
    public key is also printed on stderr. Without --pq the key is X25519
    (age1...), readable by every age tool; --pq makes a post-quantum key
    (age1pq1...) that needs age 1.3+ or tipbox.
    """
    age_tool.keygen(pq=pq, output=output)


@age.command(short_help="Print the recipient (public key) of an identity file.")
@click.option("-i", "--identity", "identity_path", required=True, metavar="FILE",
              help="Identity file to read ('-' for stdin).")
@_one_line_errors
def recipient(identity_path: str) -> None:
    """Print the recipient (public key) of each identity in FILE, like age-keygen -y."""
    age_tool.recipient(identity_path=identity_path)


@age.command(short_help="Encrypt to recipients or with a passphrase.")
@click.option("-r", "--recipient", "recipient_texts", multiple=True, metavar="RECIPIENT",
              help="Encrypt to this recipient (age1... or age1pq1...). Repeatable.")
@click.option("-R", "--recipients-file", "recipient_files", multiple=True, metavar="FILE",
              help="Encrypt to every recipient listed in FILE. Repeatable.")
@click.option("-i", "--identity", "identity_files", multiple=True, metavar="FILE",
              help="Encrypt to the recipients of the identities in FILE. Repeatable.")
@click.option("-p", "--passphrase", is_flag=True,
              help="Encrypt with a passphrase typed at the terminal (scrypt).")
@click.option("-a", "--armor", is_flag=True, help="Write ASCII armor (PEM-like text).")
@_OUTPUT
@_INPUT
@_one_line_errors
def encrypt(
    recipient_texts: tuple[str, ...],
    recipient_files: tuple[str, ...],
    identity_files: tuple[str, ...],
    passphrase: bool,
    armor: bool,
    output: str | None,
    input_path: str | None,
) -> None:
    """Encrypt IN (default stdin) to OUT (default stdout).

    Give recipients with -r/-R/-i, or -p for a passphrase. Post-quantum and
    classic recipients cannot be mixed in one file. Binary output is not
    written to a terminal: use -a, or -o.
    """
    age_tool.encrypt(recipient_texts=recipient_texts, recipient_files=recipient_files,
                     identity_files=identity_files, passphrase=passphrase, armor=armor,
                     output=output, input_path=input_path)


@age.command(short_help="Decrypt with identity files or a passphrase.")
@click.option("-i", "--identity", "identity_files", multiple=True, metavar="FILE",
              help="Identity file (may hold several keys). Repeatable.")
@_OUTPUT
@_INPUT
@_one_line_errors
def decrypt(identity_files: tuple[str, ...], output: str | None, input_path: str | None) -> None:
    """Decrypt IN (default stdin, binary or armored) to OUT (default stdout).

    Passphrase-encrypted files prompt for the passphrase on the terminal.
    Nothing is written unless it has been authenticated; with -o, OUT only
    appears once the whole file has verified.
    """
    age_tool.decrypt(identity_files=identity_files, output=output, input_path=input_path)
