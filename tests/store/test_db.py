"""The database layer: versioned migrations, transactions and the pool on both back ends;
SQLite's pragmas and file mode, and PostgreSQL's writers' lock."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from tests.store.conftest import table_names
from tipbox.errors import StorageUnavailable
from tipbox.store import postgres
from tipbox.store.db import (
    MIGRATIONS,
    Database,
    connect,
    hour,
    migrate,
    read_meta,
    schema_version,
    transaction,
    write_meta,
)
from tipbox.store.dialect import WRITE_LOCK, dialect_of


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.mark.sqlite_only
def test_connection_pragmas(db_path: Path) -> None:
    conn = connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # memory
    finally:
        conn.close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_new_database_migrates_to_latest(raw_connection: sqlite3.Connection) -> None:
    conn = raw_connection
    assert schema_version(conn) == 0
    assert migrate(conn) == len(MIGRATIONS)
    assert schema_version(conn) == len(MIGRATIONS)
    assert {"meta", "newsroom_keys", "grants", "sources", "submissions", "items"} <= table_names(
        conn
    )
    assert migrate(conn) == len(MIGRATIONS)  # idempotent


def test_migrations_apply_in_order_and_only_once(raw_connection: sqlite3.Connection) -> None:
    calls: list[int] = []
    first = ("CREATE TABLE a (x INTEGER)", lambda c: calls.append(1))
    second = ("ALTER TABLE a ADD COLUMN y INTEGER", lambda c: calls.append(2))
    conn = raw_connection
    assert migrate(conn, (first,)) == 1
    assert migrate(conn, (first, second)) == 2
    assert migrate(conn, (first, second)) == 2
    assert calls == [1, 2]
    conn.execute("INSERT INTO a (x, y) VALUES (1, 2)")


def test_failed_migration_leaves_the_previous_version(raw_connection: sqlite3.Connection) -> None:
    first = ("CREATE TABLE a (x INTEGER)",)
    broken = ("CREATE TABLE b (x INTEGER)", "THIS IS NOT SQL")
    conn = raw_connection
    migrate(conn, (first,))
    with pytest.raises(StorageUnavailable, match="syntax error"):
        migrate(conn, (first, broken))
    assert schema_version(conn) == 1
    assert "b" not in table_names(conn)


def test_newer_database_is_refused(raw_connection: sqlite3.Connection) -> None:
    conn = raw_connection
    dialect_of(conn).set_schema_version(conn, len(MIGRATIONS) + 1)
    with pytest.raises(StorageUnavailable, match="newer than this tipbox"):
        migrate(conn)


def test_transaction_commits_or_rolls_back(raw_connection: sqlite3.Connection) -> None:
    conn = raw_connection
    migrate(conn)
    with transaction(conn):
        write_meta(conn, "k", "v1")

    def fail_half_way() -> None:
        with transaction(conn):
            write_meta(conn, "k", "v2")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert read_meta(conn, "k") == "v1"
    assert read_meta(conn, "missing") is None
    assert not conn.in_transaction


def test_a_failed_statement_leaves_the_transaction_usable(store_database: Database) -> None:
    """As in SQLite: the failing statement is undone, the rest of the transaction commits."""
    with store_database.transaction() as conn:
        write_meta(conn, "before", "1")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("before", "2"))
        write_meta(conn, "after", "3")
    with store_database.reading() as conn:
        assert (read_meta(conn, "before"), read_meta(conn, "after")) == ("1", "3")


def test_integrity_errors_name_the_column_not_the_values(store_database: Database) -> None:
    """Both back ends: an IntegrityError that names the constraint, never the row's values."""
    with store_database.transaction() as conn:
        write_meta(conn, "secret-key-name", "v")
    with pytest.raises(sqlite3.IntegrityError) as raised, store_database.transaction() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("secret-key-name", "w"))
    assert "key" in str(raised.value)
    assert "secret-key-name" not in str(raised.value)


@pytest.mark.sqlite_only
def test_lock_contention_becomes_storage_unavailable(db_path: Path) -> None:
    database = Database(db_path)
    database.migrate()
    other = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    holder = connect(db_path)
    holder.execute("PRAGMA busy_timeout = 10")
    with pytest.raises(StorageUnavailable), transaction(holder):
        pass
    other.execute("ROLLBACK")
    other.close()
    holder.close()
    database.close()


