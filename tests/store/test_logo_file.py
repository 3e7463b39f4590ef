"""The logo file: public (0644), replaced atomically, removed without a trace."""

from __future__ import annotations

import os
from pathlib import Path

from tipbox.store.logo import read_logo, remove_logo, write_logo


def test_write_read_replace_remove(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    assert read_logo(path) is None
    old = os.umask(0o077)
    try:
        write_logo(path, b"first")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    write_logo(path, b"second")
    assert read_logo(path) == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logo.png"]  # no temporary left
    remove_logo(path)
    remove_logo(path)
    assert read_logo(path) is None
