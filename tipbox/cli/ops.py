"""Operations commands: ``backup``, ``restore``, ``doctor`` and ``notify``.

Settings come from the ``TIPBOX_*`` environment and the global ``--data-dir`` /
``--keys-dir`` (:func:`tipbox.cli.instance_dirs.load_cli_settings`).
Every failure is one ``error: ...`` line on stderr with exit status 1, never
a traceback; messages never contain key material or submitted content.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, ParamSpec, TypeVar

import click

from tipbox.cli.failures import fail, one_line_errors
from tipbox.cli.instance_dirs import HINT, load_cli_settings
from tipbox.cli.recovery import RecoveryInput, recovery_options
from tipbox.config import Settings
from tipbox.services.ops.backup import restore_backup, write_backup
from tipbox.services.ops.doctor import diagnose, foreign_user
from tipbox.services.ops.notify import Outcome, notify_if_due
from tipbox.services.wiring import open_instance

__all__ = ["backup", "doctor", "notify", "restore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


_fail = fail
_one_line_errors = one_line_errors(
    "the backup does not decrypt with that identity, or it is damaged or truncated"
)


def _as_owner(settings: Settings) -> Settings:
    """Refuse to touch an instance owned by another user (root-owned files lock it out)."""
    reason = foreign_user(settings)
    if reason is not None:
        _fail(reason)
    return settings


@contextlib.contextmanager
def _output(path: str) -> Iterator[BinaryIO]:
    """A 0600 temporary next to PATH, renamed over it only on success (or stdout)."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.rename(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@click.command()
@click.argument("out", metavar="OUT")
@_one_line_errors
def backup(out: str) -> None:
    """Write an encrypted backup of the whole instance to OUT ("-" for stdout).

    The file is encrypted to the recovery recipient: only the offline
    recovery identity opens it. Safe while the apps are running.
    """
    instance = open_instance(_as_owner(load_cli_settings()))
    try:
        with _output(out) as sink:
            report = write_backup(instance, sink)
    finally:
        instance.close()
    click.echo(
        f"Backed up {report.items} items ({report.blobs} payloads, {report.key_files} key "
        f"files), encrypted to the recovery recipient.",
        err=True,
    )


@click.command()
@click.argument("source", metavar="IN", type=click.Path(dir_okay=False, allow_dash=True))
@recovery_options(
    required=True, identity_help="age identity file holding the offline recovery identity."
)
@_one_line_errors
def restore(source: str, recovery: RecoveryInput) -> None:
    """Restore the backup IN ("-" for stdin) into this new, empty instance.

    Nothing becomes visible until the whole backup has decrypted and
    verified. Refuses a data or keys directory that is not empty. With
    TIPBOX_DATABASE_URL the database goes into that PostgreSQL database,
    which must be empty: copied and verified in one transaction.
    """
    identities = recovery.identities()
    settings = _as_owner(load_cli_settings())
    if source == "-":
        report = restore_backup(settings, sys.stdin.buffer, identities)
    else:
        with open(source, "rb") as stream:
            report = restore_backup(settings, stream, identities)
    database = "" if settings.database_url is None else (
        " and its database into PostgreSQL (TIPBOX_DATABASE_URL), verified row by row")
    click.echo(
        f"Restored {report.items} items ({report.blobs} payloads, {report.key_files} key "
        f"files) into {settings.data_dir}{database}. Run `python -m tipbox doctor` next."
    )


@click.command()
@_one_line_errors
def doctor() -> None:
    """Check the instance as deployed; print each problem with its fix.

    Exit status 0 when all is well, 1 when any problem was found. Run it as
    the service user, with the service's environment.
    """
    problems = diagnose(load_cli_settings())
    for problem in problems:
        hint = f" ({HINT})" if problem.check == "initialised" else ""
        click.echo(f"problem ({problem.check}): {problem.message}{hint}")
        click.echo(f"    fix: {problem.fix}")
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("doctor: no problems found")


@click.command()
@_one_line_errors
def notify() -> None:
    """E-mail reviewers that new submissions wait, if due (run every few minutes).

    Sends at most one fixed notice per TIPBOX_NOTIFY_PERIOD_SECONDS to each
    recipient, at the first run after a period starts: to TIPBOX_NOTIFY_TO
    if anything arrived, and to each reviewer with an address of their own
    if their preference (any new source, or their assigned sources) has news.
    """
    outcome = notify_if_due(_as_owner(load_cli_settings()))
    if outcome is not Outcome.NOT_DUE:
        click.echo(f"notify: {outcome.value}")
