"""The BlobStore protocol and its filesystem implementation, BlobDir."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.config import load_settings
from tipbox.errors import NotFound
from tipbox.store import BlobStore, open_blob_store
from tipbox.store.blobs import BlobDir

FUZZ = settings(derandomize=True, deadline=None, max_examples=200,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def blobs(tmp_path: Path) -> BlobDir:
    directory = BlobDir(tmp_path / "blobs", min_free_bytes=0)
    directory.create()
    return directory


def _commit(blobs: BlobStore, data: bytes) -> str:
    writer = blobs.writer()
    writer.write(data)
    return writer.commit()


def test_a_blob_dir_is_a_blob_store(blobs: BlobDir) -> None:
    store: BlobStore = blobs
    name = _commit(store, b"payload")
    with store.open_blob(name) as payload:
        assert payload.read() == b"payload"
    assert list(store.names()) == [name]
    assert store.local_paths([name]) == {blobs.path / name}
    changed = store.changed_at(name)
    assert changed is not None
    assert changed == os.stat(blobs.path / name).st_ctime
    store.delete_blob(name)
    assert store.changed_at(name) is None


def test_locations_and_local_files(blobs: BlobDir) -> None:
    assert blobs.location == str(blobs.path)
    assert blobs.pool_location == str(blobs.pool)
    assert blobs.local_directories() == (blobs.path, blobs.pool)
    blobs.fill_pool(2, stamp=0)
    name = _commit(blobs, b"x")
    files = list(blobs.local_files())
    assert files[0] == blobs.path / name  # the blob directory first, then the pool
    assert {path.parent for path in files[1:]} == {blobs.pool}
    assert len(files) == 2  # one pool file became the blob


def test_dead_temporaries_are_listed_live_ones_are_not(blobs: BlobDir) -> None:
    live = blobs.writer()
    dead = blobs.writer()
    dead_path = dead._temp
    os.close(dead._fd)  # the writer "dies": its flock is gone
    dead.state = "aborted"
    assert blobs.dead_temporaries() == [dead_path]
    fd = os.open(dead_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert blobs.dead_temporaries() == []  # someone holds it again
    finally:
        os.close(fd)
    live.abort()


def test_open_blob_store_follows_the_settings(tmp_path: Path) -> None:
    store = open_blob_store(load_settings({"TIPBOX_DATA_DIR": str(tmp_path / "data")}))
    assert store.location == str(tmp_path / "data" / "blobs")
    assert store.local_directories()[0] == tmp_path / "data" / "blobs"
    assert list(store.local_files()) == []  # nothing is created by opening
    assert not (tmp_path / "data").exists()


@FUZZ
@given(
    name=st.text(max_size=80)
    | st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
    | st.from_regex(r"(\.\./|/|\.tmp-)?[0-9a-fA-F]{31,33}\n?", fullmatch=True)
)
def test_no_name_reaches_outside_the_directory(blobs: BlobDir, name: str) -> None:
    """Any name is either a blob of this directory or refused (NotFound/None)."""
    assert blobs.changed_at(name) is None
    if len(name) == 32 and set(name) <= set("0123456789abcdef"):
        assert blobs.local_paths([name]) == {blobs.path / name}
    else:
        with pytest.raises(NotFound):
            blobs.local_paths([name])
