"""The SQLite layer: pragmas, versioned migrations, transactions, the pool."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from tipbox.errors import StorageUnavailable
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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


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


def test_new_database_migrates_to_latest(db_path: Path) -> None:
    conn = connect(db_path)
    assert schema_version(conn) == 0
    assert migrate(conn) == len(MIGRATIONS)
    assert schema_version(conn) == len(MIGRATIONS)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "newsroom_keys", "grants", "sources", "submissions", "items"} <= tables
    assert migrate(conn) == len(MIGRATIONS)  # idempotent
    conn.close()


def test_migrations_apply_in_order_and_only_once(db_path: Path) -> None:
    calls: list[int] = []
    first = ("CREATE TABLE a (x INTEGER)", lambda c: calls.append(1))
    second = ("ALTER TABLE a ADD COLUMN y INTEGER", lambda c: calls.append(2))
    conn = connect(db_path)
    assert migrate(conn, (first,)) == 1
    assert migrate(conn, (first, second)) == 2
    assert migrate(conn, (first, second)) == 2
    assert calls == [1, 2]
    conn.execute("INSERT INTO a (x, y) VALUES (1, 2)")
    conn.close()


def test_failed_migration_leaves_the_previous_version(db_path: Path) -> None:
    first = ("CREATE TABLE a (x INTEGER)",)
    broken = ("CREATE TABLE b (x INTEGER)", "THIS IS NOT SQL")
    conn = connect(db_path)
    migrate(conn, (first,))
    with pytest.raises(StorageUnavailable, match="syntax error"):
        migrate(conn, (first, broken))
    assert schema_version(conn) == 1
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "b" not in names
    conn.close()


def test_newer_database_is_refused(db_path: Path) -> None:
    conn = connect(db_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StorageUnavailable, match="newer than this tipbox"):
        migrate(conn)
    conn.close()


def test_transaction_commits_or_rolls_back(db_path: Path) -> None:
    conn = connect(db_path)
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
    conn.close()


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


def test_foreign_keys_are_enforced(db_path: Path) -> None:
    database = Database(db_path)
    database.migrate()
    with pytest.raises(sqlite3.IntegrityError), database.transaction() as conn:
        conn.execute("INSERT INTO submissions (source_id, created_hour) VALUES (?, ?)", (999, 0))
    database.close()


def test_pool_serves_many_threads(db_path: Path) -> None:
    database = Database(db_path)
    database.migrate()
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
    database.close()


def test_hour_rounds_down() -> None:
    assert hour(7199.9) == 3600
    assert hour(3600) == 3600
    assert hour() % 3600 == 0
