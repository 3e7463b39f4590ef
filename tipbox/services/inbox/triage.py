"""Triage of sources: status, labels, assignment, and the filters of the sources list.

Contract:

- A status is one of :data:`STATUSES`. A label is a short name
  (:func:`check_label`): at most 40 characters, no control characters
  and no space but the plain one,
  unique without regard to case; a label is created when first used.
- Status, labels and assignments are **not encrypted**: they are the
  newsroom's vocabulary for its work ("urgent", "legal review"), stored in
  the clear so that lists can be filtered at any size. The pages say so
  where labels are typed; what a source said belongs in a note.
- Every change acts on a list of sources at once (one, or a bulk
  selection), in one transaction, and writes one audit row per source.
  Unknown source ids are refused (``NotFound``) before anything changes.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tipbox.errors import InvalidInput, NotFound
from tipbox.services.audit import Audit
from tipbox.store import triage
from tipbox.store.db import Database
from tipbox.store.desks import is_member, source_desk_id
from tipbox.store.items import SourceFilter, existing_sources
from tipbox.store.reviewers import reviewer_id_of

__all__ = ["MAX_LABEL_CHARS", "STATUSES", "Filters", "Label", "Triage", "check_label"]

STATUSES = ("new", "in_progress", "waiting", "closed")
MAX_LABEL_CHARS = 40
#: A filter on a name that does not exist matches nothing (ids start at 1).
_NOTHING = 0


@dataclass(frozen=True, slots=True)
class Label:
    """A label and how many sources carry it."""

    id: int
    name: str
    sources: int


@dataclass(frozen=True, slots=True)
class Filters:
    """What a reviewer asked the sources list for, by name (``None``: any).

    ``assignee`` is a username; :meth:`Triage.resolve` turns this into the
    store's :class:`~tipbox.store.items.SourceFilter`.
    """

    status: str | None = None
    label: str | None = None
    assignee: str | None = None
    starred: bool | None = None
    unread: bool | None = None
    has_files: bool | None = None
    from_hour: int | None = None
    to_hour: int | None = None


def check_status(status: str) -> str:
    """``status`` if it is one of :data:`STATUSES`; ``InvalidInput`` otherwise."""
    if status not in STATUSES:
        raise InvalidInput("unknown status", code="unknown_status")
    return status


def check_label(name: str) -> str:
    """A label name, trimmed and normalised (NFC); ``InvalidInput`` if unusable."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidInput("a label needs a name", code="label_empty")
    if len(name) > MAX_LABEL_CHARS:
        raise InvalidInput(
            f"a label has at most {MAX_LABEL_CHARS} characters",
            code="label_too_long", params={"num": MAX_LABEL_CHARS},
        )
    if any(unicodedata.category(char)[0] in "CZ" and char != " " for char in name):
        raise InvalidInput("a label cannot contain control characters or unusual spaces",
                           code="label_invalid")
    return name


