"""Admission of uploads: threads stay free for page views, whatever the flood.

Every upload holds one of the worker's threads for as long as its client
takes to send it (hours, on a slow Tor circuit). An adversary who opens
uploads and trickles them could hold every thread, and the landing page would
stop answering. :func:`install_upload_admission` caps the uploads one process
serves at once; the next one gets :class:`~tipbox.errors.Busy` (a 503 page
asking to try again in a few minutes) before a byte of its body is read, and
the worker's lingering close delivers that page (:mod:`tipbox.web.worker`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, g

from tipbox.errors import Busy

__all__ = ["UploadAdmission", "install_upload_admission"]


class UploadAdmission:
    """At most ``limit`` uploads at once; :meth:`admit` never waits."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    def admit(self) -> None:
        """Take a slot or raise :class:`Busy` at once."""
        if not self._slots.acquire(blocking=False):
            raise Busy("many uploads are arriving right now; send again in a few minutes")

    def release(self) -> None:
        self._slots.release()


def install_upload_admission(app: Flask, limit: int, is_upload: Callable[[], bool]) -> None:
    """Admit requests for which ``is_upload()`` holds before anything reads their body.

    The check runs first of all ``before_request`` hooks (CSRF validation
    parses the body); the slot is given back when the request is torn down,
    however it ended.
    """
    admission = UploadAdmission(limit)

    def admit() -> None:
        if is_upload():
            admission.admit()
            g.upload_admitted = True

    def release(_error: BaseException | None) -> None:
        if g.pop("upload_admitted", False):
            admission.release()

    app.before_request_funcs.setdefault(None, []).insert(0, admit)
    app.teardown_request(release)
