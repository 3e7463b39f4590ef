"""``python -m tipbox keys list|rotate|rewrap|destroy|recover|rotate-recovery`` and ``purge``.

The commands that need a private key read the offline recovery identity
from a file (``--recovery-identity FILE``, an age identity file) or from M
SLIP-39 shares of it (``--recovery-shares FILE``; see
:mod:`tipbox.cli.recovery`); nothing here stores it or prints it, except
``rotate-recovery``, which prints the *new* recovery identity once. Every
failure is one ``error: ...`` line on stderr with exit status 1, never a
traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import click

from tipbox.cli.failures import CliError
from tipbox.cli.failures import one_line_errors as one_line_errors_for
from tipbox.cli.groups import Group
from tipbox.cli.instance import RECOVERY_NOTICE
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.cli.recovery import RecoveryInput, read_identities, recovery_identity, recovery_options
from tipbox.cli.reviewers import NOTICE
from tipbox.services.accounts.totp import Enrolment, qr_terminal
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.ops.export import unlock_identities
from tipbox.services.wiring import AdminServices, open_instance, reviewers_of

__all__ = [
    "commands",
    "keys",
    "one_line_errors",
    "open_admin",
    "print_enrolment",
    "purge",
    "read_identities",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

ROTATE_NEXT = (
    "New submissions and replies use it from now on. Next: `python -m tipbox keys rewrap "
    "--recovery-identity FILE` (or the admin keys page), then destroy the old key."
)


one_line_errors = one_line_errors_for("the identity could not open the newsroom keys")


@contextmanager
def open_admin() -> Iterator[AdminServices]:
    """The admin services of the instance the environment names, closed afterwards."""
    instance = open_instance(load_cli_settings())
    try:
        yield AdminServices.open(instance, reviewers_of(instance))
    finally:
        instance.close()


def _recovery_identity(services: AdminServices, given: RecoveryInput) -> KeyIdentity:
    return recovery_identity(services.instance.keyring.recovery_recipient(), given)


_RECOVERY_OPTION = recovery_options(required=True)


@click.group(cls=Group)
def keys() -> None:
    """Newsroom keys: list, rotate, re-wrap, destroy; recovery."""


@keys.command("list")
@one_line_errors
def list_keys() -> None:
    """Every newsroom key: id, state, kind, created, items and grants, fingerprint."""
    with open_admin() as services:
        statuses = services.rotation.status()
        pending = services.rotation.pending()
    for status in statuses:
        key = status.key
        created = datetime.fromtimestamp(key.created_hour, UTC).strftime("%Y-%m-%d %H:00")
        click.echo(
            f"{key.id}\t{key.state}\t{key.kind}\t{created}\titems={status.items}"
            f"\tgrants={status.grants}\t{key.fingerprint}"
        )
    if pending:
        click.echo(f"{pending} items still wait for a re-wrap to the active key.")


@keys.command()
@click.option("--classic", is_flag=True, help="X25519 instead of post-quantum (not recommended).")
@click.option("--desk", "slug", default=None, help="The desk's short name (default: the first).")
@one_line_errors
def rotate(classic: bool, slug: str | None) -> None:
    """Create a new active key of a desk, granted to its enabled members and the recovery key."""
    with open_admin() as services:
        desk_id = DEFAULT_DESK if slug is None else services.instance.desks.by_slug(slug).id
        rotated = services.rotation.rotate(desk_id, classic=classic)
    click.echo(f"New active newsroom key: {rotated.key.recipient}")
    click.echo(f"Fingerprint: {rotated.key.fingerprint}")
    click.echo(f"Granted to: {', '.join(rotated.holders)}")
    click.echo(ROTATE_NEXT)


@keys.command()
@_RECOVERY_OPTION
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 10_000))
@one_line_errors
def rewrap(recovery: RecoveryInput, batch_size: int) -> None:
    """Re-wrap every stored header from retired keys to the active key.

    Safe to interrupt at any point (even kill -9); run it again to finish.
    """
    with open_admin() as services:
        identities = unlock_identities(services.instance.keyring, recovery.identities())
        total = services.rotation.pending()
        with click.progressbar(length=total, label="Re-wrapping", file=sys.stderr) as bar:
            report = services.rotation.rewrap(
                identities, batch_size=batch_size, progress=_bar_updater(bar)
            )
    click.echo(f"Re-wrapped {report.rewrapped} items; {report.remaining} still on retired keys.")
    if report.skipped:
        raise CliError(f"{report.skipped} items could not be re-wrapped with the given identity")


def _bar_updater(bar: Any) -> Callable[[int, int], None]:
    seen = [0]

    def update(done: int, _total: int) -> None:
        bar.update(done - seen[0])
        seen[0] = done

    return update


@keys.command()
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@one_line_errors
def destroy(key: str, yes: bool) -> None:
    """Destroy retired KEY (id or fingerprint) once no stored item needs it."""
    with open_admin() as services:
        found = services.rotation.find(key)
        if not yes:
            click.confirm(f"Destroy key {found.fingerprint} for good?", abort=True)
        destroyed = services.rotation.destroy(found.id)
    click.echo(f"Destroyed key {destroyed.fingerprint}: its grants and key file are gone.")


@keys.command()
@_RECOVERY_OPTION
@click.option("--admin", "username", required=True, help="The (new) admin account to create.")
@one_line_errors
def recover(recovery: RecoveryInput, username: str) -> None:
    """Give USERNAME admin rights and every newsroom key, from the recovery identity alone."""
    with open_admin() as services:
        identity = _recovery_identity(services, recovery)
        enrolment = services.recovery.recover_admin(identity, username)
    print_enrolment(enrolment, "RECOVERED ADMIN ACCOUNT")


def print_enrolment(enrolment: Enrolment, title: str) -> None:
    """Print a one-time password and TOTP secret (with its QR code), once."""
    click.echo(
        NOTICE.format(
            title=title,
            username=enrolment.username,
            password=enrolment.password,
            secret=enrolment.secret_text,
            uri=enrolment.uri,
        )
    )
    click.echo(qr_terminal(enrolment.uri))


@keys.command("rotate-recovery")
@_RECOVERY_OPTION
@one_line_errors
def rotate_recovery_command(recovery: RecoveryInput) -> None:
    """Replace the recovery identity; the new one is printed once."""
    with open_admin() as services:
        new = services.recovery.rotate(_recovery_identity(services, recovery))
    click.echo(f"Every newsroom key ({new.keys}) is now granted to the new recovery recipient:")
    click.echo(f"    {new.recipient}")
    click.echo("The old recovery identity no longer opens anything stored from now on.\n")
    click.echo(RECOVERY_NOTICE.format(identity=new.identity))
    click.echo("Shares of the old identity open nothing new either: split the new one"
               " with `python -m tipbox recovery split` if the newsroom shares it.")


@click.command()
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@one_line_errors
def purge(dry_run: bool) -> None:
    """Crypto-shred sources and items older than the retention period."""
    with open_admin() as services:
        days = services.settings.current().retention_days
        now = time.time()
        retention = services.retention
        plan = retention.preview(days, now=now) if dry_run else retention.purge(days, now=now)
    if plan.cut is None:
        click.echo("Retention is off (0 days): nothing expires.")
        return
    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {plan.items} items ({plan.replies} replies) in {plan.submissions} submissions"
        f" and {len(plan.sources)} sources older than {days} days."
    )


#: The commands this module adds to ``python -m tipbox``.
commands: list[click.Command] = [keys, purge]
