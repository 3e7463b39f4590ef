"""The blob directory: atomic commit, abort, cleanup of temporaries, disk floor."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

import pytest

from tipbox.errors import NotFound, StorageFull
from tipbox.store import Store
from tipbox.store.blobs import SPACE_CHECK_BYTES, BlobDir, is_blob_name

NOW = 1_700_001_234.5
HOUR = 1_699_999_200  # NOW rounded down to the hour


@pytest.fixture
def blobs(tmp_path: Path) -> BlobDir:
    directory = BlobDir(tmp_path / "blobs", min_free_bytes=0, now=lambda: NOW)
    directory.create()
    return directory


def listing(blobs: BlobDir) -> list[str]:
    return sorted(os.listdir(blobs.path))


def test_commit_makes_the_blob_appear_under_its_final_name(blobs: BlobDir) -> None:
    writer = blobs.writer()
    writer.write(b"abc")
    writer.write(memoryview(b"def"))
    assert listing(blobs) == [writer._temp.name]  # only a temporary so far
    assert writer._temp.name.startswith(".tmp-")
    name = writer.commit()
    assert is_blob_name(name)
    assert name == writer.name
    assert listing(blobs) == [name]
    with blobs.open_blob(name) as blob:
        assert blob.read() == b"abcdef"
    assert list(blobs.names()) == [name]


def test_blob_files_are_private_and_carry_only_the_hour(blobs: BlobDir) -> None:
    writer = blobs.writer()
    writer.write(b"x")
    name = writer.commit()
    info = (blobs.path / name).stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_mtime == HOUR
    assert blobs.path.stat().st_mtime == HOUR
    assert stat.S_IMODE(blobs.path.stat().st_mode) == 0o700


def test_abort_leaves_nothing(blobs: BlobDir) -> None:
    writer = blobs.writer()
    writer.write(b"secret-ish ciphertext")
    writer.abort()
    writer.abort()  # idempotent
    assert listing(blobs) == []
    with pytest.raises(ValueError, match="finished"):
        writer.write(b"more")


def test_abort_after_commit_removes_the_final_file(blobs: BlobDir) -> None:
    writer = blobs.writer()
    writer.write(b"x")
    writer.commit()
    writer.abort()
    assert listing(blobs) == []


def test_dead_writers_temporaries_are_removed_at_start(tmp_path: Path, blobs: BlobDir) -> None:
    leftover = blobs.path / (".tmp-" + "ab" * 16)
    leftover.write_bytes(b"half an upload")
    committed = blobs.writer()
    committed.write(b"kept")
    name = committed.commit()
    (blobs.path / "README").write_text("not ours")  # unknown files are left alone

    store = Store.open(tmp_path / "db", blobs.path, min_free_bytes=0)
    store.close()
    assert listing(blobs) == sorted(["README", name])


def test_live_writers_temporaries_survive_cleanup(blobs: BlobDir) -> None:
    live = blobs.writer()  # holds an flock, as a writer in another worker would
    live.write(b"in progress")
    assert blobs.remove_temporaries() == 0
    live.write(b" still writing")
    name = live.commit()
    with blobs.open_blob(name) as blob:
        assert blob.read() == b"in progress still writing"


def test_cleanup_counts_only_unlocked_temporaries(blobs: BlobDir) -> None:
    dead = blobs.path / (".tmp-" + "cd" * 16)
    dead.write_bytes(b"x")
    locked = blobs.path / (".tmp-" + "ef" * 16)
    locked.write_bytes(b"y")
    fd = os.open(locked, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert blobs.remove_temporaries() == 1
        assert listing(blobs) == [locked.name]
    finally:
        os.close(fd)
    assert blobs.remove_temporaries() == 1
    assert listing(blobs) == []


def test_low_disk_raises_storage_full(tmp_path: Path) -> None:
    full = BlobDir(tmp_path / "b", min_free_bytes=1 << 62)
    full.create()
    with pytest.raises(StorageFull):
        full.writer()
    assert os.listdir(full.path) == []


def test_disk_running_low_mid_write_raises(blobs: BlobDir, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = blobs.writer()
    blobs.min_free_bytes = 1 << 62
    writer.write(b"\0" * 1024)  # below the check interval: no statvfs yet
    monkeypatch.setattr("tipbox.store.blobs.SPACE_CHECK_BYTES", 2048)
    with pytest.raises(StorageFull):
        writer.write(b"\0" * 2048)
    writer.abort()
    assert listing(blobs) == []
    assert SPACE_CHECK_BYTES >= 1 << 20


@pytest.mark.parametrize("name", ["../etc/passwd", "", ".tmp-" + "a" * 32, "A" * 32, "a" * 31])
def test_bad_names_never_reach_the_file_system(blobs: BlobDir, name: str) -> None:
    with pytest.raises(NotFound):
        blobs.open_blob(name)
    with pytest.raises(NotFound):
        blobs.delete_blob(name)


def test_missing_blob(blobs: BlobDir) -> None:
    with pytest.raises(NotFound):
        blobs.open_blob("0" * 32)
    blobs.delete_blob("0" * 32)  # deleting twice is fine


def test_unreferenced_blobs_are_removed_after_the_grace_period(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db", tmp_path / "blobs", min_free_bytes=0)
    writer = store.blobs.writer()
    writer.write(b"orphan from a crash between rename and commit")
    name = writer.commit()
    ctime = (store.blobs.path / name).stat().st_ctime
    assert store.remove_orphans(now=ctime + 10) == 0  # a live worker may commit it yet
    assert store.remove_orphans(now=ctime + 7200) == 1
    assert list(store.blobs.names()) == []
    store.close()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_disk_full_while_writing_is_storage_full(
    blobs: BlobDir, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    writer = blobs.writer()

    def full(fd: int, data: object) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageFull):
        writer.write(b"x" * (2 * 1024 * 1024))
    monkeypatch.undo()
    writer.abort()
    assert listing(blobs) == []


def test_buffered_writes_reach_the_committed_blob(blobs: BlobDir) -> None:
    writer = blobs.writer()
    pieces = [bytes([i]) * (300_000 + i) for i in range(80)]
    for piece in pieces:
        writer.write(piece)
    name = writer.commit()
    with blobs.open_blob(name) as stored:
        assert stored.read() == b"".join(pieces)
