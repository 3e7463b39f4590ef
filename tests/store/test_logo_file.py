"""The logo in the database: replaced whole, removed without a trace, adopted from an old file."""

from __future__ import annotations

from pathlib import Path

from tipbox.store.db import Database
from tipbox.store.logo import LOGO_FILE, adopt_logo_file, read_logo, remove_logo, write_logo


def _database(tmp_path: Path) -> Database:
    db = Database(tmp_path / "tipbox.db")
    db.migrate()
    return db


def test_write_read_replace_remove(tmp_path: Path) -> None:
    db = _database(tmp_path)
    with db.transaction() as conn:
        assert read_logo(conn) is None
        write_logo(conn, b"first")
        write_logo(conn, b"second")
    with db.connection() as conn:
        assert read_logo(conn) == b"second"
        assert conn.execute("SELECT count(*) FROM logo").fetchone()[0] == 1
    with db.transaction() as conn:
        remove_logo(conn)
        remove_logo(conn)
    with db.connection() as conn:
        assert read_logo(conn) is None


def test_an_old_logo_file_moves_into_the_database(tmp_path: Path) -> None:
    db = _database(tmp_path)
    (tmp_path / LOGO_FILE).write_bytes(b"old png")
    adopt_logo_file(db, tmp_path)
    assert not (tmp_path / LOGO_FILE).exists()
    with db.connection() as conn:
        assert read_logo(conn) == b"old png"
    (tmp_path / LOGO_FILE).write_bytes(b"stale copy")
    adopt_logo_file(db, tmp_path)  # the table keeps the logo it holds; the file goes
    assert not (tmp_path / LOGO_FILE).exists()
    with db.connection() as conn:
        assert read_logo(conn) == b"old png"
    adopt_logo_file(db, tmp_path)  # nothing to adopt: nothing happens
