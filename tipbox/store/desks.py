"""The desk tables: ``desks``, ``desk_members``, ``desk_questions`` and a source's desk.

Contract: functions run inside the caller's connection or transaction. A
desk's ``texts`` and a question's ``texts`` are JSON documents, stored and
returned as text: :mod:`tipbox.services.desks` gives them their shape.
Nothing here is secret: names, descriptions and questions are what sources
read on the submit page; who is a member is what grants follow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = [
    "DEFAULT_DESK",
    "add_member",
    "all_desk_ids",
    "delete_question",
    "desk_ids_of_reviewer",
    "desk_row",
    "drop_assignments_outside",
    "desk_rows",
    "insert_desk",
    "insert_question",
    "is_member",
    "member_rows",
    "only_desk",
    "question_rows",
    "remove_member",
    "set_desk_open",
    "set_desk_texts",
    "set_source_desk",
    "source_designation_and_desk",
    "source_id_by_designation",
    "source_desk_id",
    "sources_of_desks",
]

#: The desk an instance made before desks became (schema 9), and the first of a new one.
DEFAULT_DESK = 1


def desk_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every desk in the order sources see them: ``id, slug, texts, open, position``."""
    return conn.execute(
        "SELECT id, slug, texts, open, position FROM desks ORDER BY position, id"
    ).fetchall()


def desk_row(conn: sqlite3.Connection, desk_id: int) -> sqlite3.Row | None:
    """One desk (as in :func:`desk_rows`); None if there is no such desk."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, slug, texts, open, position FROM desks WHERE id = ?", (desk_id,)
    ).fetchone()
    return row


def only_desk(conn: sqlite3.Connection) -> list[int]:
    """``[id]`` of the one desk when the instance has exactly one, else ``[]``."""
    found = [int(row[0]) for row in conn.execute("SELECT id FROM desks LIMIT 2")]
    return found if len(found) == 1 else []


def all_desk_ids(conn: sqlite3.Connection) -> list[int]:
    return [int(row[0]) for row in conn.execute("SELECT id FROM desks ORDER BY position, id")]


def insert_desk(conn: sqlite3.Connection, slug: str, texts: str, *, created_hour: int) -> int:
    """A new open desk, listed last; its id. ``IntegrityError`` if ``slug`` is taken."""
    row = conn.execute(
        "INSERT INTO desks (slug, texts, open, position, created_hour)"
        " VALUES (?, ?, 1, (SELECT coalesce(max(position), -1) + 1 FROM desks), ?)"
        " RETURNING id",
        (slug, texts, created_hour),
    ).fetchone()
    return int(row[0])


def set_desk_texts(conn: sqlite3.Connection, desk_id: int, texts: str) -> bool:
    """Replace a desk's names and descriptions; whether the desk exists."""
    cursor = conn.execute("UPDATE desks SET texts = ? WHERE id = ?", (texts, desk_id))
    return cursor.rowcount > 0


def set_desk_open(conn: sqlite3.Connection, desk_id: int, *, is_open: bool) -> bool:
    """Open a desk to new sources or close it; whether the desk exists."""
    cursor = conn.execute("UPDATE desks SET open = ? WHERE id = ?", (int(is_open), desk_id))
    return cursor.rowcount > 0


# -- members ---------------------------------------------------------------------------


def member_rows(conn: sqlite3.Connection, desk_id: int) -> list[sqlite3.Row]:
    """The members of a desk: ``id, username, recipient, disabled``, by id."""
    return conn.execute(
        "SELECT r.id, r.username, r.recipient, r.disabled FROM desk_members m"
        " JOIN reviewers r ON r.id = m.reviewer_id WHERE m.desk_id = ? ORDER BY r.id",
        (desk_id,),
    ).fetchall()


def desk_ids_of_reviewer(conn: sqlite3.Connection, reviewer_id: int) -> list[int]:
    """The desks a reviewer is a member of, in desk order."""
    return [int(row[0]) for row in conn.execute(
        "SELECT d.id FROM desk_members m JOIN desks d ON d.id = m.desk_id"
        " WHERE m.reviewer_id = ? ORDER BY d.position, d.id",
        (reviewer_id,),
    )]


