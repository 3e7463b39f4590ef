"""CPU work that must yield to everything else: threads at the lowest scheduling priority.

A flood of codename logins is a flood of Argon2id runs, each one filling
every core for a moment. Capping how many run at once (the login slots)
bounds memory, but one run at a time still takes the CPU that a new
source's submission or a page view needs. :class:`LowPriorityThreads` runs
such work on its own threads whose nice value is the lowest (19): the kernel
gives them only the CPU that normal-priority threads leave over, and the
threads Argon2 itself starts (one per lane) inherit that value.

The threads are dedicated because an unprivileged thread can lower its own
priority but never raise it back. They start with the first call (so in a
gunicorn worker, after the fork). Where the platform has no per-thread nice
value the work still runs, at normal priority.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["LOWEST", "LowPriorityThreads"]

T = TypeVar("T")

#: The lowest nice value on Linux and the BSDs.
LOWEST = 19


class LowPriorityThreads:
    """Up to ``size`` threads at nice ``LOWEST``; :meth:`run` waits for the result."""

    def __init__(self, size: int, *, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on a low-priority thread and return (or raise) what it does."""
        return self._pool().submit(work).result()

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._size, thread_name_prefix=self._name,
                    initializer=lower_this_thread,
                )
            return self._executor


def lower_this_thread() -> None:
    """Give the calling thread (and the threads it starts later) the lowest priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST)
