"""Jobs run on several threads, their results taken in the order submitted.

The chunks of an age payload are independent, so runs of them can be sealed
or opened on several cores at once (``cryptography`` releases the GIL while
it works), as long as the results are put back in order. This module knows
nothing of chunks: it is the ordered, bounded pool the STREAM code uses.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["OrderedPool", "default_threads"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


def default_threads() -> int:
    """The threads worth using on this machine: its usable CPUs, at most 4.

    Beyond four, reading and writing the stream (one thread) is the limit.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


class _Pending(Protocol[_T_co]):
    """A job put in the pool: a ``concurrent.futures.Future``, or :class:`_Finished`."""

    def done(self) -> bool: ...

    def result(self) -> _T_co: ...


class _Finished(Generic[_T]):
    """A job that ran in the calling thread: its result, or the exception it raised."""

    def __init__(self, job: Callable[[], _T]) -> None:
        self._error: Exception | None = None
        try:
            self._value: _T | None = job()
        except Exception as error:  # noqa: BLE001 - re-raised when the result is taken, in order
            self._value, self._error = None, error

    def done(self) -> bool:
        return True

    def result(self) -> _T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class OrderedPool(Generic[_T]):
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
        self._executor: ThreadPoolExecutor | None = None
        self._pending: deque[_Pending[_T]] = deque()

    def __len__(self) -> int:
        """The number of jobs in flight."""
        return len(self._pending)

    def put(self, job: Callable[[], _T], *, inline: bool = False) -> None:
        """Start ``job``: in this thread if ``inline``, or if it would only wait otherwise."""
        pending = self._pending
        busy = len(pending) >= self.window and not pending[0].done()
        if inline or self.threads == 1 or busy:
            pending.append(_Finished(job))
        else:
            pending.append(self._workers().submit(job))

    def _workers(self) -> ThreadPoolExecutor:
        if self._executor is None:
            # Imported here: it costs milliseconds that a small payload never needs.
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

            workers = self.threads - 1
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tipbox-crypto")
        return self._executor

    def due(self) -> Iterator[_T]:
        """Yield, oldest first, the results done and those needed to stay in the window."""
        pending = self._pending
        while pending and (len(pending) > self.window or pending[0].done()):
            yield pending.popleft().result()

    def rest(self) -> Iterator[_T]:
        """Yield every remaining result in order, waiting for each."""
        while self._pending:
            yield self._pending.popleft().result()

    def close(self) -> None:
        """Drop the jobs not started, wait for the running ones, end the threads."""
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

