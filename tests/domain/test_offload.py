"""The background stage used by uploads: order, bounded queue, errors, cancel."""

from __future__ import annotations

import threading

import pytest

from tipbox.errors import StorageFull
from tipbox.services.submissions.offload import Offload


def test_chunks_are_processed_in_order_on_another_thread() -> None:
    seen: list[tuple[bytes, str]] = []
    stage = Offload(lambda chunk: seen.append((chunk, threading.current_thread().name)))
    for i in range(100):
        stage.submit(bytes([i]))
    stage.finish()
    assert [chunk for chunk, _ in seen] == [bytes([i]) for i in range(100)]
    assert {name for _, name in seen} == {"tipbox-offload"}


def test_an_error_reaches_the_caller_and_later_chunks_are_dropped() -> None:
    processed: list[bytes] = []
    go = threading.Event()

    def work(chunk: bytes) -> None:
        go.wait(5)
        if chunk == b"full":
            raise StorageFull("the disk is full")
        processed.append(chunk)

    stage = Offload(work, depth=8)
    for chunk in (b"a", b"full", b"later"):
        stage.submit(chunk)
    go.set()
    with pytest.raises(StorageFull):
        stage.finish()
    with pytest.raises(StorageFull):
        stage.submit(b"after the failure")
    assert processed == [b"a"]


def test_cancel_stops_without_raising_and_skips_the_rest() -> None:
    release = threading.Event()
    processed: list[bytes] = []

    def work(chunk: bytes) -> None:
        release.wait(5)
        processed.append(chunk)

    stage = Offload(work, depth=8)
    for chunk in (b"1", b"2", b"3"):
        stage.submit(chunk)
    release.set()
    stage.cancel()
    assert len(processed) <= 3
    stage.cancel()  # idempotent
