"""Jobs run on several threads, their results taken in the order submitted.

The chunks of an age payload are independent, so runs of them can be sealed
or opened on several cores at once (``cryptography`` releases the GIL while
it works), as long as the results are put back in order. This module knows
nothing of chunks: it is the ordered, bounded pool the STREAM code uses.

Start-up matters here (every run of the offline tool imports this module):
the worker threads are plain ``threading`` threads fed by a
``queue.SimpleQueue``, both imported with the first worker, since
``concurrent.futures`` alone costs 12 ms; and ``typing`` (8 ms) serves the
type checker only.
"""

from __future__ import annotations

import os
from _thread import LockType, allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator
    from queue import SimpleQueue
    from typing import Generic, TypeVar

    _T = TypeVar("_T")

    class _Typed(Generic[_T]):
        """A class generic in ``_T`` for the type checker."""

else:
    _T = None

    class _Typed:
        """At run time, ``_Typed[...]`` is the class itself."""

        def __class_getitem__(cls, item: object) -> type:
            return cls


__all__ = ["OrderedPool", "default_threads"]


def default_threads() -> int:
    """The threads worth using on this machine: its usable CPUs, at most 4.

    Beyond four, reading and writing the stream (one thread) is the limit.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


class _Job(_Typed[_T]):
    """A job, then its result or the exception it raised.

    A job for a worker holds a lock from :meth:`hand_over` until it has run,
    so that :meth:`result` can wait for it.
    """

    __slots__ = ("_error", "_lock", "_value", "_work")

    def __init__(self, work: Callable[[], _T]) -> None:
        self._work: Callable[[], _T] | None = work
        self._value: _T | None = None
        self._error: Exception | None = None
        self._lock: LockType | None = None

    def hand_over(self) -> None:
        """Mark the job as running elsewhere: :meth:`result` waits for :meth:`run`."""
        self._lock = allocate_lock()
        self._lock.acquire()

    def run(self, *, drop: bool = False) -> None:
        """Run the job (unless ``drop``: its result is no longer wanted)."""
        work, self._work = self._work, None
        try:
            if work is not None and not drop:
                self._value = work()
        except Exception as error:  # noqa: BLE001 - re-raised when the result is taken, in order
            self._error = error
        finally:
            if self._lock is not None:
                self._lock.release()

    def done(self) -> bool:
        return self._lock is None or not self._lock.locked()

    def result(self) -> _T:
        if self._lock is not None:
            with self._lock:  # held until the job has run
                pass
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class OrderedPool(_Typed[_T]):
    """Runs jobs on ``threads`` threads, the caller's included; results come back in order.

    :meth:`put` starts a job; :meth:`due` yields the results to take now,
    oldest first: those already done and, while more than the ``window``
    (``2 x threads``: for each thread one job running and one ready) are in
    flight (put and not yet taken), the oldest ones, waiting for them. So
    memory is bounded by that many jobs' inputs and outputs, plus the one
    being prepared. (A smaller window made the calling thread take jobs it
    had better leave to a worker while it writes.)

    A job runs on one of the ``threads - 1`` worker threads, or in the
    calling thread, at once, when that thread would otherwise only wait: if
    ``threads`` is 1, if the window is full and its oldest job unfinished,
    or if the caller says so (``inline=True``: a small job, not worth a
    thread). Either way its result waits its turn. So the calling thread
    reads and writes the stream and lends a hand when it is ahead; on two
    cores, one worker and the caller beat two workers that leave the
    caller's reads to the scheduler. Worker threads start with the first
    job that needs one and all end at :meth:`close`, which drops the jobs
    not started yet and waits for the running ones (a job is short).

    A job's exception is re-raised when its result is taken.
    """

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self.window = 2 * threads
        self._pending: list[_Job[_T]] = []  # oldest first; never longer than window + 1
        self._queue: SimpleQueue[_Job[_T] | None] | None = None
        self._workers: list[threading.Thread] = []
        self._closed = False

    def __len__(self) -> int:
        """The number of jobs in flight."""
        return len(self._pending)

    def put(self, work: Callable[[], _T], *, inline: bool = False) -> None:
        """Start ``work``: in this thread if ``inline``, or if it would only wait otherwise."""
        job: _Job[_T] = _Job(work)
        pending = self._pending
        busy = len(pending) >= self.window and not pending[0].done()
        if inline or self.threads == 1 or busy:
            job.run()
        else:
            self._hand_over(job)
        pending.append(job)

    def _hand_over(self, job: _Job[_T]) -> None:
        if self._queue is None:
            self._start_workers()
        assert self._queue is not None
        job.hand_over()
        self._queue.put(job)

    def _start_workers(self) -> None:
        # Imported here: a payload of one run never needs them.
        import queue  # noqa: PLC0415
        import threading  # noqa: PLC0415

        self._queue = queue.SimpleQueue()
        self._closed = False
        for number in range(self.threads - 1):
            worker = threading.Thread(target=self._serve, args=(self._queue,), daemon=True,
                                      name=f"tipbox-crypto-{number}")
            worker.start()
            self._workers.append(worker)

    def _serve(self, jobs: SimpleQueue[_Job[_T] | None]) -> None:
        """A worker thread: run jobs until told to stop (``None``)."""
        while (job := jobs.get()) is not None:
            job.run(drop=self._closed)

    def due(self) -> Iterator[_T]:
        """Yield, oldest first, the results done and those needed to stay in the window."""
        pending = self._pending
        while pending and (len(pending) > self.window or pending[0].done()):
            yield pending.pop(0).result()

    def rest(self) -> Iterator[_T]:
        """Yield every remaining result in order, waiting for each."""
        while self._pending:
            yield self._pending.pop(0).result()

    def close(self) -> None:
        """Drop the jobs not started, wait for the running ones, end the threads."""
        self._pending.clear()
        if self._queue is None:
            return
        self._closed = True
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()
        self._workers, self._queue = [], None
