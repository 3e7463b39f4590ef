"""A database snapshot for backups: a private, self-contained copy of the live database.

Contract: the functions take the snapshot's path (or a read-only
connection from :func:`open_read_only`) and never touch the live database
except :func:`copy_database`, which reads it in one consistent step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from tipbox.store.db import connect

__all__ = [
    "all_blobs",
    "copy_database",
    "count_items",
    "forget_items",
    "integrity_ok",
    "open_read_only",
    "referenced_blobs",
    "schema_version",
]


def copy_database(source: Path, target: Path) -> None:
    """Copy the live database ``source`` into a self-contained file ``target``."""
    live = connect(source)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        live.backup(copy)  # all pages in one step: one consistent read snapshot
        copy.execute("PRAGMA journal_mode = DELETE")  # a self-contained file
    finally:
        copy.close()
        live.close()


def referenced_blobs(snapshot: Path) -> list[str]:
    """Every item's blob, in item order."""
    conn = sqlite3.connect(snapshot)
    try:
        return [row[0] for row in conn.execute("SELECT blob FROM items ORDER BY id")]
    finally:
        conn.close()


def forget_items(snapshot: Path, blobs: Sequence[str]) -> None:
    """Delete (zeroing, ``secure_delete``) the items whose blob is one of ``blobs``."""
    conn = sqlite3.connect(snapshot, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.executemany("DELETE FROM items WHERE blob = ?", [(name,) for name in blobs])
    finally:
        conn.close()


def count_items(snapshot: Path) -> int:
    """How many items the snapshot holds."""
    conn = sqlite3.connect(snapshot)
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection (:class:`sqlite3.Error` if it cannot be opened)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def integrity_ok(conn: sqlite3.Connection) -> bool:
    """Whether SQLite's integrity check passes."""
    return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def all_blobs(conn: sqlite3.Connection) -> list[str]:
    """Every item's blob."""
    return [row[0] for row in conn.execute("SELECT blob FROM items")]
