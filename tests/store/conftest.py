"""The store's tests run on both back ends.

A test that asks for ``settings``, ``store_database`` or ``raw_connection``
runs once on SQLite and once on PostgreSQL. Tests of SQLite itself (its
files, pragmas and WAL, the secure-delete order, instances made by earlier
releases) say so with ``pytest.mark.sqlite_only`` and open SQLite directly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.conftest import BACKENDS
from tipbox.store import postgres
from tipbox.store.db import connect


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def raw_connection(tmp_path: Path, database_env: dict[str, str]) -> Iterator[sqlite3.Connection]:
    """A connection to a new, empty (not migrated) database of this test's back end."""
    url = database_env.get("TIPBOX_DATABASE_URL")
    conn = connect(tmp_path / "t.db") if url is None else cast(
        sqlite3.Connection, postgres.connect(url)
    )
    yield conn
    conn.close()


def table_names(conn: sqlite3.Connection) -> set[str]:
    """The tables of the database ``conn`` is connected to, on either back end."""
    if isinstance(conn, sqlite3.Connection):
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {str(row[0]) for row in conn.execute(query)}
