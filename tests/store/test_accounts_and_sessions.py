"""The account and session tables: ``store/reviewers.py`` and ``store/sessions.py``."""

from __future__ import annotations

import sqlite3

import pytest

from tipbox.store.db import Database
from tipbox.store.reviewers import (
    Credentials,
    account_row,
    account_rows,
    delete_attempts,
    insert_reviewer,
    is_enabled,
    purge_attempts,
    read_attempts,
    reviewer_by_name,
    set_credentials,
    set_totp_last_step,
    totp_last_step,
    write_attempts,
)
from tipbox.store.sessions import (
    count_reviewer_sessions,
    count_source_sessions,
    delete_reviewer_session,
    delete_reviewer_sessions_of,
    delete_source_session,
    insert_reviewer_session,
    insert_source_session,
    purge_reviewer_sessions,
    purge_source_sessions,
    reviewer_session,
    source_session_is_live,
    touch_reviewer_session,
)

CREDENTIALS = Credentials("argon2id$t=1$m=8$p=1", b"salt", b"verifier", b"identity", b"totp")


@pytest.fixture
def db(store_database: Database) -> Database:
    return store_database


def _add(conn: sqlite3.Connection, username: str, *, disabled: bool = False) -> int:
    return insert_reviewer(conn, username, is_admin=False, disabled=disabled,
                           recipient=f"age1{username}", credentials=CREDENTIALS, created_hour=7)


def test_a_new_reviewer_is_pending_with_its_credentials(db: Database) -> None:
    with db.transaction() as conn:
        alice = _add(conn, "alice")
    with db.reading() as conn:
        row = reviewer_by_name(conn, "alice")
        assert row is not None
        assert (row["id"], row["active"], row["totp_last_step"]) == (alice, 0, -1)
        assert tuple(row[name] for name in Credentials._fields) == CREDENTIALS
        assert dict(account_row(conn, alice) or {}) == {
            "id": alice, "username": "alice", "is_admin": 0, "active": 0, "recipient": "age1alice"}
        assert reviewer_by_name(conn, "nobody") is None
        assert account_row(conn, alice + 1) is None


def test_a_taken_username_is_an_integrity_error(db: Database) -> None:
    with db.transaction() as conn:
        _add(conn, "alice")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
        _add(conn, "alice")


def test_credentials_and_totp_steps_are_replaced(db: Database) -> None:
    with db.transaction() as conn:
        alice = _add(conn, "alice")
        bob = _add(conn, "bob", disabled=True)
        new = Credentials("argon2id$t=2$m=8$p=1", b"salt2", b"verifier2", b"id2", b"totp2")
        set_credentials(conn, alice, new, activate=False)
        assert reviewer_by_name(conn, "alice")["active"] == 0  # type: ignore[index]
        set_credentials(conn, alice, new, activate=True)
        set_credentials(conn, alice, new, activate=False)  # never deactivates
        row = reviewer_by_name(conn, "alice")
        assert row is not None
        assert row["active"] == 1
        assert row["verifier"] == b"verifier2"
        set_totp_last_step(conn, alice, 42)
        assert totp_last_step(conn, alice) == 42
        assert totp_last_step(conn, bob + 1) is None
        assert is_enabled(conn, alice)
        assert not is_enabled(conn, bob)
        assert not is_enabled(conn, bob + 1)
        assert [row["username"] for row in account_rows(conn)] == ["alice", "bob"]


def test_throttle_rows_are_written_read_and_purged(db: Database) -> None:
    with db.transaction() as conn:
        write_attempts(conn, b"a" * 32, (1, 100.0, 0.0, 0))
        write_attempts(conn, b"b" * 32, (0, 100.0, 200.0, 1))
        assert read_attempts(conn, b"a" * 32) == (1, 100.0, 0.0, 0)
        assert read_attempts(conn, b"c" * 32) is None
        assert purge_attempts(conn, 161.0, window_seconds=60, max_lock_seconds=3600) == 1
        assert read_attempts(conn, b"b" * 32) is not None  # locked out: kept for the doubling
        assert purge_attempts(conn, 3800.0, window_seconds=60, max_lock_seconds=3600) == 0
        assert purge_attempts(conn, 3801.0, window_seconds=60, max_lock_seconds=3600) == 1
        write_attempts(conn, b"a" * 32, (2, 100.0, 0.0, 0))
        delete_attempts(conn, b"a" * 32)
        assert read_attempts(conn, b"a" * 32) is None


def test_reviewer_sessions_live_and_die_with_their_rows(db: Database) -> None:
    with db.transaction() as conn:
        alice = _add(conn, "alice")
        insert_reviewer_session(conn, b"s1", alice, kind="full", now=10.0, sealed=b"x")
        insert_reviewer_session(conn, b"s2", alice, kind="enrol", now=20.0, sealed=b"y")
        row = reviewer_session(conn, b"s1")
        assert row is not None
        assert (row["username"], row["kind"], row["created"], row["sealed"]) == (
            "alice", "full", 10.0, b"x")
        touch_reviewer_session(conn, b"s1", 30.0)
        assert reviewer_session(conn, b"s1")["last_seen"] == 30.0  # type: ignore[index]
        assert purge_reviewer_sessions(conn, idle_cut=25.0, absolute_cut=0.0) == 1  # s2
        assert count_reviewer_sessions(conn) == 1
        delete_reviewer_session(conn, b"s1")
        assert reviewer_session(conn, b"s1") is None
        insert_reviewer_session(conn, b"s3", alice, kind="full", now=40.0, sealed=b"z")
        delete_reviewer_sessions_of(conn, alice)
        assert count_reviewer_sessions(conn) == 0


def test_source_sessions_are_live_while_both_rows_exist(db: Database) -> None:
    with db.transaction() as conn:
        source_id = int(conn.execute(
            "INSERT INTO sources (lookup_id, designation, reply_recipient, created_hour,"
            " last_activity_hour, desk_id) VALUES (?, 'a b', 'age1x', 0, 0, 1) RETURNING id",
            (b"\x00",),
        ).fetchone()[0])
        insert_source_session(conn, b"h1", 5)
        insert_source_session(conn, b"h2", 9)
        assert source_session_is_live(conn, b"h1", source_id)
        assert not source_session_is_live(conn, b"h1", source_id + 1)
        assert not source_session_is_live(conn, b"nope", source_id)
        purge_source_sessions(conn, 5)
        assert not source_session_is_live(conn, b"h1", source_id)
        assert count_source_sessions(conn) == 1
        delete_source_session(conn, b"h2")
        assert count_source_sessions(conn) == 0
