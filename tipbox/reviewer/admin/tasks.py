"""The periodic retention purge of the reviewer app.

At most once per :data:`PURGE_INTERVAL_SECONDS` per process, before serving a
request, expired sources and items are crypto-shredded with the retention
period in effect (:mod:`tipbox.services.ops.retention`). A failure is logged
and never breaks the request; the next interval tries again.
"""

from __future__ import annotations

import logging
import threading
import time

from tipbox.errors import TipboxError
from tipbox.reviewer.admin.access import admin_services

__all__ = ["PURGE_INTERVAL_SECONDS", "PeriodicPurge"]

PURGE_INTERVAL_SECONDS = 3600.0
_log = logging.getLogger("tipbox.reviewer.admin")


class PeriodicPurge:
    """A ``before_request`` hook that purges at most once per interval."""

    def __init__(self, interval: float = PURGE_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        now = time.time()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self._interval
        try:
            services = admin_services()
            days = services.settings.current().retention_days
            services.retention.purge(days, now=now)
        except TipboxError as error:
            _log.warning("retention purge failed: %s", type(error).__name__)
