"""The organisation's logo: one public PNG, kept in the database.

Contract: the PNG is not secret (every source sees it). It lives in the
one-row ``logo`` table, so that every host of a deployment with several
(docs/deploy.md) serves the logo an admin uploaded on any of them; a
reader sees the old logo or the new one, never part of one (it is written
in the caller's transaction). The bytes are stored as given; the service
(:mod:`tipbox.services.logo`) decodes and re-encodes them before they come
here. Instances made before schema 11 kept it as ``logo.png`` in the data
directory: :func:`adopt_logo_file` moves such a file into the table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tipbox.store.db import Database
from tipbox.store.files import fsync_path

__all__ = ["LOGO_FILE", "adopt_logo_file", "read_logo", "remove_logo", "write_logo"]

#: Where instances before schema 11 kept the logo, in the data directory.
LOGO_FILE = "logo.png"


def read_logo(conn: sqlite3.Connection) -> bytes | None:
    """The stored PNG, ``None`` when there is none."""
    row = conn.execute("SELECT png FROM logo WHERE id = 1").fetchone()
    return None if row is None else bytes(row[0])


def write_logo(conn: sqlite3.Connection, png: bytes) -> None:
    """Replace the logo by ``png`` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO logo (id, png) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET png = excluded.png",
        (png,),
    )


def remove_logo(conn: sqlite3.Connection) -> None:
    """Delete the logo (inside the caller's transaction); none is not an error."""
    conn.execute("DELETE FROM logo")


def adopt_logo_file(db: Database, data_dir: Path) -> None:
    """Move a logo file left by an instance before schema 11 into the table.

    The table keeps a logo it already holds; the file goes either way.
    """
    path = data_dir / LOGO_FILE
    try:
        png = path.read_bytes()
    except FileNotFoundError:
        return
    with db.transaction() as conn:
        if read_logo(conn) is None:
            write_logo(conn, png)
    path.unlink()
    fsync_path(data_dir)
