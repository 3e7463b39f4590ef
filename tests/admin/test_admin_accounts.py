"""Account administration: removal is immediate, the last admin stays, resets re-enrol."""

from __future__ import annotations

import pytest
from admin_kit import ADMIN_PASSWORD, Person, enrol, login_identities, recovery_identities

from tipbox.errors import AuthenticationFailed
from tipbox.services.accounts.reviewer_admin import LastAdmin
from tipbox.services.accounts.sessions import NoSession
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, Instance, ReviewerServices

PASSWORD = "carol's long enough password"


def _enrolled(services: ReviewerServices, admin_services: AdminServices, name: str,
              identities: list, *, is_admin: bool = False) -> Person:  # type: ignore[type-arg]
    _, enrolment = admin_services.accounts.add(name, is_admin=is_admin, identities=identities)
    return enrol(services, name, enrolment.password, enrolment.totp_secret, PASSWORD)


def test_the_last_admin_cannot_be_removed_or_demoted(
    services: ReviewerServices, admin_services: AdminServices, admin: Person,
) -> None:
    admin_id = services.reviewers.by_username("admin").id
    accounts = admin_services.accounts
    for attempt in (lambda: accounts.disable(admin_id), lambda: accounts.delete(admin_id),
                    lambda: accounts.set_admin(admin_id, is_admin=False)):
        with pytest.raises(LastAdmin):
            attempt()
    other, _ = accounts.add("second", is_admin=True)
    accounts.set_admin(admin_id, is_admin=False)
    with pytest.raises(LastAdmin):
        accounts.delete(other.id)
    accounts.set_admin(admin_id, is_admin=True)
    accounts.delete(other.id)
    assert [row.username for row in accounts.accounts()] == ["admin"]


def test_disable_ends_sessions_deletes_grants_and_blocks_login(
    instance: Instance, services: ReviewerServices, admin_services: AdminServices,
    admin: Person, init_result: InitResult,
) -> None:
    identities = recovery_identities(instance, init_result)
    carol = _enrolled(services, admin_services, "carol", identities)
    carol_id = services.reviewers.by_username("carol").id
    code, now = carol.next_code()
    token = services.logins.login("carol", PASSWORD, code, now=now).token

    removed = admin_services.accounts.disable(carol_id)

    assert removed.grants_deleted == 1
    with pytest.raises(NoSession):
        services.sessions.load(token, now=now)
    with pytest.raises(AuthenticationFailed):
        login_identities(services, carol)
    row = admin_services.accounts.get(carol_id)
    assert row.disabled
    assert row.grants == 0
    # An admin's login grants missing keys, but never to a disabled account.
    login_identities(services, admin)
    assert admin_services.accounts.get(carol_id).grants == 0
    admin_services.rotation.rotate()
    assert admin_services.accounts.get(carol_id).grants == 0

    assert admin_services.accounts.enable(carol_id, identities) == 1
    assert len(login_identities(services, carol)) == 1


def test_reset_gives_a_new_key_and_a_new_enrolment(
    instance: Instance, services: ReviewerServices, admin_services: AdminServices,
    admin: Person, init_result: InitResult,
) -> None:
    identities = recovery_identities(instance, init_result)
    carol = _enrolled(services, admin_services, "carol", identities)
    old = services.reviewers.by_username("carol")

    enrolment = admin_services.accounts.reset(old.id, identities)

    new = services.reviewers.by_username("carol")
    assert new.recipient != old.recipient
    assert not new.active
    with pytest.raises(AuthenticationFailed):
        login_identities(services, carol)
    renewed = enrol(services, "carol", enrolment.password, enrolment.totp_secret,
                    "carol's new password, long", start=carol.clock + 600)
    assert len(login_identities(services, renewed)) == 1


def test_admin_role_can_be_granted_and_revoked(
    services: ReviewerServices, admin_services: AdminServices, admin: Person,
) -> None:
    account, _ = admin_services.accounts.add("erin", is_admin=False)
    admin_services.accounts.set_admin(account.id, is_admin=True)
    assert services.reviewers.get(account.id).is_admin
    admin_services.accounts.set_admin(account.id, is_admin=False)
    assert not services.reviewers.get(account.id).is_admin
    assert ADMIN_PASSWORD  # the first admin is untouched
