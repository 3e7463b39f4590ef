"""What the rest of tipbox may do with encrypted payloads: the :class:`BlobStore` protocol.

Contract:

- Callers outside :mod:`tipbox.store` reach payloads only through a
  :class:`BlobStore` (``Store.blobs``, or :func:`open_blob_store` for the
  read-only checks of ``doctor``), never through its directory: a store
  that keeps blobs elsewhere (object storage) then fits behind the same
  methods. :class:`~tipbox.store.blobs.BlobDir` is the filesystem one.
- Blob names are 32 lowercase hex digits; a malformed name is
  :class:`~tipbox.errors.NotFound`, never a path.
- The ``local_*`` methods and :meth:`BlobStore.dead_temporaries` describe
  what the store keeps on this machine's disk, for ``doctor``'s permission
  and leftover checks and the sweep's time stamping; a store with nothing
  on the local disk returns nothing there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from tipbox.store.blobs import BlobDir, BlobWriter

if TYPE_CHECKING:
    from tipbox.config import Settings

__all__ = ["BlobStore", "open_blob_store"]


class BlobStore(Protocol):
    """Encrypted payloads under random names (see :mod:`tipbox.store.blobs`)."""

    @property
    def location(self) -> str:
        """Where the blobs are, for messages to an operator."""

    @property
    def pool_location(self) -> str:
        """Where the pool of empty blob files is, for messages to an operator."""

    def writer(self) -> BlobWriter:
        """A new blob to write (checks free space first)."""

    def open_blob(self, name: str) -> BinaryIO:
        """A committed blob, for reading; :class:`~tipbox.errors.NotFound` if missing."""

    def delete_blob(self, name: str) -> None:
        """Remove a committed blob; a missing one is not an error."""

    def names(self) -> Iterator[str]:
        """The name of every committed blob."""

    def changed_at(self, name: str) -> float | None:
        """When the blob last changed (its commit, at latest the last sweep); None if gone."""

    def sync(self) -> None:
        """Make commits and deletions durable."""

    def check_space(self) -> None:
        """Raise :class:`~tipbox.errors.StorageFull` when space runs low."""

    def stamp(self) -> int:
        """The current hour (what file times are set to)."""

    def stamp_directories(self) -> None:
        """Set the times of the store's directories to the hour."""

    def pool_names(self) -> list[str]:
        """The empty files ready for new blobs."""

    def fill_pool(self, size: int, *, stamp: int) -> int:
        """Top the pool up to ``size``; return how many were added."""

    def remove_temporaries(self) -> int:
        """Delete what dead writers left; return how many."""

    def dead_temporaries(self) -> list[Path]:
        """What dead writers left (read-only: ``doctor``)."""

    def local_directories(self) -> tuple[Path, ...]:
        """The directories the store keeps on the local disk."""

    def local_files(self) -> Iterator[Path]:
        """Every regular file in :meth:`local_directories`."""

    def local_paths(self, names: Iterable[str]) -> set[Path]:
        """The local files of the given blobs."""


def open_blob_store(
    settings: Settings, *, min_free_bytes: int = 0, now: Callable[[], float] = time.time
) -> BlobStore:
    """The blob store of the instance ``settings`` configure (not created if missing)."""
    return BlobDir(settings.blobs_dir, min_free_bytes=min_free_bytes, now=now)
