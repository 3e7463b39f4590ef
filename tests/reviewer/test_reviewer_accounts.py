"""Accounts without HTTP: enrolment, TOTP, throttling, password change, sessions."""

from __future__ import annotations

import pytest
from reviewer_kit import ADMIN_PASSWORD, STEP, T0, Person, login

from tipbox.errors import AuthenticationFailed, InvalidInput
from tipbox.passwords import Argon2Params
from tipbox.services.accounts.reviewers import Busy, Reviewers
from tipbox.services.accounts.rules import WeakPassword, check_username
from tipbox.services.accounts.sessions import NoSession
from tipbox.services.accounts.throttle import AccountLocked, throttle_key
from tipbox.services.accounts.totp import otpauth_uri, qr_svg, totp_code
from tipbox.services.wiring import ReviewerServices


def test_usernames_and_passwords_are_checked(services: ReviewerServices) -> None:
    for bad in ("", "a", "Admin", "a b", "x" * 33, "../x", "é"):
        with pytest.raises(InvalidInput):
            check_username(bad)
    with pytest.raises(WeakPassword):
        services.reviewers.create("alice", password="too short")


def test_enrolment_gives_uri_and_qr(services: ReviewerServices) -> None:
    _, enrolment = services.reviewers.create("alice")
    assert len(enrolment.password.split()) == 7
    uri = otpauth_uri(enrolment.totp_secret, "alice")
    assert uri.startswith("otpauth://totp/tipbox:alice?")
    assert "secret=" in uri
    svg = qr_svg(uri)
    assert svg.startswith("<svg")
    assert "<script" not in svg


def test_pending_account_needs_a_code_and_new_password(services: ReviewerServices) -> None:
    account, enrolment = services.reviewers.create("alice")
    assert not account.active
    result = services.logins.login("alice", enrolment.password, "", now=T0)
    assert result.kind == "enrol"
    with pytest.raises(NoSession):  # an enrolment session opens no inbox
        services.sessions.load(result.token, now=T0)
    code = totp_code(enrolment.totp_secret, T0)
    with pytest.raises(WeakPassword):
        services.logins.complete_enrolment(result.token, "short", code, now=T0)
    with pytest.raises(AuthenticationFailed):
        services.logins.complete_enrolment(result.token, ADMIN_PASSWORD, "000000"
                                           if code != "000000" else "111111", now=T0)
    full = services.logins.complete_enrolment(result.token, ADMIN_PASSWORD, code, now=T0)
    assert full.kind == "full"
    assert services.reviewers.get(account.id).active
    with pytest.raises(AuthenticationFailed):  # the one-time password is gone
        services.reviewers.unlock("alice", enrolment.password, now=T0 + 1)


def test_admin_login_unlocks_newsroom_identity(services: ReviewerServices, admin: Person,
                                               init_result) -> None:
    _, session = login(services, admin)
    identities = session.identities()
    assert [str(i.recipient()) for i in identities] == [init_result.newsroom_recipient]
    assert session.is_admin


def test_totp_code_is_never_accepted_twice(services: ReviewerServices, admin: Person) -> None:
    code, now = admin.next_code()
    services.logins.login("admin", admin.password, code, now=now)
    with pytest.raises(AuthenticationFailed):
        services.logins.login("admin", admin.password, code, now=now)
    with pytest.raises(AuthenticationFailed):  # nor a code of an earlier step
        services.logins.login("admin", admin.password,
                              totp_code(admin.totp_secret, now - STEP), now=now)


def test_totp_allows_one_step_of_drift(services: ReviewerServices, admin: Person) -> None:
    admin.clock[0] += 10 * STEP
    now = admin.clock[0]
    services.logins.login("admin", admin.password,
                          totp_code(admin.totp_secret, now + STEP), now=now)
    with pytest.raises(AuthenticationFailed):
        services.logins.login("admin", admin.password,
                              totp_code(admin.totp_secret, now + 3 * STEP), now=now + 1)


def test_wrong_password_and_unknown_user_fail_alike(services: ReviewerServices,
                                                    admin: Person) -> None:
    code, now = admin.next_code()
    errors = []
    for username, password in (("admin", "wrong password!!"), ("nobody", "wrong password!!")):
        with pytest.raises(AuthenticationFailed) as caught:
            services.logins.login(username, password, code, now=now)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]
    entries = services.audit.recent()
    assert [(e.action, e.reviewer) for e in entries[:2]] == [
        ("failed login", None), ("failed login", "admin")]


@pytest.mark.parametrize("username", ["admin", "nobody"])
def test_lockout_after_five_failures_with_growing_delay(services: ReviewerServices,
                                                        admin: Person, username: str) -> None:
    now = admin.clock[0] + 1000
    for _ in range(5):
        with pytest.raises(AuthenticationFailed) as caught:
            services.reviewers.authenticate(username, "wrong password!!", "123456", now=now)
        assert not isinstance(caught.value, AccountLocked)
    with pytest.raises(AccountLocked) as locked:  # even the right password is refused
        services.reviewers.authenticate(username, admin.password, "123456", now=now + 1)
    first_delay = locked.value.retry_after
    assert 50 < first_delay <= 60
    now += 61
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            services.reviewers.authenticate(username, "wrong password!!", "123456", now=now)
    with pytest.raises(AccountLocked) as locked:
        services.reviewers.authenticate(username, admin.password, "123456", now=now + 1)
    assert locked.value.retry_after > first_delay


