"""Atomic small-file writes: whole or nothing, private, no leftovers."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tipbox.store.files import write_atomically


def test_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, b"one", 0o600)
    write_atomically(target, b"two", 0o600)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_create_once_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "secrets.json"
    write_atomically(target, b"first", 0o600, replace=False)
    with pytest.raises(FileExistsError):
        write_atomically(target, b"second", 0o600, replace=False)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_times_are_the_hour_of_the_write(tmp_path: Path) -> None:
    target = tmp_path / "notify.json"
    write_atomically(target, b"{}", 0o600, now=1_700_001_234.5)
    info = target.stat()
    assert info.st_mtime_ns == info.st_atime_ns == 1_699_999_200 * 10**9
    write_atomically(target, b"{}", 0o600)  # the real clock
    assert target.stat().st_mtime_ns % (3600 * 10**9) == 0
