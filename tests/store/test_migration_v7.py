"""Schema 7 (notification preferences) on a database made by schema 6: nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tipbox.store.db import MIGRATIONS, connect, migrate, schema_version

#: Earlier releases made SQLite instances only: their upgrades are SQLite's.
pytestmark = pytest.mark.sqlite_only


def _version_6(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:6]) == 6
    conn.execute("INSERT INTO reviewers (username, is_admin, active, recipient, password_params,"
                 " password_salt, verifier, sealed_identity, sealed_totp, totp_last_step,"
                 " created_hour) VALUES ('ana', 1, 1, 'age1ana', 'p', x'01', x'02', x'03',"
                 " x'04', 7, 0)")
    conn.execute("INSERT INTO sources (designation, created_hour, last_activity_hour)"
                 " VALUES ('source 1', 0, 0)")
    conn.execute("INSERT INTO assignments (source_id, reviewer_id) VALUES (1, 1)")
    return conn


def test_version_7_keeps_every_account_and_tells_nobody_by_default(tmp_path: Path) -> None:
    conn = _version_6(tmp_path / "tipbox.db")
    before = [tuple(r) for r in conn.execute("SELECT * FROM reviewers")]
    assert migrate(conn) == len(MIGRATIONS) >= 7
    after = conn.execute("SELECT * FROM reviewers").fetchall()
    assert [tuple(r)[: len(before[0])] for r in after] == before
    row = after[0]
    assert (row["notify"], row["notify_email"], row["notified_source"],
            row["notified_submission"]) == ("none", None, 0, 0)
    assert [tuple(r) for r in conn.execute("SELECT * FROM assignments")] == [(1, 1)]
    assert schema_version(conn) == len(MIGRATIONS)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE reviewers SET notify = 'everything'")
    conn.close()
