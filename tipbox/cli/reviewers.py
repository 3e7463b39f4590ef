"""``python -m tipbox reviewers add|list`` and the first admin printed by ``init``.

A new account has a generated one-time password (a 7-word passphrase) and a
TOTP secret, printed here once and stored nowhere in the clear. The
reviewer logs in with the password, scans the QR code shown on the
enrolment page (or types the secret), enters one code and chooses a new
password; only then is the account active.

Grants: the newsroom identities are never on disk in the clear, so a reviewer
added here receives its grants either at once (``--recovery-identity FILE``)
or automatically at the next login of an admin.
"""

from __future__ import annotations

import io
from typing import ParamSpec, TypeVar

import click

from tipbox.cli.failures import one_line_errors as one_line_errors_for
from tipbox.cli.groups import Group
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.cli.recovery import RecoveryInput, recovery_options
from tipbox.config import Settings
from tipbox.services.accounts.reviewers import Reviewers, create_first_admin
from tipbox.services.accounts.totp import Enrolment, qr_terminal
from tipbox.services.wiring import Instance, open_instance, reviewers_of

__all__ = ["print_first_admin", "reviewers"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

NOTICE = """\
{title}: shown this once, stored nowhere in the clear.

    Username:           {username}
    One-time password:  {password}
    TOTP secret:        {secret}
    TOTP URI:           {uri}

Log in to the reviewer app with this username and password (leave the code
empty), scan the QR code shown there (or below) with an authenticator app,
then enter one code and choose your own password. Until then the account
cannot read anything.
"""


_one_line_errors = one_line_errors_for("the identity could not open the newsroom keys")


def _print_enrolment(enrolment: Enrolment, title: str) -> None:
    click.echo(NOTICE.format(title=title, username=enrolment.username,
                             password=enrolment.password, secret=enrolment.secret_text,
                             uri=enrolment.uri))
    click.echo(qr_terminal(enrolment.uri))


def _reviewers(instance: Instance) -> Reviewers:
    return reviewers_of(instance)


def print_first_admin(settings: Settings, recovery_identity: str) -> None:
    """Create the first admin right after ``init`` and print its credentials once."""
    instance = open_instance(settings)
    try:
        reviewers = _reviewers(instance)
        enrolment = create_first_admin(reviewers, instance.keyring, recovery_identity)
    finally:
        instance.close()
    _print_enrolment(enrolment, "FIRST ADMIN ACCOUNT")


@click.group(cls=Group)
def reviewers() -> None:
    """Manage reviewer accounts."""


@reviewers.command("add")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the account an admin.")
@recovery_options(required=False,
                  identity_help="Recovery identity file, to grant the newsroom keys right away.")
@click.option("--desk", "slugs", multiple=True,
              help="A desk the account joins (repeatable; default: the only desk, if one).")
@_one_line_errors
def add(username: str, admin: bool, recovery: RecoveryInput | None, slugs: tuple[str, ...]) -> None:
    """Create USERNAME with a one-time password and a TOTP secret (printed once)."""
    settings = load_cli_settings()
    instance = open_instance(settings)
    try:
        accounts = _reviewers(instance)
        desks = [instance.desks.by_slug(slug).id for slug in slugs] if slugs else None
        account, enrolment = accounts.create(username, is_admin=admin, desks=desks)
        granted = 0
        if recovery is not None:
            newsroom = [key for identity in recovery.identities()
                        for key in instance.keyring.open_identities(identity)]
            granted = accounts.grant(account, newsroom)
    finally:
        instance.close()
    _print_enrolment(enrolment, f"NEW {'ADMIN' if admin else 'REVIEWER'} ACCOUNT")
    if not granted:
        click.echo("The newsroom keys will be granted at the next login of an admin.")


@reviewers.command("list")
@_one_line_errors
def list_accounts() -> None:
    """List every account: username, role and whether it is enrolled."""
    settings = load_cli_settings()
    instance = open_instance(settings)
    try:
        accounts = _reviewers(instance).list()
    finally:
        instance.close()
    out = io.StringIO()
    for account in accounts:
        role = "admin" if account.is_admin else "reviewer"
        state = "active" if account.active else "pending enrolment"
        out.write(f"{account.username}\t{role}\t{state}\n")
    click.echo(out.getvalue() or "No reviewer accounts.", nl=not accounts)
