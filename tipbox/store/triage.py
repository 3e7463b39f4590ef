"""The triage tables: a source's ``status``, its ``labels`` and its ``assignments``.

Contract: the functions run inside the caller's connection or transaction
and hold no policy (which statuses exist and what a label may be called is
decided by ``services/inbox/triage.py``). Label names are unique without
regard to case; status, labels and assignments are not secret (the
reviewer pages say so where they are edited).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = [
    "add_labels",
    "assign",
    "delete_label",
    "label_id",
    "labels",
    "labels_of",
    "assignees_of",
    "remove_label",
    "set_status",
    "unassign",
]


def labels(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every label: ``id, name, sources`` (how many sources carry it), by name."""
    return conn.execute(
        "SELECT l.id, l.name, (SELECT count(*) FROM source_labels sl WHERE sl.label_id = l.id)"
        " AS sources FROM labels l ORDER BY l.name COLLATE NOCASE"
    ).fetchall()


def label_id(conn: sqlite3.Connection, name: str, *, create: bool) -> int | None:
    """The id of the label ``name`` (any case); created if missing and ``create``."""
    if create:
        conn.execute("INSERT INTO labels (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
    row = conn.execute("SELECT id FROM labels WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def delete_label(conn: sqlite3.Connection, label: int) -> bool:
    """Delete a label everywhere; False if there was none."""
    return conn.execute("DELETE FROM labels WHERE id = ?", (label,)).rowcount > 0


def add_labels(conn: sqlite3.Connection, source_ids: Sequence[int], label: int) -> int:
    """Put ``label`` on each source; how many sources gained it."""
    return sum(
        conn.execute(
            "INSERT INTO source_labels (source_id, label_id) SELECT id, ? FROM sources"
            " WHERE id = ? ON CONFLICT DO NOTHING",
            (label, source_id),
        ).rowcount
        for source_id in source_ids
    )


def remove_label(conn: sqlite3.Connection, source_ids: Sequence[int], label: int) -> int:
    """Take ``label`` off each source; how many sources lost it."""
    return sum(
        conn.execute(
            "DELETE FROM source_labels WHERE source_id = ? AND label_id = ?", (source_id, label)
        ).rowcount
        for source_id in source_ids
    )


def labels_of(conn: sqlite3.Connection, source_id: int) -> list[str]:
    """The names of a source's labels, by name."""
    return [
        str(row[0])
        for row in conn.execute(
            "SELECT l.name FROM source_labels sl JOIN labels l ON l.id = sl.label_id"
            " WHERE sl.source_id = ? ORDER BY l.name COLLATE NOCASE",
            (source_id,),
        )
    ]


def set_status(conn: sqlite3.Connection, source_ids: Sequence[int], status: str) -> int:
    """Set the status of each source; how many sources exist among ``source_ids``."""
    return sum(
        conn.execute(
            "UPDATE sources SET status = ? WHERE id = ?", (status, source_id)
        ).rowcount
        for source_id in source_ids
    )


def assign(conn: sqlite3.Connection, source_ids: Sequence[int], reviewer_id: int) -> int:
    """Assign each source to the reviewer; how many assignments are new."""
    return sum(
        conn.execute(
            "INSERT INTO assignments (source_id, reviewer_id) SELECT id, ? FROM sources"
            " WHERE id = ? ON CONFLICT DO NOTHING",
            (reviewer_id, source_id),
        ).rowcount
        for source_id in source_ids
    )


def unassign(conn: sqlite3.Connection, source_ids: Sequence[int], reviewer_id: int) -> int:
    """Take each source off the reviewer; how many assignments ended."""
    return sum(
        conn.execute(
            "DELETE FROM assignments WHERE source_id = ? AND reviewer_id = ?",
            (source_id, reviewer_id),
        ).rowcount
        for source_id in source_ids
    )


def assignees_of(conn: sqlite3.Connection, source_id: int) -> list[str]:
    """The usernames a source is assigned to, by name."""
    return [
        str(row[0])
        for row in conn.execute(
            "SELECT r.username FROM assignments a JOIN reviewers r ON r.id = a.reviewer_id"
            " WHERE a.source_id = ? ORDER BY r.username",
            (source_id,),
        )
    ]
