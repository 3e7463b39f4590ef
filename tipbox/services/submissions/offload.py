"""Run a stream's CPU and disk work on a background thread, in order.

An upload's request thread must keep reading the network. Hashing,
encryption and disk writes all release the GIL, so moving them to a worker
thread lets them overlap with the reading: on two cores the upload runs at
the speed of its slowest stage instead of the sum of all of them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["Offload"]

_DONE = None


class Offload:
    """Calls ``work(chunk)`` for each submitted chunk on one worker thread.

    Chunks are processed in order. At most ``depth`` chunks wait, so memory
    stays bounded by ``depth`` times the chunk size. An exception raised by
    ``work`` is re-raised by the next :meth:`submit` or by :meth:`finish`;
    later chunks are dropped. Submitted chunks must not be modified
    afterwards (pass ``bytes``).
    """

    def __init__(self, work: Callable[[bytes], object], *, depth: int = 2) -> None:
        self._work = work
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="tipbox-offload", daemon=True)
        self._thread.start()

    def submit(self, chunk: bytes) -> None:
        """Queue ``chunk``; blocks while ``depth`` chunks are waiting."""
        self._raise_error()
        self._queue.put(chunk)

    def finish(self) -> None:
        """Wait until every chunk is processed; re-raise the worker's error."""
        self._stop()
        self._raise_error()

    def cancel(self) -> None:
        """Drop what is still queued and wait for the worker to stop. Never raises."""
        self._cancelled = True
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not _DONE:
            if self._error is None and not self._cancelled:
                try:
                    self._work(chunk)
                except BaseException as error:  # handed over to the caller's thread
                    self._error = error
