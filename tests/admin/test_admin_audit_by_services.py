"""Every admin service writes its own audit row (no view, no command needed).

Each action is called on the service directly, with ``by=`` the acting
admin (``None``: the host); the rows must be exactly those the web pages and
the commands wrote before the services recorded them. A refused action
writes no row.
"""

from __future__ import annotations

import time

import pytest
from admin_kit import Person, let_a_day_pass, recovery_identities, submit

from tipbox.crypto import X25519Identity, parse_identity
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.accounts.reviewer_admin import LastAdmin
from tipbox.services.audit import ADMIN_ACTIONS
from tipbox.services.custody.rotation import KeyInUse
from tipbox.services.instance import InitResult
from tipbox.services.ops.retention import DAY_SECONDS
from tipbox.services.wiring import AdminServices, Instance, ReviewerServices
from tipbox.store.desks import DEFAULT_DESK

Row = tuple[str | None, str, str | None]


def _admin_rows(admin_services: AdminServices) -> list[Row]:
    """The admin rows of the log, oldest first, as (reviewer, action, target)."""
    entries = admin_services.audit.page(size=500).entries
    return [(e.reviewer, e.action, e.target) for e in reversed(entries)
            if e.action in ADMIN_ACTIONS]


def test_account_actions_write_their_rows(
    services: ReviewerServices, admin_services: AdminServices, admin: Person,
    instance: Instance, init_result: InitResult,
) -> None:
    accounts = admin_services.accounts
    identities = recovery_identities(instance, init_result)
    carol, _ = accounts.add("carol", is_admin=False, identities=identities, by="admin")
    accounts.disable(carol.id, by="admin")
    accounts.enable(carol.id, identities, by="admin")
    enrolment = accounts.reset(carol.id, identities, by=None)
    carol_id = services.reviewers.by_username("carol").id
    accounts.set_admin(carol_id, is_admin=True, by="admin")
    accounts.set_admin(carol_id, is_admin=False, by=None)
    accounts.delete(carol_id, by="admin")

    assert enrolment.username == "carol"
    assert _admin_rows(admin_services) == [
        ("admin", "add reviewer", "carol"),
        ("admin", "disable reviewer", "carol"),
        ("admin", "enable reviewer", "carol"),
        (None, "reset reviewer", "carol"),
        ("admin", "grant admin", "carol"),
        (None, "revoke admin", "carol"),
        ("admin", "delete reviewer", "carol"),
    ]


def test_refused_account_actions_write_no_row(
    services: ReviewerServices, admin_services: AdminServices, admin: Person,
) -> None:
    accounts = admin_services.accounts
    admin_id = services.reviewers.by_username("admin").id
    for refused in (
        lambda: accounts.disable(admin_id, by="admin"),
        lambda: accounts.delete(admin_id, by="admin"),
        lambda: accounts.set_admin(admin_id, is_admin=False, by="admin"),
    ):
        with pytest.raises(LastAdmin):
            refused()
    for missing in (
        lambda: accounts.enable(9999, by="admin"),
        lambda: accounts.reset(9999, by="admin"),
        lambda: accounts.set_admin(9999, is_admin=True, by="admin"),
    ):
        with pytest.raises(NotFound):
            missing()
    with pytest.raises(InvalidInput):
        accounts.add("admin", is_admin=False, by="admin")  # the name is taken
    assert _admin_rows(admin_services) == []


def test_key_actions_write_their_rows(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    submit(instance)
    old = instance.keyring.active_key(DEFAULT_DESK)
    identities = recovery_identities(instance, init_result)
    rotated = admin_services.rotation.rotate(by="admin")
    admin_services.rotation.rewrap(identities, by=None)
    let_a_day_pass(instance)
    destroyed = admin_services.rotation.destroy(old.id, by="admin")

    assert _admin_rows(admin_services) == [
        ("admin", "rotate key", rotated.key.fingerprint),
        (None, "rewrap headers", "1 items"),
        ("admin", "destroy key", destroyed.fingerprint),
    ]


def test_refused_key_actions_write_no_row(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    rotation = admin_services.rotation
    with pytest.raises(KeyInUse):
        rotation.destroy(instance.keyring.active_key(DEFAULT_DESK).id, by="admin")
    with pytest.raises(NotFound):
        rotation.destroy(9999, by="admin")
    with pytest.raises(InvalidInput):
        rotation.rewrap(recovery_identities(instance, init_result), batch_size=0, by="admin")
    assert _admin_rows(admin_services) == []


def test_recovery_writes_its_rows_and_a_wrong_identity_none(
    admin_services: AdminServices, init_result: InitResult,
) -> None:
    recovery = parse_identity(init_result.recovery_identity)
    stranger = X25519Identity.generate()
    with pytest.raises(InvalidInput):
        admin_services.recovery.recover_admin(stranger, "rescuer")
    with pytest.raises(InvalidInput):
        admin_services.recovery.rotate(stranger)
    assert _admin_rows(admin_services) == []

    admin_services.recovery.recover_admin(recovery, "rescuer")
    new = admin_services.recovery.rotate(recovery)

    assert _admin_rows(admin_services) == [
        (None, "recover admin", "rescuer"),
        (None, "rotate recovery", new.recipient),
    ]


def test_purge_writes_a_row_only_when_it_removed_something(
    instance: Instance, admin_services: AdminServices,
) -> None:
    later = time.time() + 10 * DAY_SECONDS
    assert admin_services.retention.purge(1, now=later, by="admin").empty
    assert _admin_rows(admin_services) == []
    submit(instance, codename=False)
    plan = admin_services.retention.purge(1, now=later, by="admin")
    assert plan.items == 1
    assert _admin_rows(admin_services) == [("admin", "purge", "1 items")]


def test_settings_changes_write_their_row_and_refused_ones_none(
    admin_services: AdminServices,
) -> None:
    settings = admin_services.settings
    with pytest.raises(InvalidInput):
        settings.update({"max_files": "0"}, by="admin")
    with pytest.raises(InvalidInput):
        settings.update({"no_such_setting": "1"}, by="admin")
    assert _admin_rows(admin_services) == []
    settings.update({"max_files": "3", "organisation": "Gazette"}, by="admin")
    settings.update({"max_files": "4"}, by=None)
    assert _admin_rows(admin_services) == [
        ("admin", "change settings", "max_files, organisation"),
        (None, "change settings", "max_files"),
    ]
