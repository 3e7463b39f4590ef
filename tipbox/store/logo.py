"""The organisation's logo: one public PNG file, ``logo.png`` in the data directory.

Contract: the file is not secret (every source sees it), so it is written
world-readable (mode 0644) and atomically: a reader sees the old logo or the
new one, never part of one. The bytes are stored as given; the service
(:mod:`tipbox.services.logo`) decodes and re-encodes them before they come here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["read_logo", "remove_logo", "write_logo"]

MODE = 0o644


def read_logo(path: Path) -> bytes | None:
    """The stored PNG, ``None`` when there is none."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_logo(path: Path, png: bytes) -> None:
    """Replace the logo by ``png`` (temporary file, fsync, rename, fsync of the directory)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    try:
        os.fchmod(fd, MODE)  # whatever the umask
        os.write(fd, png)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _sync_directory(path.parent)


def remove_logo(path: Path) -> None:
    """Delete the logo; nothing happens when there is none."""
    path.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