class Triage:
    """Status, labels and assignment of sources (see the module contract)."""

    def __init__(self, db: Database, audit: Audit) -> None:
        self._db = db
        self._audit = audit

    # -- reading ---------------------------------------------------------------------

    def labels(self) -> list[Label]:
        """Every label, by name, with how many sources carry it."""
        with self._db.reading() as conn:
            rows = triage.labels(conn)
        return [Label(int(row["id"]), str(row["name"]), int(row["sources"])) for row in rows]

    def resolve(
        self, filters: Filters, *, ids: Sequence[int] | None = None,
        desks: Sequence[int] | None = None,
    ) -> SourceFilter:
        """The store filter for ``filters`` (names become ids); ``ids``: a search's results;
        ``desks``: the desks whose sources may be listed (the reviewer's)."""
        if filters.status is not None:
            check_status(filters.status)
        with self._db.reading() as conn:
            label = None if filters.label is None else triage.label_id(
                conn, filters.label, create=False)
            assignee = None if filters.assignee is None else reviewer_id_of(
                conn, filters.assignee)
        return SourceFilter(
            status=filters.status,
            label=_or_nothing(label, filters.label),
            assignee=_or_nothing(assignee, filters.assignee),
            starred=filters.starred,
            unread=filters.unread,
            has_files=filters.has_files,
            from_hour=filters.from_hour,
            to_hour=filters.to_hour,
            ids=ids,
            desks=desks,
        )

    # -- changes ---------------------------------------------------------------------

    def set_status(self, source_ids: Sequence[int], status: str, *, by: str) -> None:
        """Set the status of each source."""
        check_status(status)
        with self._db.transaction() as conn:
            designations = _existing(conn, source_ids)
            triage.set_status(conn, source_ids, status)
        self._record("set status", designations, by=by, target=status)

    def add_label(self, source_ids: Sequence[int], name: str, *, by: str) -> None:
        """Put the label ``name`` on each source (the label is created if new)."""
        name = check_label(name)
        with self._db.transaction() as conn:
            designations = _existing(conn, source_ids)
            label = triage.label_id(conn, name, create=True)
            triage.add_labels(conn, source_ids, int(label or _NOTHING))
        self._record("label", designations, by=by, target=name)

    def remove_label(self, source_ids: Sequence[int], name: str, *, by: str) -> None:
        """Take the label ``name`` off each source; ``NotFound`` for an unknown label."""
        with self._db.transaction() as conn:
            designations = _existing(conn, source_ids)
            label = triage.label_id(conn, name, create=False)
            if label is None:
                raise NotFound("no such label", code="unknown_label")
            triage.remove_label(conn, source_ids, label)
        self._record("unlabel", designations, by=by, target=name)

    def delete_label(self, name: str, *, by: str) -> None:
        """Delete a label from every source; ``NotFound`` if there is none."""
        with self._db.transaction() as conn:
            label = triage.label_id(conn, name, create=False)
            if label is None or not triage.delete_label(conn, label):
                raise NotFound("no such label", code="unknown_label")
        self._audit.record("delete label", reviewer=by, target=name)

    def assign(self, source_ids: Sequence[int], username: str, *, by: str) -> None:
        """Assign each source to the reviewer ``username``, a member of each source's desk
        (``InvalidInput``, ``not_a_member``, otherwise: they could not read it)."""
        with self._db.transaction() as conn:
            designations = _existing(conn, source_ids)
            reviewer_id = _reviewer(conn, username)
            for source_id in source_ids:
                desk_id = source_desk_id(conn, source_id)
                if desk_id is not None and not is_member(conn, desk_id, reviewer_id):
                    raise InvalidInput("that reviewer is not a member of the source's desk",
                                       code="not_a_member", params={"name": username})
            triage.assign(conn, source_ids, reviewer_id)
        self._record("assign", designations, by=by, target=username)

    def unassign(self, source_ids: Sequence[int], username: str, *, by: str) -> None:
        """Take each source off the reviewer ``username``."""
        with self._db.transaction() as conn:
            designations = _existing(conn, source_ids)
            triage.unassign(conn, source_ids, _reviewer(conn, username))
        self._record("unassign", designations, by=by, target=username)

    def _record(
        self, action: str, designations: Sequence[str], *, by: str, target: str
    ) -> None:
        for designation in designations:
            self._audit.record(action, reviewer=by, designation=designation, target=target)


def _or_nothing(found: int | None, asked: str | None) -> int | None:
    """``found``; a filter on a name that does not exist matches no source."""
    return _NOTHING if asked is not None and found is None else found


def _existing(conn: sqlite3.Connection, source_ids: Sequence[int]) -> list[str]:
    """The designations of ``source_ids``; ``NotFound`` if any of them does not exist."""
    if not source_ids:
        raise InvalidInput("no source was selected", code="no_selection")
    designations = existing_sources(conn, source_ids)
    if len(designations) != len(set(source_ids)):
        raise NotFound("no such source")
    return designations


def _reviewer(conn: sqlite3.Connection, username: str) -> int:
    found = reviewer_id_of(conn, username)
    if found is None:
        raise NotFound("no such reviewer", code="unknown_reviewer")
    return found
