"""The reviewer login throttle keeps no typed name on disk, and purges what no longer counts.

A name typed at login that belongs to no account is often a password typed
into the wrong field: the throttle stores a keyed hash of it, and only while
its window or lock runs (tipbox/services/reviewers.py, "No typed name on disk").
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import T0, ReviewerSite, csrf

from tipbox.cli.sweep import sweep_instance
from tipbox.errors import AuthenticationFailed
from tipbox.services.accounts.reviewers import Reviewers
from tipbox.services.accounts.throttle import (
    FAILURE_WINDOW_SECONDS,
    FIRST_LOCK_SECONDS,
    MAX_FAILURES,
    MAX_LOCK_SECONDS,
    AccountLocked,
    LoginThrottle,
    throttle_key,
)
from tipbox.services.wiring import Instance, ReviewerServices

FUZZ = settings(max_examples=60, derandomize=True, deadline=None,
                suppress_health_check=list(HealthCheck))

CANARY = "Canary-Pa55word-7f3a9c1e"


def disk_bytes(data_dir: Path) -> bytes:
    """Every file the instance keeps under its data directory (database, WAL, shm, blobs)."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*")) if path.is_file())


def throttle_rows(services: ReviewerServices) -> list[tuple[bytes, int, float, float, int]]:
    with services.instance.store.db.connection() as conn:
        return [tuple(row) for row in conn.execute("SELECT * FROM login_throttle")]  # type: ignore[misc]


def post_login(site: ReviewerSite, username: str) -> int:
    client = site.client()
    response = client.post("/login", data={
        "csrf_token": csrf(client), "username": username,
        "password": "wrong password!!", "code": "123456"})
    return response.status_code


def test_a_typed_name_is_not_on_disk_and_still_locks_out(site: ReviewerSite) -> None:
    data_dir = site.services.instance.settings.data_dir
    typed = (CANARY, CANARY.lower())  # the login form lower-cases the username
    assert not any(text.encode() in disk_bytes(data_dir) for text in typed)
    assert post_login(site, CANARY) == 403
    stored = disk_bytes(data_dir)
    for text in typed:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert text.encode(encoding) not in stored
        assert text[:12].encode() not in stored  # nor a prefix of it
    for _ in range(MAX_FAILURES - 2):
        assert post_login(site, CANARY) == 403
    assert post_login(site, CANARY) == 403  # the fifth failure locks the name
    assert post_login(site, CANARY) == 429  # the same name typed again is locked out
    assert post_login(site, "someone-else") == 403
    assert not any(text.encode() in disk_bytes(data_dir) for text in typed)


def test_the_hash_is_keyed_by_the_instance_secret(services: ReviewerServices,
                                                  instance: Instance) -> None:
    with pytest.raises(AuthenticationFailed):
        services.reviewers.unlock(CANARY, "wrong password!!", now=T0)
    (row,) = throttle_rows(services)
    assert len(row[0]) == 32
    key = throttle_key(instance.secrets.flask_secret_key)
    assert key != instance.secrets.flask_secret_key
    assert throttle_key(instance.secrets.flask_secret_key) == key  # stable across processes
    other = Reviewers(instance.store.db, params=instance.settings.password_argon2,
                      throttle_key=throttle_key(b"another instance's secret"))
    with pytest.raises(AuthenticationFailed):
        other.unlock(CANARY, "wrong password!!", now=T0)
    assert len(throttle_rows(services)) == 2  # another key, another row


def test_rows_go_once_their_window_is_over(services: ReviewerServices) -> None:
    reviewers = services.reviewers
    with pytest.raises(AuthenticationFailed):
        reviewers.unlock(CANARY, "wrong password!!", now=T0)
    assert len(throttle_rows(services)) == 1
    assert reviewers.forget_expired_attempts(now=T0 + FAILURE_WINDOW_SECONDS) == 0
    later = T0 + FAILURE_WINDOW_SECONDS + 1
    with pytest.raises(AuthenticationFailed):
        reviewers.unlock("a-different-name", "wrong password!!", now=later)
    assert len(throttle_rows(services)) == 1  # the attempt purged the canary's row
    assert reviewers.forget_expired_attempts(now=later + FAILURE_WINDOW_SECONDS + 1) == 1
    assert throttle_rows(services) == []


