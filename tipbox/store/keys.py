"""The key tables: ``newsroom_keys`` and the ``grants`` that wrap them for holders.

Contract: functions run inside the caller's transaction. (Most of the key
SQL still lives in ``services/custody/keyring.py`` and ``services/custody/rotation.py``;
see ``SQL_NOT_MOVED_YET`` in ``tests/store/test_storage_door.py``.)
"""

from __future__ import annotations

import sqlite3

__all__ = ["delete_grants_of"]


def delete_grants_of(conn: sqlite3.Connection, holder: str, recipient: str) -> None:
    """Delete every grant held by ``holder`` or wrapped to ``recipient``."""
    conn.execute(
        "DELETE FROM grants WHERE holder = ? OR holder_recipient = ?", (holder, recipient)
    )
