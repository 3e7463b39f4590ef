"""The audit, key and account-administration storage functions, on a real schema."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tipbox.store.audit import audit_reviewers, insert_entry, newest_entries
from tipbox.store.db import Database
from tipbox.store.desks import DEFAULT_DESK, add_member
from tipbox.store.keys import (
    active_key_row,
    destroy_key,
    enabled_reviewer_recipients,
    insert_newsroom_key,
    key_row,
    key_rows,
    key_rows_with_counts,
    retire_active_key,
    retired_hour_of,
    sealed_grants_to,
    write_grant,
)
from tipbox.store.reviewers import (
    account_state,
    accounts_with_grants,
    count_other_admins,
    delete_account,
    revoke_access,
    set_admin_flag,
    set_disabled,
)


@pytest.fixture
def conn(store_database: Database) -> Iterator[sqlite3.Connection]:
    with store_database.transaction() as connection:
        yield connection


def _key(conn: sqlite3.Connection, name: str, state: str = "active") -> int:
    row = insert_newsroom_key(
        conn, recipient=f"age1{name}", fingerprint=name, kind="pq", state=state, created_hour=3600,
        desk_id=DEFAULT_DESK,
    )
    return int(row["id"])


def _reviewer(conn: sqlite3.Connection, name: str, *, is_admin: bool = False) -> int:
    row = conn.execute(
        "INSERT INTO reviewers (username, is_admin, recipient, password_params, password_salt,"
        " verifier, sealed_identity, sealed_totp, totp_last_step, created_hour)"
        " VALUES (?, ?, ?, '', ?, ?, ?, ?, 0, 0) RETURNING id",
        (name, int(is_admin), f"age1{name}", b"", b"", b"", b""),
    ).fetchone()
    return int(row[0])


def test_audit_rows_page_newest_first_with_filters(conn: sqlite3.Connection) -> None:
    insert_entry(conn, "login", hour=3600, reviewer="bob")
    insert_entry(conn, "rotate key", hour=7200, reviewer="alice", target="ab cd")
    insert_entry(conn, "view", hour=7200, reviewer="bob", designation="quiet otter")
    insert_entry(conn, "purge", hour=7200, reviewer=None, target="3 items")
    assert [row["action"] for row in newest_entries(conn, 10)] == [
        "purge", "view", "rotate key", "login"]
    bob = newest_entries(conn, 10, reviewer="bob")
    assert [row["action"] for row in bob] == ["view", "login"]
    assert bob[0]["designation"] == "quiet otter"
    below = newest_entries(conn, 1, before=int(bob[0]["id"]))
    assert [(row["action"], row["target"]) for row in below] == [("rotate key", "ab cd")]
    assert newest_entries(conn, 10, action="purge", reviewer="bob") == []
    assert audit_reviewers(conn) == ["alice", "bob"]


def test_a_key_is_granted_retired_counted_and_destroyed(conn: sqlite3.Connection) -> None:
    old = _key(conn, "old")
    write_grant(conn, old, holder="recovery", holder_recipient="age1rec", sealed=b"one")
    write_grant(conn, old, holder="recovery", holder_recipient="age1rec", sealed=b"two")
    assert sealed_grants_to(conn, "age1rec") == [b"two"]  # replaced, not added
    retired = retire_active_key(conn, DEFAULT_DESK, 7200)
    assert retired is not None
    assert retired["state"] == "retired"
    assert active_key_row(conn, DEFAULT_DESK) is None
    assert retire_active_key(conn, DEFAULT_DESK, 7200) is None
    new = _key(conn, "new")
    write_grant(conn, new, holder="recovery", holder_recipient="age1rec", sealed=b"new")
    assert sealed_grants_to(conn, "age1rec") == [b"new", b"two"]  # newest key first
    assert [row["id"] for row in key_rows(conn)] == [new, old]
    assert [(row["n_items"], row["n_grants"]) for row in key_rows_with_counts(conn)] == [
        (0, 1), (0, 1)]
    assert retired_hour_of(conn, old) == 7200
    assert retired_hour_of(conn, new) is None
    assert destroy_key(conn, old)["state"] == "destroyed"
    assert sealed_grants_to(conn, "age1rec") == [b"new"]
    assert key_row(conn, 9999) is None


def test_account_administration_rows(conn: sqlite3.Connection) -> None:
    admin = _reviewer(conn, "admin", is_admin=True)
    carol = _reviewer(conn, "carol")
    key = _key(conn, "k")
    write_grant(conn, key, holder=f"reviewer:{carol}", holder_recipient="age1carol", sealed=b"g")
    assert [(row["username"], row["n"]) for row in accounts_with_grants(conn)] == [
        ("admin", 0), ("carol", 1)]
    assert count_other_admins(conn, admin) == 0
    set_admin_flag(conn, carol, is_admin=True)
    assert count_other_admins(conn, admin) == 1
    set_disabled(conn, carol, disabled=True)
    assert count_other_admins(conn, admin) == 0
    assert enabled_reviewer_recipients(conn, DEFAULT_DESK) == []  # no member of the desk yet
    add_member(conn, DEFAULT_DESK, admin)
    add_member(conn, DEFAULT_DESK, carol)
    assert [row["id"] for row in enabled_reviewer_recipients(conn, DEFAULT_DESK)] == [admin]
    assert revoke_access(conn, carol, f"reviewer:{carol}") == 1
    assert revoke_access(conn, carol, f"reviewer:{carol}") == 0
    delete_account(conn, carol)
    assert account_state(conn, carol) is None
    row = account_state(conn, admin)
    assert row is not None
    assert (row["username"], row["is_admin"], row["disabled"]) == ("admin", 1, 0)