def test_the_hourly_sweep_forgets_expired_attempts(services: ReviewerServices) -> None:
    with pytest.raises(AuthenticationFailed):
        services.reviewers.unlock(CANARY, "wrong password!!", now=T0)
    assert len(throttle_rows(services)) == 1
    settings = services.instance.settings
    sweep_instance(settings, now=T0 + FAILURE_WINDOW_SECONDS + 1)
    assert throttle_rows(services) == []


def test_a_locked_name_is_remembered_for_the_doubling_then_forgotten(
    services: ReviewerServices,
) -> None:
    reviewers = services.reviewers
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthenticationFailed):
            reviewers.unlock(CANARY, "wrong password!!", now=T0)
    with pytest.raises(AccountLocked):
        reviewers.unlock(CANARY, "wrong password!!", now=T0 + 1)
    (row,) = throttle_rows(services)
    locked_until = row[3]
    assert reviewers.forget_expired_attempts(now=locked_until + MAX_LOCK_SECONDS) == 0
    assert reviewers.forget_expired_attempts(now=locked_until + MAX_LOCK_SECONDS + 1) == 1


# --- properties ---------------------------------------------------------------------------

names = st.text(min_size=1, max_size=80).filter(lambda text: "\x00" not in text)


@FUZZ
@given(name=names)
def test_no_typed_name_reaches_the_database(services: ReviewerServices, name: str) -> None:
    """Whatever is typed as a username, neither it nor its first 64 characters are stored."""
    typed = "typed:" + name
    with pytest.raises(AuthenticationFailed):
        services.reviewers.unlock(typed, "wrong password!!", now=T0)
    stored = disk_bytes(services.instance.settings.data_dir)
    assert typed.encode("utf-8", "surrogatepass")[:64] not in stored
    with services.instance.store.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM login_throttle WHERE length(name_hash) != 32"
                            ).fetchone()[0] == 0


attempts = st.lists(
    st.tuples(st.sampled_from(string.ascii_lowercase[:3]),
              st.sampled_from([0.0, 1.0, 20.0, 61.0, 300.0, 3700.0, 8000.0])),
    min_size=1, max_size=40,
)


@FUZZ
@given(steps=attempts)
def test_purging_never_changes_a_lockout(instance: Instance, steps: list[tuple[str, float]]
                                         ) -> None:
    """Two throttles over the same attempts: the real one, which purges rows, and a model.

    The model keeps every row forever and applies the documented rule; the
    real throttle, which deletes rows whose window and lock are over, must
    lock out exactly the same attempts.
    """
    real = LoginThrottle(instance.store.db, throttle_key(bytes(32) + bytes([len(steps)])))
    with instance.store.db.transaction() as conn:
        conn.execute("DELETE FROM login_throttle")
    reference: dict[str, tuple[int, float, float, int]] = {}
    now = T0
    for name, elapsed in steps:
        now += elapsed
        assert _real_locked(real, name, now) == _reference_locked(reference, name, now)


def _real_locked(throttle: LoginThrottle, name: str, now: float) -> bool:
    try:
        throttle.count(name, now)  # the throttle alone, no Argon2
    except AccountLocked:
        return True
    return False


def _reference_locked(rows: dict[str, tuple[int, float, float, int]], name: str,
                      now: float) -> bool:
    """The throttle's rule (module contract), written out with no purge at all."""
    failures, start, locked_until, lockouts = rows.get(name, (0, now, 0.0, 0))
    if locked_until > now:
        return True
    if now - locked_until > MAX_LOCK_SECONDS:
        lockouts = 0  # the doubling remembers a lockout for an hour after it ended
    if now - start > FAILURE_WINDOW_SECONDS:
        failures, start = 0, now
    failures += 1
    if failures >= MAX_FAILURES:
        lockouts += 1
        delay = min(FIRST_LOCK_SECONDS * 2 ** (lockouts - 1), MAX_LOCK_SECONDS)
        failures, start, locked_until = 0, now, now + delay
    rows[name] = (failures, start, locked_until, lockouts)
    return False
