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
- **Every change is audited** here, after it succeeded (a refused one writes
  no row): ``by`` is the acting admin's username, ``None`` for the host
  (the command line). The row's target is the account's username.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tipbox.errors import Forbidden, InvalidInput, NotFound
from tipbox.services.accounts.reviewers import Account, Reviewers, holder_name
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.store.db import Database
from tipbox.store.desks import all_desk_ids, desk_ids_of_reviewer
from tipbox.store.reviewers import (
    account_state,
    accounts_with_grants,
    count_other_admins,
    delete_account,
    revoke_access,
    set_admin_flag,
    set_disabled,
)

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
    """Account administration (see the module contract); ``audit`` receives the rows."""

    def __init__(self, db: Database, reviewers: Reviewers, *, audit: Audit) -> None:
        self._db = db
        self._reviewers = reviewers
        self._audit = audit

    def accounts(self) -> list[ReviewerRow]:
        """Every account in creation order, with its grant count."""
        with self._db.reading() as conn:
            rows = accounts_with_grants(conn)
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
        self,
        username: str,
        *,
        is_admin: bool,
        identities: Sequence[KeyIdentity] = (),
        desks: Sequence[int] | None = None,
        by: str | None = None,
    ) -> tuple[Account, Enrolment]:
        """Create a pending account (one-time password and TOTP secret, shown once).

        ``desks``: the desks it joins (``None``: the only desk, if there is
        one); ``identities``: the newsroom identities to grant right away (only
        those of its desks reach it).
        """
        account, enrolment = self._create(username, is_admin=is_admin, identities=identities,
                                          desks=desks)
        self._audit.record("add reviewer", reviewer=by, target=username)
        return account, enrolment

    def disable(self, reviewer_id: int, *, by: str | None = None) -> Removed:
        """Refuse further logins, end sessions, delete grants (refused for the last admin)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            _keep_an_admin(conn, reviewer_id, row)
            set_disabled(conn, reviewer_id, disabled=True)
            removed = _revoke_access(conn, reviewer_id, str(row["username"]))
        self._db.checkpoint()
        self._audit.record("disable reviewer", reviewer=by, target=removed.username)
        return removed

    def enable(
        self, reviewer_id: int, identities: Sequence[KeyIdentity] = (), *, by: str | None = None
    ) -> int:
        """Allow logins again and grant ``identities``; returns how many grants were written."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            set_disabled(conn, reviewer_id, disabled=False)
        granted = 0
        if identities:
            granted = self._reviewers.grant(self._reviewers.get(reviewer_id), identities)
        self._audit.record("enable reviewer", reviewer=by, target=str(row["username"]))
        return granted

    def delete(self, reviewer_id: int, *, by: str | None = None) -> Removed:
        """Delete the account with its grants and sessions (refused for the last admin)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            _keep_an_admin(conn, reviewer_id, row)
            removed = _revoke_access(conn, reviewer_id, str(row["username"]))
            delete_account(conn, reviewer_id)
        self._db.checkpoint()
        self._audit.record("delete reviewer", reviewer=by, target=removed.username)
        return removed

    def set_admin(self, reviewer_id: int, *, is_admin: bool, by: str | None = None) -> None:
        """Grant or revoke the admin role (the last admin cannot be demoted)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            if not is_admin:
                _keep_an_admin(conn, reviewer_id, row)
            set_admin_flag(conn, reviewer_id, is_admin=is_admin)
        action = "grant admin" if is_admin else "revoke admin"
        self._audit.record(action, reviewer=by, target=str(row["username"]))

    def reset(
        self, reviewer_id: int, identities: Sequence[KeyIdentity] = (), *, by: str | None = None
    ) -> Enrolment:
        """New key, one-time password and TOTP secret; the account re-enrols.

        A disabled account stays disabled (and receives no grant).
        """
        enrolment = self._recreate(reviewer_id, identities, is_admin=None)
        self._audit.record("reset reviewer", reviewer=by, target=enrolment.username)
        return enrolment

    def recover(
        self, username: str, identities: Sequence[KeyIdentity], *, by: str | None = None
    ) -> Enrolment:
        """Make ``username`` an admin holding ``identities`` (break-glass recovery).

        A new account is added; an existing one is reset as an admin. A
        disabled one is refused (``InvalidInput``): a reset never enables an
        account.
        """
        try:
            existing = self._reviewers.by_username(username)
        except NotFound:
            _, enrolment = self._create(username, is_admin=True, identities=identities,
                                        desks=self._all_desks())
        else:
            if self.get(existing.id).disabled:
                raise InvalidInput(
                    f"{username} is disabled: enable it first (python -m tipbox reviewers"
                    f" enable {username}) or recover onto a new name"
                )
            enrolment = self._recreate(existing.id, identities, is_admin=True,
                                       desks=self._all_desks())
        self._audit.record("recover admin", reviewer=by, target=username)
        return enrolment

    def _all_desks(self) -> list[int]:
        """Break-glass recovery reaches every desk."""
        with self._db.reading() as conn:
            return all_desk_ids(conn)

    def _create(
        self, username: str, *, is_admin: bool, identities: Sequence[KeyIdentity],
        desks: Sequence[int] | None,
    ) -> tuple[Account, Enrolment]:
        account, enrolment = self._reviewers.create(username, is_admin=is_admin, desks=desks)
        if identities:
            self._reviewers.grant(account, identities)
        return account, enrolment

    def _recreate(
        self, reviewer_id: int, identities: Sequence[KeyIdentity], *, is_admin: bool | None,
        desks: Sequence[int] | None = None,
    ) -> Enrolment:
        """Delete and re-create under the same name; ``is_admin`` overrides the role and
        ``desks`` the desks it is a member of (by default, those it was)."""
        with self._db.transaction() as conn:
            row = _row(conn, reviewer_id)
            kept = desk_ids_of_reviewer(conn, reviewer_id) if desks is None else list(desks)
            _revoke_access(conn, reviewer_id, str(row["username"]))
            delete_account(conn, reviewer_id)
        self._db.checkpoint()
        role = bool(row["is_admin"]) if is_admin is None else is_admin
        account, enrolment = self._reviewers.create(
            str(row["username"]), is_admin=role, disabled=bool(row["disabled"]), desks=kept
        )
        if identities:
            self._reviewers.grant(account, identities)  # a no-op for a disabled account
        return enrolment


def _row(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row:
    row = account_state(conn, reviewer_id)
    if row is None:
        raise NotFound("no such reviewer")
    return row


def _keep_an_admin(conn: sqlite3.Connection, reviewer_id: int, row: sqlite3.Row) -> None:
    """Raise :class:`LastAdmin` if ``row`` is the only admin that is not disabled."""
    if not row["is_admin"] or row["disabled"]:
        return
    if not count_other_admins(conn, reviewer_id):
        raise LastAdmin("this is the last admin: make another account an admin first")


def _revoke_access(conn: sqlite3.Connection, reviewer_id: int, username: str) -> Removed:
    grants = revoke_access(conn, reviewer_id, holder_name(reviewer_id))
    return Removed(username=username, grants_deleted=grants)