def test_postgresql_writers_wait_for_the_lock_then_give_up(
    new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    """PostgreSQL: a writer holding the writers' lock keeps others out (readers read);
    one that waits past the lock timeout gets StorageUnavailable, as SQLite's busy writer."""
    database = Database(tmp_path / "unused.db", url=new_database_url())
    database.migrate()
    holder = cast(sqlite3.Connection, postgres.connect(cast(str, database.url)))
    waiter = cast(sqlite3.Connection, postgres.connect(cast(str, database.url)))
    try:
        transaction_held = transaction(holder)
        transaction_held.__enter__()
        write_meta(holder, "k", "held")
        waiter.execute("SET lock_timeout = 50")
        with pytest.raises(StorageUnavailable), transaction(waiter):
            pass  # pragma: no cover - the lock is never granted
        with pytest.raises(sqlite3.OperationalError, match="lock timeout"):
            write_meta(waiter, "k", "alone")  # a write outside a transaction waits too
        with database.reading() as conn:
            assert read_meta(conn, "k") is None  # readers never wait
        transaction_held.__exit__(None, None, None)
        with transaction(waiter):
            assert pg_lock_holders(waiter) == 1
            write_meta(waiter, "k", "after")
        assert read_meta(holder, "k") == "after"
    finally:
        holder.close()
        waiter.close()
        database.close()


def pg_lock_holders(conn: sqlite3.Connection) -> int:
    """How many sessions hold the writers' advisory lock."""
    return int(conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND ((classid::bigint << 32) | objid::bigint) = ?", (WRITE_LOCK,)
    ).fetchone()[0])


def test_foreign_keys_are_enforced(store_database: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError), store_database.transaction() as conn:
        conn.execute("INSERT INTO submissions (source_id, created_hour) VALUES (?, ?)", (999, 0))


def test_pool_serves_many_threads(store_database: Database) -> None:
    database = store_database
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for step in range(20):
                with database.transaction() as conn:
                    write_meta(conn, f"t{number}", str(step))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.reading() as conn:
        assert conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 8


def test_hour_rounds_down() -> None:
    assert hour(7199.9) == 3600
    assert hour(3600) == 3600
    assert hour() % 3600 == 0


def test_rows_kept_through_the_migrations_and_no_id_reused(
    raw_connection: sqlite3.Connection,
) -> None:
    """Rows written at schema 5 survive every later migration (schema 6 rebuilds items by
    copying them), and new rows get ids past them, never a deleted one's: on PostgreSQL
    the copy and the first desk are explicit ids, which its sequences learn at the end."""
    conn = raw_connection
    migrate(conn, MIGRATIONS[:5])
    conn.execute("INSERT INTO newsroom_keys (recipient, fingerprint, kind, state, created_hour)"
                 " VALUES ('age1a', 'fp-a', 'pq', 'active', 0)")
    conn.execute("INSERT INTO sources (designation, created_hour, last_activity_hour)"
                 " VALUES ('a source', 0, 0)")
    for blob in ("one", "two"):
        conn.execute("INSERT INTO items (source_id, kind, position, key_id, header, blob,"
                     " created_hour) VALUES (1, 'reply', 0, 1, ?, ?, 0)", (b"h", blob))
    migrate(conn)
    assert [tuple(row) for row in conn.execute("SELECT id, blob FROM items ORDER BY id")] == [
        (1, "one"), (2, "two")]

    def new_note(blob: str) -> int:
        return int(conn.execute(
            "INSERT INTO items (source_id, kind, position, key_id, header, blob, created_hour)"
            " VALUES (1, 'note', 0, 1, ?, ?, 0) RETURNING id", (b"h", blob)).fetchone()[0])

    assert new_note("three") == 3
    conn.execute("DELETE FROM items WHERE id = 3")
    assert new_note("four") == 4
    assert conn.execute(
        "INSERT INTO desks (slug, texts, position, created_hour) VALUES ('b', '{}', 1, 0)"
        " RETURNING id").fetchone()[0] == 2
