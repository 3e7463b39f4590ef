"""Sealing an item: its bytes encrypted into a new blob, its header kept apart.

Shared by submissions (messages, manifests), sources (replies) and anything
else that stores an encrypted item. The blob is left uncommitted: the caller
records the item in the same transaction that commits the blob, or aborts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from tipbox.crypto import Encryptor, Recipient
from tipbox.errors import InvalidInput, TooLarge
from tipbox.store import BlobWriter, Store
from tipbox.store.items import ItemKind

__all__ = ["Sealed", "seal_bytes", "written_text"]


@dataclass(slots=True)
class Sealed:
    """An encrypted item not yet recorded: its kind, blob, detached header, manifest entry."""

    kind: ItemKind
    writer: BlobWriter
    header: bytes
    entry: dict[str, object] | None = None


def seal_bytes(
    store: Store, recipients: Sequence[Recipient], data: bytes, *, kind: ItemKind
) -> Sealed:
    """Encrypt ``data`` into a new (uncommitted) blob, padded to its PADMÉ size
    (:mod:`tipbox.crypto.padding`); the caller commits or aborts it."""
    writer = store.blobs.writer()
    try:
        encryptor = Encryptor(recipients, cast(BinaryIO, writer), detached=True)
        encryptor.write(data)
        encryptor.close_padded()
    except BaseException:
        writer.abort()
        raise
    return Sealed(kind=kind, writer=writer, header=encryptor.header)


def written_text(text: str, limit: int, *, kind: ItemKind) -> bytes:
    """A reviewer's reply or note (``kind``) as UTF-8, or the error that says what to fix.

    ``InvalidInput`` for blank text or lone surrogates, ``TooLarge`` past
    ``limit`` characters; each with the code of its kind.
    """
    note = kind is ItemKind.NOTE
    if not text.strip():
        raise InvalidInput(f"a {kind} cannot be empty",
                           code="note_empty" if note else "reply_empty")
    if len(text) > limit:
        raise TooLarge(f"a {kind} has at most {limit} characters",
                       code="note_too_long" if note else "reply_too_long", params={"num": limit})
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"the {kind} contains invalid characters",
            code="note_invalid_characters" if note else "reply_invalid_characters",
        ) from None
