"""``python -m tipbox recovery split|verify``, and how every command reads the recovery identity.

The recovery identity comes to a command one of two ways, chosen in one
place (:func:`recovery_options`), so every command that takes one accepts
both:

- ``--recovery-identity FILE``: an age identity file;
- ``--recovery-shares FILE`` (repeatable): SLIP-39 word shares made by
  ``recovery split``, one share a line (blank lines and ``#`` comments
  skipped), at least the threshold of one split in all; with
  ``--recovery-passphrase`` the command asks for the split's passphrase.

``recovery split --threshold M --shares N`` checks that the identity it is
given is this instance's recovery identity, then prints N shares, each as
its words and as a QR code (the words in upper case, so that the code uses
the QR alphanumeric mode). Nothing is stored; the shares are shown once.
``recovery verify`` checks that shares (or a file) open this instance's
recovery identity, changing nothing: a drill for the share holders.

Every failure is one ``error: ...`` line and exit status 1, never a
traceback; no message repeats a share's words or the passphrase
(:mod:`tipbox.services.custody.shares`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from tipbox.cli.failures import CliError, one_line_errors
from tipbox.cli.groups import Group
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.crypto import HybridIdentity, Recipient, X25519Identity, fingerprint
from tipbox.crypto import parse_identity_file as parse_identities
from tipbox.errors import InvalidInput
from tipbox.services.accounts.totp import qr_terminal
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.custody.shares import (
    MAX_SHARES,
    RecoveryShare,
    RecoveryShares,
    ShareError,
    check_split,
    read_share,
    split_identity,
)
from tipbox.services.wiring import open_instance

__all__ = [
    "RecoveryInput",
    "read_identities",
    "read_share_files",
    "recovery",
    "recovery_identity",
    "recovery_options",
]

_T = TypeVar("_T")

_one_line_errors = one_line_errors("the identity could not open the newsroom keys")

SPLIT_NOTICE = """\
RECOVERY SHARES: shown this once, stored nowhere.

Any {threshold} of these {count} shares open the recovery identity
(fingerprint {fingerprint}); fewer reveal nothing about it.
Give each share to a different person, on paper, to keep offline.
Once every holder has checked theirs (`python -m tipbox recovery verify`),
destroy every other copy of the recovery identity: then no single person
holds it.
"""


def read_identities(path: Path) -> list[KeyIdentity]:
    """The X25519 and post-quantum identities of an age identity file."""
    identities: list[KeyIdentity] = [
        identity
        for identity in parse_identities(path.read_text("utf-8"))
        if isinstance(identity, X25519Identity | HybridIdentity)
    ]
    if not identities:
        raise InvalidInput(f"{path} holds no age identity")
    return identities


def read_share_files(paths: tuple[Path, ...]) -> list[RecoveryShare]:
    """Every share in ``paths``: one a line, blank lines and ``#`` comments skipped."""
    shares = []
    for path in paths:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                shares.append(read_share(line, f"{path} line {number}"))
    if not shares:
        raise ShareError("the share files hold no share")
    return shares


@dataclass(frozen=True, slots=True)
class RecoveryInput:
    """Where this run's recovery identity comes from: an identity file or shares.

    Nothing is read before :meth:`identities` is called (inside the
    command's one-line error handling); the passphrase is asked then.
    """

    identity_file: Path | None
    share_files: tuple[Path, ...]
    ask_passphrase: bool

    def identities(self) -> list[KeyIdentity]:
        """The identities of the file, or the one identity the shares yield."""
        if self.identity_file is not None:
            return read_identities(self.identity_file)
        shares = read_share_files(self.share_files)
        passphrase = ""
        if self.ask_passphrase:
            passphrase = click.prompt("Passphrase of the recovery shares", hide_input=True,
                                      err=True)
        return [RecoveryShares(shares, passphrase).identity()]

    def describe(self) -> str:
        """What it is, for messages: "FILE" or "the shares of FILE, FILE"."""
        if self.identity_file is not None:
            return str(self.identity_file)
        return f"the shares of {', '.join(map(str, self.share_files))}"


