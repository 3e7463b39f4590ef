"""The ``items`` table: one row per encrypted message, file, manifest or reply.

Contract:

- :class:`ItemKind` names the four kinds; its values are the strings the
  schema's ``CHECK`` constraint allows (``store/db.py``), so a kind read
  from a row compares equal to its member.
- A reply has no submission; every other kind belongs to one.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CONTENT_KINDS", "ItemKind"]


class ItemKind(StrEnum):
    """What an item's payload is."""

    MESSAGE = "message"  # a source's text
    FILE = "file"  # a source's upload
    MANIFEST = "manifest"  # a submission's list of files (names, sizes)
    REPLY = "reply"  # a reviewer's reply to the source


CONTENT_KINDS = (ItemKind.MESSAGE, ItemKind.FILE)
"""What a source sent (what a reviewer reads and counts as an item)."""
