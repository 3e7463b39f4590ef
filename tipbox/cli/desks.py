"""``python -m tipbox desks list|create|open|close|add-member|remove-member|move``.

Desks (issue 15) are created and changed on the admin pages too; the command
line does the same without a browser, and moves a source with the recovery
identity (``--recovery-identity FILE``) when no admin of its desk is at hand.
Every failure is one ``error: ...`` line with exit status 1.
"""

from __future__ import annotations

import click

from tipbox.cli.groups import Group
from tipbox.cli.keys import one_line_errors, open_admin
from tipbox.cli.recovery import RecoveryInput, recovery_options
from tipbox.errors import NotFound
from tipbox.services.accounts.reviewers import Account
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.desks.desks import Desk, parse_texts
from tipbox.services.wiring import AdminServices, reviewers_of

__all__ = ["desks"]


@click.group(cls=Group)
def desks() -> None:
    """Desks: one instance, several teams, each with its own key and members."""


@desks.command("list")
@one_line_errors
def list_desks() -> None:
    """Every desk: short name, open or closed, members, active key's fingerprint, name."""
    with open_admin() as services:
        instance = services.instance
        keys = instance.keyring.active_keys()
        for desk in instance.desks.all():
            members = ",".join(name for _, name, _ in instance.desks.members(desk.id)) or "-"
            key = keys.get(desk.id)
            state = "open" if desk.is_open else "closed"
            click.echo(f"{desk.slug}\t{state}\t{members}\t"
                       f"{key.fingerprint if key else '-'}\t{desk.text('en').name}")


@desks.command()
@click.argument("slug")
@click.option("--name", required=True, help="The desk's name (English, or the newsroom's).")
@click.option("--description", default="", help="What sources should send to this desk.")
@click.option("--member", "members", multiple=True, help="A reviewer's username (repeatable).")
@one_line_errors
def create(slug: str, name: str, description: str, members: tuple[str, ...]) -> None:
    """Create the desk SLUG with its own post-quantum key, granted to its members."""
    with open_admin() as services:
        ids = [reviewers_of(services.instance).by_username(member).id for member in members]
        created = services.instance.desks.create(
            slug, parse_texts({"en": (name, description)}), members=ids)
    click.echo(f"Desk {created.desk.slug}: key {created.key.fingerprint} (publish it)")
    click.echo("Its members receive the key now; other admins at their next login.")


def _set_open(slug: str, *, is_open: bool) -> None:
    with open_admin() as services:
        desk = services.instance.desks.by_slug(slug)
        services.instance.desks.set_open(desk.id, is_open=is_open)
    click.echo(f"Desk {slug} is {'open' if is_open else 'closed'} to new sources.")


@desks.command("open")
@click.argument("slug")
@one_line_errors
def open_desk(slug: str) -> None:
    """Let new sources choose the desk SLUG."""
    _set_open(slug, is_open=True)


@desks.command("close")
@click.argument("slug")
@one_line_errors
def close_desk(slug: str) -> None:
    """Close the desk SLUG to new sources (its sources can still write)."""
    _set_open(slug, is_open=False)


_RECOVERY = recovery_options(
    required=True, identity_help="The recovery identity file: it opens every desk's keys.")


def _newsroom_identities(services: AdminServices, recovery: RecoveryInput) -> list[KeyIdentity]:
    opened = [key for identity in recovery.identities()
              for key in services.instance.keyring.open_identities(identity)]
    if not opened:
        raise NotFound("that identity opens no newsroom key: is it the recovery identity?")
    return opened


def _desk_and_account(services: AdminServices, slug: str, username: str) -> tuple[Desk, Account]:
    return (services.instance.desks.by_slug(slug),
            reviewers_of(services.instance).by_username(username))


@desks.command("add-member")
@click.argument("slug")
@click.argument("username")
@_RECOVERY
@one_line_errors
def add_member(slug: str, username: str, recovery: RecoveryInput) -> None:
    """Make USERNAME a member of the desk SLUG, holding its keys."""
    with open_admin() as services:
        desk, account = _desk_and_account(services, slug, username)
        granted = services.instance.desks.add_member(
            desk.id, account.id, _newsroom_identities(services, recovery),
            recipient=account.recipient)
    click.echo(f"{username} is a member of {slug} ({granted} keys granted).")


@desks.command("remove-member")
@click.argument("slug")
@click.argument("username")
@one_line_errors
def remove_member(slug: str, username: str) -> None:
    """End USERNAME's membership of SLUG: its keys of the desk and its sessions go."""
    with open_admin() as services:
        desk, account = _desk_and_account(services, slug, username)
        services.instance.desks.remove_member(desk.id, account.id)
    click.echo(f"{username} is no longer a member of {slug}. Rotate the desk's key now:"
               f" python -m tipbox keys rotate --desk {slug}")


@desks.command()
@click.argument("designation")
@click.argument("slug")
@_RECOVERY
@one_line_errors
def move(designation: str, slug: str, recovery: RecoveryInput) -> None:
    """Move the source DESIGNATION to the desk SLUG (re-wrapped for that desk's key only)."""
    with open_admin() as services:
        desk = services.instance.desks.by_slug(slug)
        source_id = services.instance.desks.source_named(designation)
        moved = services.moves.move(source_id, desk.id,
                                    _newsroom_identities(services, recovery))
    click.echo(f"{moved.designation}: {moved.from_desk} -> {moved.to_desk},"
               f" {moved.items} items re-wrapped.")