def recovery_identity(recipient: Recipient, given: RecoveryInput) -> KeyIdentity:
    """The identity of ``given`` whose recipient is ``recipient`` (the instance's)."""
    for identity in given.identities():
        if str(identity.recipient()) == str(recipient):
            return identity
    if given.identity_file is not None:
        raise InvalidInput(f"{given.identity_file} does not hold this instance's recovery identity")
    raise InvalidInput("the shares do not give this instance's recovery identity"
                       " (shares of an older one, or a wrong passphrase?)")


def recovery_options(
    *, required: bool, identity_help: str = "The offline recovery identity (an age identity file)."
) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Add ``--recovery-identity``, ``--recovery-shares`` and ``--recovery-passphrase``.

    The command receives them as one argument, ``recovery``: a
    :class:`RecoveryInput`, or None when neither option is given and
    ``required`` is false. Both options at once, or neither when required,
    is one ``error: ...`` line.
    """
    options = [
        click.option("--recovery-identity", "identity_file", help=identity_help,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        click.option("--recovery-shares", "share_files", multiple=True, metavar="FILE",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Instead: SLIP-39 shares of it, one a line (repeatable)."),
        click.option("--recovery-passphrase", "ask_passphrase", is_flag=True,
                     help="Ask for the passphrase the shares were split with."),
    ]

    def decorate(func: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(func)
        def command(*args: Any, identity_file: Path | None, share_files: tuple[Path, ...],
                    ask_passphrase: bool, **kwargs: Any) -> _T:
            kwargs["recovery"] = _recovery_input(
                identity_file, share_files, ask_passphrase, required=required)
            return func(*args, **kwargs)

        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _recovery_input(identity_file: Path | None, share_files: tuple[Path, ...],
                    ask_passphrase: bool, *, required: bool) -> RecoveryInput | None:
    if identity_file is not None and share_files:
        raise CliError("give --recovery-identity or --recovery-shares, not both")
    if ask_passphrase and not share_files:
        raise CliError("--recovery-passphrase goes with --recovery-shares")
    if identity_file is None and not share_files:
        if required:
            raise CliError("give the recovery identity: --recovery-identity FILE"
                           " or --recovery-shares FILE")
        return None
    return RecoveryInput(identity_file, share_files, ask_passphrase)


def _instance_recovery(given: RecoveryInput) -> KeyIdentity:
    instance = open_instance(load_cli_settings())
    try:
        recipient = instance.keyring.recovery_recipient()
    finally:
        instance.close()
    return recovery_identity(recipient, given)


@click.group(cls=Group)
def recovery() -> None:
    """Shared recovery: the recovery identity as M-of-N SLIP-39 word shares."""


@recovery.command()
@click.option("--threshold", required=True, type=int,
              help="M: how many shares open the identity (2 or more).")
@click.option("--shares", "count", required=True, type=int,
              help=f"N: how many shares to make (M to {MAX_SHARES}).")
@click.option("--passphrase", "with_passphrase", is_flag=True,
              help="Ask for a passphrase that recovery will need besides the shares.")
@click.option("--no-qr", is_flag=True, help="Print the words only.")
@recovery_options(required=True)
@_one_line_errors
def split(threshold: int, count: int, with_passphrase: bool, no_qr: bool,
          recovery: RecoveryInput) -> None:
    """Split this instance's recovery identity into N shares, any M of which open it."""
    check_split(threshold, count)
    identity = _instance_recovery(recovery)
    passphrase = ""
    if with_passphrase:
        passphrase = click.prompt("Passphrase for the shares (printable ASCII)",
                                  hide_input=True, confirmation_prompt=True, err=True)
    mnemonics = split_identity(identity, threshold=threshold, count=count, passphrase=passphrase)
    print_ = fingerprint(identity.recipient())
    click.echo(SPLIT_NOTICE.format(threshold=threshold, count=count, fingerprint=print_))
    for number, words in enumerate(mnemonics, start=1):
        click.echo(f"Share {number} of {count} (any {threshold} open the recovery identity):")
        click.echo(f"    {words}\n")
        if not no_qr:
            click.echo(qr_terminal(words.upper()))


@recovery.command()
@recovery_options(required=True)
@_one_line_errors
def verify(recovery: RecoveryInput) -> None:
    """Check that shares (or an identity file) open this instance's recovery identity."""
    identity = _instance_recovery(recovery)
    click.echo(f"OK: {recovery.describe()} opened this instance's recovery identity"
               f" (fingerprint {fingerprint(identity.recipient())}).")
