"""What each reviewer wants to be told, and where: their notification preference.

A reviewer chooses one :class:`Preference`: nothing, any new source, or new
submissions on the sources assigned to them; and optionally an e-mail address
of their own, where their notices go (:mod:`tipbox.services.ops.notify`
decides and sends). The instance-wide ``TIPBOX_NOTIFY_TO`` desk list is
separate and unchanged.

Contract:

- An address is one ``local@domain`` with no spaces, commas, angle brackets
  or quotes, at most :data:`MAX_ADDRESS_CHARS` characters (so it can never
  add a header or a second recipient); anything else is ``InvalidInput``.
- Saving a preference resets the reviewer's position to "now": only what
  arrives afterwards is told, never the backlog.
- Each change is audited as ``notification preferences`` (who, not what:
  the address is not written to the log).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tipbox.errors import InvalidInput
from tipbox.services.audit import Audit
from tipbox.store import Database
from tipbox.store.reviewers import notice_marks, notify_preference, set_notify_preference

__all__ = ["MAX_ADDRESS_CHARS", "NotificationChoice", "NotificationPreferences", "Preference",
           "check_address"]

MAX_ADDRESS_CHARS = 254
_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\".]+(\.[^@\s,;<>\".]+)+")


class Preference(StrEnum):
    """What a reviewer is told; the values are those the schema allows."""

    NONE = "none"
    NEW_SOURCES = "new_sources"
    ASSIGNED = "assigned"


@dataclass(frozen=True, slots=True)
class NotificationChoice:
    """A reviewer's stored preference and address (``None``: no address of their own)."""

    preference: Preference
    email: str | None


def check_address(text: str) -> str | None:
    """The address in ``text`` (blank: ``None``); ``InvalidInput`` if it is not one."""
    address = text.strip()
    if not address:
        return None
    if len(address) > MAX_ADDRESS_CHARS or not _ADDRESS.fullmatch(address):
        raise InvalidInput("that is not an e-mail address", code="email_address_invalid")
    return address


def parse_preference(text: str) -> Preference:
    """The :class:`Preference` named ``text``; ``InvalidInput`` for any other."""
    try:
        return Preference(text)
    except ValueError:
        raise InvalidInput("unknown notification choice", code="choice_invalid",
                           params={"label": "notifications"}) from None


class NotificationPreferences:
    """Read and change one reviewer's notification preference."""

    def __init__(self, db: Database, audit: Audit) -> None:
        self._db = db
        self._audit = audit

    def of(self, reviewer_id: int) -> NotificationChoice:
        """The reviewer's choice (nothing, no address, for an unknown reviewer)."""
        with self._db.reading() as conn:
            row = notify_preference(conn, reviewer_id)
        if row is None:
            return NotificationChoice(Preference.NONE, None)
        return NotificationChoice(Preference(row["notify"]), row["notify_email"])

    def choose(self, reviewer_id: int, preference: str, email: str, *, by: str) -> None:
        """Validate and store the choice; ``InvalidInput`` (nothing changed) if malformed."""
        choice = NotificationChoice(parse_preference(preference), check_address(email))
        with self._db.transaction() as conn:
            set_notify_preference(conn, reviewer_id, choice.preference.value, choice.email,
                                  notice_marks(conn))
        self._audit.record("notification preferences", reviewer=by)
