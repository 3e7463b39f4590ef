"""The ``instance_settings`` table: limits an admin set, by name, as text.

Contract: names and values are stored as given (the service parses and
checks them); writing a name again replaces its value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

__all__ = ["read_settings", "write_settings"]


def read_settings(conn: sqlite3.Connection) -> dict[str, str]:
    """Every stored ``name -> value``."""
    return dict(conn.execute("SELECT name, value FROM instance_settings").fetchall())


def write_settings(conn: sqlite3.Connection, values: Mapping[str, str]) -> None:
    """Store each ``name -> value`` (inside the caller's transaction)."""
    for name, value in values.items():
        conn.execute(
            "INSERT INTO instance_settings (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
