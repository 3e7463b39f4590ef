"""The organisation's logo: one public PNG file, ``logo.png`` in the data directory.

Contract: the file is not secret (every source sees it), so it is written
world-readable (mode 0644) and atomically: a reader sees the old logo or the
new one, never part of one. The bytes are stored as given; the service
(:mod:`tipbox.services.logo`) decodes and re-encodes them before they come here.
"""

from __future__ import annotations

from pathlib import Path

from tipbox.store.files import fsync_path, write_atomically

__all__ = ["read_logo", "remove_logo", "write_logo"]

MODE = 0o644


def read_logo(path: Path) -> bytes | None:
    """The stored PNG, ``None`` when there is none."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_logo(path: Path, png: bytes) -> None:
    """Replace the logo by ``png`` (atomically, mode 0644 whatever the umask, then the
    directory is synced)."""
    write_atomically(path, png, MODE)
    fsync_path(path.parent)


def remove_logo(path: Path) -> None:
    """Delete the logo; nothing happens when there is none."""
    path.unlink(missing_ok=True)
    fsync_path(path.parent)
