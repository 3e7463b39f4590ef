"""The blob pool: files made in advance, each claimed by one writer, never born at an upload."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.inode_times import HOUR, birth_time, every_path, on_the_hour
from tipbox.store import Store
from tipbox.store.blobs import BlobDir, BlobWriter, is_blob_name, list_directory

NOW = 1_700_001_234.5
STAMP = 1_699_999_200  # NOW rounded down to the hour
PROPERTY = settings(
    derandomize=True, deadline=None, max_examples=60, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobDir:
    directory = BlobDir(tmp_path / "blobs", min_free_bytes=0, now=lambda: NOW)
    directory.create()
    return directory


def inodes(directory: Path) -> set[int]:
    return {os.stat(directory / name).st_ino for name in list_directory(directory)}


def test_the_pool_holds_private_empty_files_stamped_with_the_hour(blobs: BlobDir) -> None:
    assert blobs.pool == blobs.path.with_name("blobs-pool")  # next to the blobs, not among them
    assert blobs.fill_pool(8, stamp=STAMP) == 8
    names = blobs.pool_names()
    assert len(names) == 8
    assert all(is_blob_name(name) for name in names)
    for name in names:
        info = os.stat(blobs.pool / name)
        assert info.st_size == 0
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_mtime_ns == info.st_atime_ns == STAMP * 10**9
    assert stat.S_IMODE(blobs.pool.stat().st_mode) == 0o700
    assert blobs.pool.stat().st_mtime_ns == STAMP * 10**9
    assert os.listdir(blobs.path) == []


def test_filling_tops_up_and_never_overshoots(blobs: BlobDir) -> None:
    assert blobs.fill_pool(5, stamp=STAMP) == 5
    assert blobs.fill_pool(5, stamp=STAMP) == 0
    for name in blobs.pool_names()[:3]:
        os.unlink(blobs.pool / name)
    assert blobs.fill_pool(5, stamp=STAMP) == 3
    assert blobs.fill_pool(2, stamp=STAMP) == 0  # a smaller size removes nothing
    assert len(blobs.pool_names()) == 5


def test_concurrent_fills_stop_at_the_size(blobs: BlobDir) -> None:
    start = threading.Barrier(8)

    def fill() -> None:
        start.wait()
        BlobDir(blobs.path, min_free_bytes=0).fill_pool(40, stamp=STAMP)

    threads = [threading.Thread(target=fill) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(blobs.pool_names()) == 40


def test_a_writer_takes_its_file_from_the_pool(blobs: BlobDir) -> None:
    blobs.fill_pool(4, stamp=STAMP)
    pooled = inodes(blobs.pool)
    births = {birth_time(blobs.pool / name) for name in blobs.pool_names()}
    writer = blobs.writer()
    assert writer.pooled
    assert len(blobs.pool_names()) == 3
    writer.write(b"ciphertext")
    name = writer.commit()
    info = os.stat(blobs.path / name)
    assert info.st_ino in pooled  # the same inode: its birth time is the pool's
    assert birth_time(blobs.path / name) in births
    assert info.st_mtime_ns == info.st_atime_ns == STAMP * 10**9
    with blobs.open_blob(name) as blob:
        assert blob.read() == b"ciphertext"


def test_an_empty_pool_falls_back_to_a_fresh_file(blobs: BlobDir) -> None:
    writer = blobs.writer()
    assert not writer.pooled
    writer.write(b"x")
    name = writer.commit()
    with blobs.open_blob(name) as blob:
        assert blob.read() == b"x"


def test_a_pool_file_with_stray_bytes_is_emptied_first(blobs: BlobDir) -> None:
    blobs.fill_pool(1, stamp=STAMP)
    [name] = blobs.pool_names()
    (blobs.pool / name).write_bytes(b"stray bytes that must not end up in a blob")
    writer = blobs.writer()
    assert writer.pooled
    writer.write(b"ab")
    with blobs.open_blob(writer.commit()) as blob:
        assert blob.read() == b"ab"


def test_a_pool_on_another_file_system_is_not_used(
    blobs: BlobDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs.fill_pool(2, stamp=STAMP)

    def cross_device(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "rename", cross_device)
    writer = blobs.writer()
    assert not writer.pooled
    writer.abort()
    assert len(blobs.pool_names()) == 2


def test_a_cleanup_racing_a_claim_never_hands_out_an_unlinked_file(
    blobs: BlobDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cleanup deletes the claimed temporary before the writer opens it: take the next one."""
    blobs.fill_pool(2, stamp=STAMP)
    real_rename = os.rename
    raced: list[str] = []

    def rename_then_lose_it(source: str, target: str) -> None:
        real_rename(source, target)
        if not raced:
            raced.append(str(target))
            os.unlink(target)  # what a starting worker's cleanup would do

    monkeypatch.setattr(os, "rename", rename_then_lose_it)
    writer = blobs.writer()
    monkeypatch.undo()
    assert raced
    assert writer.pooled
    assert os.fstat(writer._fd).st_nlink == 1
    writer.write(b"kept")
    with blobs.open_blob(writer.commit()) as blob:
        assert blob.read() == b"kept"
    assert blobs.pool_names() == []


