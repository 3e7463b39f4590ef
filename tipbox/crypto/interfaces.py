"""What a recipient and an identity are, for type checks.

A recipient wraps a 16-byte file key into stanzas; an identity unwraps it.
``unwrap`` returns ``None`` when no stanza is addressed to the identity and
raises :class:`~tipbox.crypto.HeaderError` when a stanza of its own type is
malformed, as the spec requires. The types: :mod:`tipbox.crypto.x25519`,
:mod:`tipbox.crypto.hybrid` and :mod:`tipbox.crypto.scrypt`. (Apart from
them because ``typing`` costs the offline tool's start-up 8 ms, and the
tool needs these names for its annotations only.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from tipbox.crypto.header import Stanza

__all__ = ["Identity", "Recipient"]


class Recipient(Protocol):
    """Something a file key can be wrapped to. ``str()`` gives its encoding."""

    kind: ClassVar[str]  # "classic", "pq" or "scrypt": decides what may be mixed

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(Protocol):
    """Something that can unwrap a file key from a header's stanzas."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...
