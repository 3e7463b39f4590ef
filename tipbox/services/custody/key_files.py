"""The public files of the keys directory, kept in step with the keyring (keys/README.md).

- ``newsroom.txt``: the active recipient of the first desk (public, mode 0644),
  and ``newsroom-<slug>.txt`` that of every other desk;
- ``recovery.txt``: the recovery recipient (public, mode 0644);
- ``newsroom-<fingerprint>.age``: one newsroom identity encrypted to the
  recovery recipient only (mode 0600).

Security contract: no identity is ever written here in the clear; every file
is replaced atomically (temporary in the same directory, fsync, rename), so
a crash leaves the old or the new version, never a torn one. The database is
the source of truth: callers update it first and these files after.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tipbox.crypto import Recipient, encrypt, fingerprint
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.store.files import fsync_path, write_atomically

__all__ = ["KeyFiles"]

PUBLIC_MODE = 0o644
PRIVATE_MODE = 0o600


class KeyFiles:
    """The keys directory of one instance."""

    def __init__(self, keys_dir: Path) -> None:
        self.path = keys_dir

    def wrapped_path(self, recipient: str) -> Path:
        """Where the recovery-wrapped identity of the key ``recipient`` lives."""
        compact = fingerprint(recipient).replace(" ", "")
        return self.path / f"newsroom-{compact}.age"

    def write_active(self, recipient: str, *, slug: str, default: bool) -> None:
        """Show ``recipient`` as a desk's active key: ``newsroom.txt`` for the ``default``
        (first) desk, ``newsroom-<slug>.txt`` for another."""
        name = "newsroom.txt" if default else f"newsroom-{slug}.txt"
        self._replace(self.path / name, f"{recipient}\n".encode("ascii"), PUBLIC_MODE)

    def write_recovery(self, recipient: Recipient) -> None:
        """Record the recovery recipient in ``recovery.txt``."""
        self._replace(self.path / "recovery.txt", f"{recipient}\n".encode("ascii"), PUBLIC_MODE)

    def write_wrapped(self, identity: KeyIdentity, recovery: Recipient) -> None:
        """Write ``identity`` encrypted to the recovery recipient (replacing any older copy)."""
        sealed = encrypt([recovery], (str(identity) + "\n").encode("ascii"))
        self._replace(self.wrapped_path(str(identity.recipient())), sealed, PRIVATE_MODE)

    def remove_wrapped(self, recipient: str) -> None:
        """Delete the wrapped copy of a destroyed key (missing is fine)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.wrapped_path(recipient))
        self._sync_dir()

    def _replace(self, path: Path, data: bytes, mode: int) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, mode)
        self._sync_dir()

    def _sync_dir(self) -> None:
        fsync_path(self.path)