def test_concurrent_writers_never_share_a_pool_file(blobs: BlobDir) -> None:
    blobs.fill_pool(32, stamp=STAMP)
    pooled = inodes(blobs.pool)
    start = threading.Barrier(64)
    writers: list[BlobWriter] = []
    lock = threading.Lock()

    def open_one() -> None:
        start.wait()
        writer = blobs.writer()
        with lock:
            writers.append(writer)

    threads = [threading.Thread(target=open_one) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = [os.fstat(writer._fd).st_ino for writer in writers]
    assert len(set(held)) == 64  # no two writers share a file
    assert sum(writer.pooled for writer in writers) == 32
    assert {ino for ino, w in zip(held, writers, strict=True) if w.pooled} == pooled
    assert blobs.pool_names() == []
    for number, writer in enumerate(writers):
        writer.write(b"%d" % number)
        writer.commit(sync_dir=False)
    contents = set()
    for name in blobs.names():
        with blobs.open_blob(name) as blob:
            contents.add(blob.read())
    assert contents == {b"%d" % number for number in range(64)}


def test_a_writer_that_died_leaves_a_temporary_the_cleanup_removes(blobs: BlobDir) -> None:
    blobs.fill_pool(2, stamp=STAMP)
    writer = blobs.writer()
    writer.write(b"half an upload")
    writer.flush()
    os.close(writer._fd)  # the worker was killed: the kernel drops its flock
    assert blobs.remove_temporaries() == 1
    assert os.listdir(blobs.path) == []
    assert len(blobs.pool_names()) == 1


def test_taking_and_aborting_leave_the_directories_on_the_hour(blobs: BlobDir) -> None:
    blobs.fill_pool(2, stamp=STAMP - HOUR)
    writer = blobs.writer()
    assert blobs.pool.stat().st_mtime_ns == STAMP * 10**9  # the take changed it
    writer.write(b"x")
    writer.abort()
    for directory in (blobs.path, blobs.pool):
        assert directory.stat().st_mtime_ns == directory.stat().st_atime_ns == STAMP * 10**9


def test_reading_a_blob_leaves_its_access_time(blobs: BlobDir) -> None:
    writer = blobs.writer()
    writer.write(b"x")
    name = writer.commit()
    os.utime(blobs.path / name, (STAMP - 7 * HOUR, STAMP))  # older than mtime: relatime would
    with blobs.open_blob(name) as blob:
        blob.read()
    assert os.stat(blobs.path / name).st_atime_ns == (STAMP - 7 * HOUR) * 10**9


# -- properties -----------------------------------------------------------------

_SLOT = st.integers(0, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("open")),
        st.tuples(st.just("write"), _SLOT, st.binary(max_size=300)),
        st.tuples(st.just("commit"), _SLOT),
        st.tuples(st.just("abort"), _SLOT),
        st.tuples(st.just("fill"), st.integers(0, 6)),
        st.tuples(st.just("sweep")),
        st.tuples(st.just("tick"), st.integers(1, 3 * HOUR)),
    ),
    max_size=30,
)


