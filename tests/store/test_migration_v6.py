"""Schema 6 (the workspace) on a database made by schema 5: nothing lost, rules kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tipbox.store.db import MIGRATIONS, connect, migrate, schema_version

#: Earlier releases made SQLite instances only: their upgrades are SQLite's.
pytestmark = pytest.mark.sqlite_only

HOUR = 3600


def _version_5(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:5]) == 5
    conn.execute("INSERT INTO newsroom_keys (recipient, fingerprint, kind, state, created_hour)"
                 " VALUES ('age1a', 'fp-a', 'pq', 'active', 0),"
                 " ('age1b', 'fp-b', 'pq', 'destroyed', 0)")
    for n, activity in ((1, 5 * HOUR), (2, 9 * HOUR), (3, 5 * HOUR)):
        conn.execute("INSERT INTO sources (designation, created_hour, last_activity_hour)"
                     " VALUES (?, 0, ?)", (f"source {n}", activity))
        conn.execute("INSERT INTO submissions (source_id, created_hour) VALUES (?, 0)", (n,))
        conn.execute("INSERT INTO items (source_id, submission_id, kind, position, key_id,"
                     " header, blob, created_hour, seen) VALUES (?, ?, 'message', 0, 1, ?, ?,"
                     " ?, ?)", (n, n, b"header", f"blob{n}", activity, n % 2))
    conn.execute("INSERT INTO items (source_id, kind, position, key_id, header, blob,"
                 " created_hour) VALUES (1, 'reply', 0, 1, x'01', 'reply1', 0)")
    return conn


def test_version_6_keeps_every_item_and_orders_sources_as_before(tmp_path: Path) -> None:
    conn = _version_5(tmp_path / "tipbox.db")
    before = conn.execute("SELECT id, source_id, submission_id, kind, key_id, header, blob,"
                          " created_hour, seen FROM items ORDER BY id").fetchall()
    assert migrate(conn) == len(MIGRATIONS) >= 6
    after = conn.execute("SELECT id, source_id, submission_id, kind, key_id, header, blob,"
                         " created_hour, seen FROM items ORDER BY id").fetchall()
    assert [tuple(row) for row in after] == [tuple(row) for row in before]
    order = [row[0] for row in conn.execute(
        "SELECT designation FROM sources ORDER BY activity_seq DESC")]
    assert order == ["source 2", "source 3", "source 1"]  # hour, then id, as schema 5 sorted
    assert {row[0] for row in conn.execute("SELECT status FROM sources")} == {"new"}
    conn.close()


def test_version_6_keeps_the_rules_of_items(tmp_path: Path) -> None:
    conn = _version_5(tmp_path / "tipbox.db")
    migrate(conn)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"items_by_source", "items_by_submission", "items_by_key", "items_by_source_seen",
            "items_by_hour", "items_refuse_destroyed_key"} <= names
    with pytest.raises(sqlite3.IntegrityError, match="destroyed"):
        conn.execute("INSERT INTO items (source_id, kind, position, key_id, header, blob,"
                     " created_hour) VALUES (1, 'reply', 0, 2, x'01', 'late', 0)")
    with pytest.raises(sqlite3.IntegrityError):  # a note belongs to no submission
        conn.execute("INSERT INTO items (source_id, submission_id, kind, position, key_id,"
                     " header, blob, created_hour) VALUES (1, 1, 'note', 0, 1, x'01', 'n', 0)")
    with pytest.raises(sqlite3.IntegrityError):  # only a reply can be deleted by its source
        conn.execute("UPDATE items SET source_deleted_hour = 0 WHERE kind = 'message'")
    conn.execute("INSERT INTO items (source_id, kind, position, key_id, header, blob,"
                 " created_hour) VALUES (1, 'note', 0, 1, x'01', 'note1', 0)")
    conn.execute("DELETE FROM sources WHERE id = 1")  # cascades as before
    assert conn.execute("SELECT count(*) FROM items WHERE source_id = 1").fetchone()[0] == 0
    assert schema_version(conn) == len(MIGRATIONS)
    conn.close()
