"""Admin commands without the web app: account administration, settings, audit log.

``python -m tipbox reviewers`` is :mod:`tipbox.cli.reviewers`'s group (``add``,
``list``) with the admin commands of this module added: ``disable``,
``enable``, ``delete``, ``reset``, ``set-admin``. ``python -m tipbox settings``
shows and changes the instance settings; ``python -m tipbox audit`` prints the
audit log. The rules are those of the services
(:mod:`tipbox.services.accounts.reviewer_admin`, :mod:`tipbox.services.instance_settings`):
the last admin stays, removal deletes grants at once and asks for a key
rotation. Keys to grant come from ``--recovery-identity FILE`` when given;
otherwise an admin's next login grants them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from tipbox.cli.groups import Group
from tipbox.cli.keys import one_line_errors, open_admin, print_enrolment
from tipbox.cli.recovery import RecoveryInput, recovery_options
from tipbox.cli.reviewers import reviewers as base_reviewers
from tipbox.errors import NotFound
from tipbox.services.accounts.reviewer_admin import ReviewerRow
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance_settings import NAMES
from tipbox.services.ops.export import unlock_identities
from tipbox.services.wiring import AdminServices

__all__ = ["audit", "reviewers", "settings"]

_IDENTITY_OPTION = recovery_options(
    required=False, identity_help="Recovery identity file, to grant the newsroom keys right away."
)


@contextmanager
def _account(username: str) -> Iterator[tuple[AdminServices, ReviewerRow]]:
    with open_admin() as services:
        yield services, services.accounts.get(_reviewer_id(services, username))


def _reviewer_id(services: AdminServices, username: str) -> int:
    for row in services.accounts.accounts():
        if row.username == username:
            return row.id
    raise NotFound(f"no reviewer named {username!r}")


def _identities(services: AdminServices, recovery: RecoveryInput | None) -> list[KeyIdentity]:
    if recovery is None:
        return []
    return unlock_identities(services.instance.keyring, recovery.identities())


@click.command()
@click.argument("username")
@one_line_errors
def disable(username: str) -> None:
    """Stop USERNAME logging in; their sessions and grants are deleted at once."""
    with _account(username) as (services, account):
        removed = services.accounts.disable(account.id)
    click.echo(f"{username} is disabled; {removed.grants_deleted} grants deleted.")
    click.echo(f"{removed.advice} (python -m tipbox keys rotate)")


@click.command()
@click.argument("username")
@_IDENTITY_OPTION
@one_line_errors
def enable(username: str, recovery: RecoveryInput | None) -> None:
    """Let USERNAME log in again."""
    with _account(username) as (services, account):
        granted = services.accounts.enable(account.id, _identities(services, recovery))
    click.echo(f"{username} is enabled; {granted} grants written.")


@click.command()
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@one_line_errors
def delete(username: str, yes: bool) -> None:
    """Delete USERNAME with their grants and sessions."""
    with _account(username) as (services, account):
        if not yes:
            click.confirm(f"Delete the account {username}?", abort=True)
        removed = services.accounts.delete(account.id)
    click.echo(f"{username} is deleted; {removed.grants_deleted} grants deleted.")
    click.echo(f"{removed.advice} (python -m tipbox keys rotate)")


@click.command()
@click.argument("username")
@_IDENTITY_OPTION
@one_line_errors
def reset(username: str, recovery: RecoveryInput | None) -> None:
    """New key, one-time password and TOTP secret for USERNAME (password or 2FA lost).

    A disabled account stays disabled: it can enrol once enabled.
    """
    with _account(username) as (services, account):
        identities = _identities(services, recovery)
        enrolment = services.accounts.reset(account.id, identities)
    print_enrolment(enrolment, "RESET ACCOUNT")
    if account.disabled:
        click.echo(f"{username} stays disabled: they can set the account up only after"
                   f" `python -m tipbox reviewers enable {username}`.")


@click.command("set-admin")
@click.argument("username")
@click.argument("role", type=click.Choice(["on", "off"]))
@one_line_errors
def set_admin(username: str, role: str) -> None:
    """Grant (on) or revoke (off) the admin role of USERNAME."""
    with _account(username) as (services, account):
        services.accounts.set_admin(account.id, is_admin=role == "on")
    click.echo(f"{username} is {'now' if role == 'on' else 'no longer'} an admin.")


reviewers = Group(
    "reviewers",
    commands={
        **base_reviewers.commands,
        **{c.name or "": c for c in (disable, enable, delete, reset, set_admin)},
    },
    help=base_reviewers.help,
)


@click.group(cls=Group, invoke_without_command=True)
@click.pass_context
@one_line_errors
def settings(context: click.Context) -> None:
    """Show the instance settings; `settings set NAME VALUE` changes one."""
    if context.invoked_subcommand is not None:
        return
    with open_admin() as services:
        current = services.settings.current()
    for name in NAMES:
        click.echo(f"{name}\t{getattr(current, name)!r}")


@settings.command("set")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("value")
@one_line_errors
def set_setting(name: str, value: str) -> None:
    """Change the setting NAME (validated; limits only up to the environment's)."""
    with open_admin() as services:
        updated = services.settings.update({name: value})
    click.echo(f"{name} = {getattr(updated, name)!r}")


@click.command()
@click.option("--reviewer", default=None, help="Only this reviewer's entries.")
@click.option("--action", default=None, help="Only this action.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", default=None, type=click.IntRange(1), help="Entries below this id.")
@one_line_errors
def audit(reviewer: str | None, action: str | None, limit: int, before: int | None) -> None:
    """Print the audit log, newest first."""
    with open_admin() as services:
        page = services.audit.page(reviewer=reviewer, action=action, before=before, size=limit)
    for entry in page.entries:
        when = datetime.fromtimestamp(entry.hour, UTC).strftime("%Y-%m-%d %H:00")
        about = entry.target or entry.designation or (entry.item_id or "")
        click.echo(f"{entry.id}\t{when}\t{entry.reviewer or '-'}\t{entry.action}\t{about}")
    if page.next_before is not None:
        click.echo(f"(more: --before {page.next_before})")
