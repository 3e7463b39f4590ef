"""What admins do to reviewer accounts: add, disable, enable, reset, delete, promote.

Builds on :class:`~tipbox.services.accounts.reviewers.Reviewers` (accounts, passwords,
TOTP, grants). Security contract (issue 5):

- **Removing access is immediate.** Disabling or deleting an account deletes
  its grants and its sessions in the same transaction (``secure_delete``,
  then the WAL is truncated). Its owner may still have copied newsroom
  identities while they had access, so every removal returns
  :data:`ROTATE_ADVICE`: rotate the newsroom key so that nothing stored
  from now on is readable by them.
- A disabled account keeps its row (for the audit trail and a later
  :meth:`ReviewerAdmin.enable`) but cannot log in and receives no grant,
  neither from a rotation nor from an admin's login.
- **The last admin** (an admin account that is not disabled) cannot be
  disabled, deleted or demoted.
- **Resets** (password or second factor) give the account a new reviewer
  key, a new one-time password and a new TOTP secret, and send it back to
  enrolment: both secrets are sealed under a key derived from the password,
  which the admin does not know, so neither can be replaced alone. The new
  key receives the newsroom identities the acting admin passes in (those of
  their unlocked session); with none, it gets them at the next admin login.
  The reset is a delete and a re-create under the same name (two
  transactions; a crash in between leaves the account deleted, and an admin
  adds it again). **A reset never enables an account:** a disabled account
  is re-created disabled (in the same insert), gets no grant and cannot log
  in, so not enrol either, until an admin enables it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tipbox.errors import Forbidden, NotFound
from tipbox.services.accounts.reviewers import Account, Enrolment, Reviewers, holder_name
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.store.db import Database

__all__ = ["ROTATE_ADVICE", "LastAdmin", "Removed", "ReviewerAdmin", "ReviewerRow"]

ROTATE_ADVICE = (
    "Their grants are deleted. Rotate the newsroom key now, so that nothing "
    "submitted from now on can be read with a copy they may have kept."
)


class LastAdmin(Forbidden):
    """The change would leave the instance without an admin."""

    code = "last_admin"


@dataclass(frozen=True, slots=True)
class ReviewerRow:
    """An account as the admin pages list it (nothing secret)."""

    id: int
    username: str
    is_admin: bool
    enrolled: bool
    disabled: bool
    grants: int


@dataclass(frozen=True, slots=True)
class Removed:
    """An account lost its access: how many grants went, and what to do next."""

    username: str
    grants_deleted: int
    advice: str = ROTATE_ADVICE


class ReviewerAdmin:
    """Account administration (see the module contract)."""

    def __init__(self, db: Database, reviewers: Reviewers) -> None:
        self._db = db
        self._reviewers = reviewers

    def accounts(self) -> list[ReviewerRow]:
        """Every account in creation order, with its grant count."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT r.id, r.username, r.is_admin, r.active, r.disabled,"
                " (SELECT count(*) FROM grants g WHERE g.holder = 'reviewer:' || r.id) AS n"
                " FROM reviewers r ORDER BY r.id"
            ).fetchall()
        return [
            ReviewerRow(
                id=int(row["id"]),
                username=str(row["username"]),
                is_admin=bool(row["is_admin"]),
                enrolled=bool(row["active"]),
                disabled=bool(row["disabled"]),
                grants=int(row["n"]),
            )
            for row in rows
        ]

    def get(self, reviewer_id: int) -> ReviewerRow:
        """One account; raises ``NotFound``."""
        for row in self.accounts():
            if row.id == reviewer_id:
                return row
        raise NotFound("no such reviewer")

    def add(
        self, username: str, *, is_admin: bool, identities: Sequence[KeyIdentity] = ()
    ) -> tuple[Account, Enrolment]:
        """Create a pending account (one-time password and TOTP secret, shown once).

        ``identities``: the newsroom identities to grant right away.
        """
        account, enrolment = self._reviewers.create(username, is_admin=is_admin)
        if identities:
            self._reviewers.grant(account, identities)
        return account, enrolment

    def disable(self, reviewer_id: int) -> Removed:
        """Refuse further logins, end sessions, delete grants (refused for the last admin)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            _keep_an_admin(conn, reviewer_id, row)
            conn.execute("UPDATE reviewers SET disabled = 1 WHERE id = ?", (reviewer_id,))
            removed = _revoke_access(conn, reviewer_id, str(row["username"]))
        self._db.checkpoint()
        return removed

    def enable(self, reviewer_id: int, identities: Sequence[KeyIdentity] = ()) -> int:
        """Allow logins again and grant ``identities``; returns how many grants were written."""
        with self._db.transaction() as conn:
            _row(conn, reviewer_id)
            conn.execute("UPDATE reviewers SET disabled = 0 WHERE id = ?", (reviewer_id,))
        if not identities:
            return 0
        return self._reviewers.grant(self._reviewers.get(reviewer_id), identities)

    def delete(self, reviewer_id: int) -> Removed:
        """Delete the account with its grants and sessions (refused for the last admin)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            _keep_an_admin(conn, reviewer_id, row)
            removed = _revoke_access(conn, reviewer_id, str(row["username"]))
            conn.execute("DELETE FROM reviewers WHERE id = ?", (reviewer_id,))
        self._db.checkpoint()
        return removed

    def set_admin(self, reviewer_id: int, *, is_admin: bool) -> None:
        """Grant or revoke the admin role (the last admin cannot be demoted)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            if not is_admin:
                _keep_an_admin(conn, reviewer_id, row)
            conn.execute(
                "UPDATE reviewers SET is_admin = ? WHERE id = ?", (int(is_admin), reviewer_id)
            )

    def reset(
        self,
        reviewer_id: int,
        identities: Sequence[KeyIdentity] = (),
        *,
        is_admin: bool | None = None,
    ) -> Enrolment:
        """New key, one-time password and TOTP secret; the account re-enrols.

        ``is_admin`` overrides the role (recovery makes the account an admin).
        A disabled account stays disabled (and receives no grant).
        """
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            _revoke_access(conn, reviewer_id, str(row["username"]))
            conn.execute("DELETE FROM reviewers WHERE id = ?", (reviewer_id,))
        self._db.checkpoint()
        role = bool(row["is_admin"]) if is_admin is None else is_admin
        account, enrolment = self._reviewers.create(
            str(row["username"]), is_admin=role, disabled=bool(row["disabled"])
        )
        if identities:
            self._reviewers.grant(account, identities)  # a no-op for a disabled account
        return enrolment


def _row(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, username, is_admin, disabled FROM reviewers WHERE id = ?", (reviewer_id,)
    ).fetchone()
    if row is None:
        raise NotFound("no such reviewer")
    return row


def _keep_an_admin(conn: sqlite3.Connection, reviewer_id: int, row: sqlite3.Row) -> None:
    """Raise :class:`LastAdmin` if ``row`` is the only admin that is not disabled."""
    if not row["is_admin"] or row["disabled"]:
        return
    others = conn.execute(
        "SELECT count(*) FROM reviewers WHERE is_admin = 1 AND disabled = 0 AND id != ?",
        (reviewer_id,),
    ).fetchone()[0]
    if not others:
        raise LastAdmin("this is the last admin: make another account an admin first")


def _revoke_access(conn: sqlite3.Connection, reviewer_id: int, username: str) -> Removed:
    grants = conn.execute("DELETE FROM grants WHERE holder = ?", (holder_name(reviewer_id),))
    conn.execute("DELETE FROM reviewer_sessions WHERE reviewer_id = ?", (reviewer_id,))
    return Removed(username=username, grants_deleted=grants.rowcount)