def is_member(conn: sqlite3.Connection, desk_id: int, reviewer_id: int) -> bool:
    return conn.execute(
        "SELECT 1 FROM desk_members WHERE desk_id = ? AND reviewer_id = ?",
        (desk_id, reviewer_id),
    ).fetchone() is not None


def add_member(conn: sqlite3.Connection, desk_id: int, reviewer_id: int) -> bool:
    """Make a reviewer a member; whether they were not one already."""
    cursor = conn.execute(
        "INSERT INTO desk_members (desk_id, reviewer_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (desk_id, reviewer_id),
    )
    return cursor.rowcount > 0


def remove_member(conn: sqlite3.Connection, desk_id: int, reviewer_id: int) -> int:
    """End a membership and delete the member's grants of the desk's keys; how many grants."""
    conn.execute(
        "DELETE FROM desk_members WHERE desk_id = ? AND reviewer_id = ?", (desk_id, reviewer_id)
    )
    cursor = conn.execute(
        "DELETE FROM grants WHERE holder = ?"
        " AND key_id IN (SELECT id FROM newsroom_keys WHERE desk_id = ?)",
        (f"reviewer:{reviewer_id}", desk_id),
    )
    return cursor.rowcount


# -- questions -------------------------------------------------------------------------


def question_rows(conn: sqlite3.Connection, desk_id: int) -> list[sqlite3.Row]:
    """A desk's questions in form order: ``id, kind, texts, required``."""
    return conn.execute(
        "SELECT id, kind, texts, required FROM desk_questions WHERE desk_id = ?"
        " ORDER BY position, id",
        (desk_id,),
    ).fetchall()


def insert_question(
    conn: sqlite3.Connection, desk_id: int, kind: str, texts: str, *, required: bool
) -> int:
    """A question added last to a desk's form; its id."""
    row = conn.execute(
        "INSERT INTO desk_questions (desk_id, position, kind, texts, required)"
        " VALUES (?, (SELECT coalesce(max(position), -1) + 1 FROM desk_questions"
        " WHERE desk_id = ?), ?, ?, ?) RETURNING id",
        (desk_id, desk_id, kind, texts, int(required)),
    ).fetchone()
    return int(row[0])


def delete_question(conn: sqlite3.Connection, desk_id: int, question_id: int) -> bool:
    """Remove a question from a desk's form (answers already sent keep their label)."""
    cursor = conn.execute(
        "DELETE FROM desk_questions WHERE id = ? AND desk_id = ?", (question_id, desk_id)
    )
    return cursor.rowcount > 0


# -- sources ---------------------------------------------------------------------------


def source_desk_id(conn: sqlite3.Connection, source_id: int) -> int | None:
    """The desk of a source; None if there is no such source."""
    row = conn.execute("SELECT desk_id FROM sources WHERE id = ?", (source_id,)).fetchone()
    return None if row is None else int(row[0])


def source_id_by_designation(conn: sqlite3.Connection, designation: str) -> int | None:
    row = conn.execute("SELECT id FROM sources WHERE designation = ?", (designation,)).fetchone()
    return None if row is None else int(row[0])


def set_source_desk(conn: sqlite3.Connection, source_id: int, desk_id: int) -> None:
    conn.execute("UPDATE sources SET desk_id = ? WHERE id = ?", (desk_id, source_id))


def source_designation_and_desk(conn: sqlite3.Connection, source_id: int) -> sqlite3.Row | None:
    """``designation, desk_id`` of a source; None if there is no such source."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT designation, desk_id FROM sources WHERE id = ?", (source_id,)
    ).fetchone()
    return row


def drop_assignments_outside(conn: sqlite3.Connection, source_id: int, desk_id: int) -> None:
    """Unassign the source from every reviewer who is not a member of ``desk_id``."""
    conn.execute(
        "DELETE FROM assignments WHERE source_id = ? AND reviewer_id NOT IN"
        " (SELECT reviewer_id FROM desk_members WHERE desk_id = ?)",
        (source_id, desk_id),
    )


def sources_of_desks(conn: sqlite3.Connection, desk_ids: Sequence[int]) -> int:
    """How many sources the desks hold."""
    marks = ",".join("?" * len(desk_ids)) or "NULL"
    return int(conn.execute(
        f"SELECT count(*) FROM sources WHERE desk_id IN ({marks})", tuple(desk_ids)  # noqa: S608
    ).fetchone()[0])
