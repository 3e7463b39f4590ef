"""Reading inode times the standard library does not offer (Python 3.11 has no os.statx)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

HOUR = 3600


def birth_time(path: Path) -> float | None:
    """The file's birth time (statx btime) in seconds, or None if the file system has none.

    Uses coreutils ``stat --format=%.9W`` (nanoseconds; 0 when unknown).
    """
    binary = shutil.which("stat")
    if binary is None:
        return None
    result = subprocess.run(
        [binary, "--format=%.9W", str(path)], capture_output=True, text=True, check=True
    )
    value = float(result.stdout.strip() or 0)
    return value or None


def on_the_hour(nanoseconds: int) -> bool:
    """Whether a ``st_*time_ns`` value is exactly a whole hour."""
    return nanoseconds % (HOUR * 10**9) == 0


def every_path(root: Path) -> list[Path]:
    """``root`` and everything under it (links not followed).

    Directories are read with ``O_NOATIME``: a plain read would itself set
    their access time (``relatime``) and spoil what the tests look at.
    """
    paths = [root]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
    try:
        with os.scandir(fd) as entries:
            names = [entry.name for entry in entries]
    finally:
        os.close(fd)
    for name in names:
        path = root / name
        if stat.S_ISDIR(os.lstat(path).st_mode):
            paths += every_path(path)
        else:
            paths.append(path)
    return paths