class PoolRun:
    """One generated run: a store whose clock only moves when told, writers held open."""

    def __init__(self, root: Path) -> None:
        self.clock = time.time()
        self.store = Store.open(
            root / "tipbox.db", root / "blobs", min_free_bytes=0, now=lambda: self.clock,
            pool_size=3,
        )
        self.writers: list[BlobWriter] = []
        self.pool_inodes = inodes(self.store.blobs.pool)

    def apply(self, operation: tuple[object, ...]) -> None:
        kind, *args = operation
        blobs = self.store.blobs
        if kind == "open":
            self.open()
        elif kind == "fill":
            blobs.fill_pool(int(args[0]), stamp=blobs.stamp())  # type: ignore[call-overload]
            self.pool_inodes |= inodes(blobs.pool)
        elif kind == "sweep":
            self.store.sweep(now=self.clock)
            self.pool_inodes |= inodes(blobs.pool)
            assert_all_on_the_hour(self.store.data_dir, self.writers)
        elif kind == "tick":
            self.clock += int(args[0])  # type: ignore[call-overload]
        elif self.writers:
            self.finish(kind, *args)

    def open(self) -> None:
        writer = self.store.blobs.writer()
        held = {os.fstat(other._fd).st_ino for other in self.writers if other.state == "open"}
        mine = os.fstat(writer._fd).st_ino
        assert mine not in held  # two live writers never share a file
        assert writer.pooled == (mine in self.pool_inodes)
        self.pool_inodes.discard(mine)
        self.writers.append(writer)

    def finish(self, kind: object, slot: object, data: bytes = b"") -> None:
        writer = self.writers[int(slot) % len(self.writers)]  # type: ignore[call-overload]
        if writer.state != "open":
            return
        if kind == "write":
            writer.write(data)
        elif kind == "commit":
            writer.commit()
        else:
            writer.abort()

    def close(self) -> None:
        for writer in self.writers:
            if writer.state == "open":
                writer.commit()
        self.store.close()


def assert_all_on_the_hour(root: Path, writers: list[BlobWriter]) -> None:
    for path in every_path(root):
        info = os.lstat(path)
        assert on_the_hour(info.st_mtime_ns), path
        assert on_the_hour(info.st_atime_ns), path


@PROPERTY
@given(operations)
def test_no_blob_ends_with_a_time_off_the_hour(script: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        run = PoolRun(Path(scratch))
        try:
            for operation in script:
                run.apply(operation)
        finally:
            run.close()
        blobs = run.store.blobs
        for directory in (blobs.path, blobs.pool):
            for name in list_directory(directory):
                info = os.stat(directory / name)
                assert on_the_hour(info.st_mtime_ns), name
                assert on_the_hour(info.st_atime_ns), name
            info = os.stat(directory)
            assert on_the_hour(info.st_mtime_ns), directory


@settings(PROPERTY, max_examples=25)
@given(pool_size=st.integers(0, 16), writers=st.integers(1, 24))
def test_racing_writers_never_share_a_pool_file(pool_size: int, writers: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        blobs = BlobDir(Path(scratch) / "blobs", min_free_bytes=0, now=lambda: NOW)
        blobs.create()
        blobs.fill_pool(pool_size, stamp=STAMP)
        pooled = inodes(blobs.pool)
        start = threading.Barrier(writers)
        opened: list[BlobWriter] = []

        def open_one() -> None:
            start.wait()
            writer = blobs.writer()
            opened.append(writer)  # list.append is atomic

        threads = [threading.Thread(target=open_one) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        held = [os.fstat(writer._fd).st_ino for writer in opened]
        assert len(set(held)) == writers
        assert sum(writer.pooled for writer in opened) == min(pool_size, writers)
        assert {ino for ino, w in zip(held, opened, strict=True) if w.pooled} <= pooled
        for writer in opened:
            writer.commit(sync_dir=False)
        assert len(list(blobs.names())) == writers
