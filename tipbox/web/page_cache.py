"""Pages that are the same for every anonymous visitor, rendered once a moment.

The source landing page is the most requested page and its content changes
only with the language, the newsroom key and the admin's settings. Keeping
its HTML for a couple of seconds, keyed by everything it depends on, makes
it nearly as cheap as a static file. Only pages with nothing per visitor
(no CSRF token, no login state) may be cached: the cache holds public HTML
only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Flask, current_app

__all__ = ["PageCache", "install_page_cache", "page_cache"]

_KEY = "tipbox.page_cache"


class PageCache:
    """A small, thread-safe, time-limited map from a page's inputs to its HTML."""

    def __init__(
        self,
        *,
        max_entries: int = 64,
        max_age: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pages: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: Hashable, render: Callable[[], str]) -> str:
        """The page for ``key``, rendered by ``render`` when missing or too old."""
        now = self._clock()
        with self._lock:
            entry = self._pages.get(key)
            if entry is not None and now - entry[0] < self._max_age:
                self._pages.move_to_end(key)
                return entry[1]
        page = render()
        with self._lock:
            self._pages[key] = (now, page)
            self._pages.move_to_end(key)
            while len(self._pages) > self._max_entries:
                self._pages.popitem(last=False)
        return page


def install_page_cache(app: Flask) -> None:
    """Give ``app`` its own page cache (never shared between apps)."""
    app.extensions[_KEY] = PageCache()


def page_cache() -> PageCache:
    """The current app's page cache."""
    cache = current_app.extensions[_KEY]
    assert isinstance(cache, PageCache)
    return cache