def test_success_forgives_failures(services: ReviewerServices, admin: Person) -> None:
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            services.reviewers.unlock("admin", "wrong password!!", now=admin.clock[0])
    login(services, admin)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            services.reviewers.unlock("admin", "wrong password!!", now=admin.clock[0])


def test_argon2_slots_cap_concurrency(services: ReviewerServices, instance) -> None:
    reviewers = Reviewers(instance.store.db, params=instance.settings.password_argon2,
                          throttle_key=bytes(32), argon2_slots=1, slot_timeout=0.01)
    with reviewers._argon2_slot(), pytest.raises(Busy):  # noqa: SLF001 - the cap itself
        reviewers.unlock("anyone", "some password!!", now=T0)


def test_password_change_rewraps_and_replaces_sessions(services: ReviewerServices,
                                                       admin: Person) -> None:
    token, session = login(services, admin)
    other, _ = login(services, admin)
    with pytest.raises(AuthenticationFailed):
        services.logins.change_password(session, "wrong password!!", "a new long password",
                                        now=admin.clock[0])
    result = services.logins.change_password(session, admin.password, "a new long password",
                                             now=admin.clock[0])
    for old in (token, other):
        with pytest.raises(NoSession):
            services.sessions.load(old, now=admin.clock[0])
    assert services.sessions.load(result.token, now=admin.clock[0]).identities()
    with pytest.raises(AuthenticationFailed):
        services.reviewers.unlock("admin", admin.password, now=admin.clock[0])
    admin.password = "a new long password"
    _, again = login(services, admin)
    assert again.identities()


def test_argon2_parameters_upgrade_on_login(services: ReviewerServices, admin: Person,
                                            instance) -> None:
    stronger = Argon2Params(time_cost=2, memory_kib=16, parallelism=1)
    upgraded = Reviewers(instance.store.db, params=stronger,
                         throttle_key=throttle_key(instance.secrets.flask_secret_key))
    code, now = admin.next_code()
    upgraded.authenticate("admin", admin.password, code, now=now)
    with instance.store.db.connection() as conn:
        stored = conn.execute("SELECT password_params FROM reviewers").fetchone()[0]
    assert stored == stronger.encode()
    login(services, admin)  # still works with the new parameters


def test_new_session_at_every_login(services: ReviewerServices, admin: Person) -> None:
    first, _ = login(services, admin)
    second, _ = login(services, admin)
    assert first.split(".")[0] != second.split(".")[0]


def test_idle_and_absolute_expiry(services: ReviewerServices, admin: Person) -> None:
    token, _ = login(services, admin)
    start = admin.clock[0]
    idle = services.sessions.idle_seconds
    services.sessions.load(token, now=start + idle - 1)
    before = services.sessions.count()
    with pytest.raises(NoSession):
        services.sessions.load(token, now=start + 2 * idle)
    assert services.sessions.count() == before - 1  # the expired row is gone
    token, _ = login(services, admin)
    start = admin.clock[0]
    now = start
    while now < start + services.sessions.absolute_seconds:
        services.sessions.load(token, now=now)
        now += idle - 1
    with pytest.raises(NoSession):
        services.sessions.load(token, now=now)


def test_an_idle_timeout_lowered_by_an_admin_applies_to_open_sessions(
    services: ReviewerServices, admin: Person
) -> None:
    token, _ = login(services, admin)
    start = admin.clock[0]
    services.sessions.load(token, now=start + 600)  # within the default 30 minutes
    services.instance.instance_settings.update({"session_idle_seconds": "300"})
    with pytest.raises(NoSession):
        services.sessions.load(token, now=start + 600 + 301)


def test_logout_deletes_the_row(services: ReviewerServices, admin: Person) -> None:
    token, _ = login(services, admin)
    before = services.sessions.count()
    services.logins.logout(token, now=admin.clock[0])
    with pytest.raises(NoSession):
        services.sessions.load(token, now=admin.clock[0])
    assert services.sessions.count() == before - 1


def test_session_needs_the_key_from_the_cookie(services: ReviewerServices,
                                               admin: Person) -> None:
    token, _ = login(services, admin)
    sid, _key = token.split(".")
    forged = sid + "." + "A" * 43
    with pytest.raises(NoSession):
        services.sessions.load(forged, now=admin.clock[0])
    for junk in ("", ".", "x.y", "a" * 200, sid):
        with pytest.raises(NoSession):
            services.sessions.load(junk, now=admin.clock[0])


def test_enrolment_codes_are_throttled(services: ReviewerServices) -> None:
    _, enrolment = services.reviewers.create("frank")
    token = services.logins.login("frank", enrolment.password, "", now=T0).token
    right = totp_code(enrolment.totp_secret, T0)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            services.logins.complete_enrolment(token, ADMIN_PASSWORD, wrong, now=T0)
    with pytest.raises(AccountLocked):
        services.logins.complete_enrolment(token, ADMIN_PASSWORD, right, now=T0 + 1)


def test_a_disabled_account_loses_its_live_session(services: ReviewerServices,
                                                   admin: Person, instance) -> None:
    token, _ = login(services, admin)
    with instance.store.db.transaction() as conn:
        conn.execute("UPDATE reviewers SET disabled = 1 WHERE username = 'admin'")
    with pytest.raises(NoSession):
        services.sessions.load(token, now=admin.clock[0])
