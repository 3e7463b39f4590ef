"""The one file the reviewer app accepts: the organisation logo, on ``POST /admin/settings/logo``.

:class:`ReviewerRequest` is the reviewer app's request class. Every other
route refuses file parts (as :class:`~tipbox.web.uploads.UploadRequest` does);
this one admin route takes one file part into a :class:`LogoSink` in
memory. Contract: its body is capped at :data:`MAX_LOGO_BODY` (413 above
it, from the ``Content-Length`` or while reading), its one file is kept only
up to :data:`~tipbox.services.logo.MAX_LOGO_BYTES` (past that the sink only
counts, and :meth:`LogoSink.upload` raises ``logo_too_large`` so that the
settings page can say so), and no file byte is kept before the CSRF token
has been checked (the streaming parser's rule). The guard (admin session)
runs in the view, before the bytes are decoded or stored.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import request

from tipbox.services.logo import MAX_LOGO_BYTES, check_size
from tipbox.web import UploadRequest
from tipbox.web.uploads import FileSink, UploadLimits

__all__ = ["LogoSink", "ReviewerRequest", "uploaded_logo"]

LOGO_ENDPOINT = "admin.upload_logo"

#: A photo straight from a camera still reaches the page that says "too large".
MAX_LOGO_BODY = 16 * MAX_LOGO_BYTES


class LogoSink:
    """Keeps the first :data:`MAX_LOGO_BYTES` (+1) of the file parts; counts the rest."""

    def __init__(self) -> None:
        self._kept = bytearray()
        self.size = 0

    def open_file(self, filename: str, content_type: str) -> LogoSink:
        return self  # the name and the announced type are not trusted: the bytes are decoded

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        room = MAX_LOGO_BYTES + 1 - len(self._kept)
        if room > 0:
            self._kept += data[:room]
        return len(data)

    def close(self) -> None:
        return None

    def upload(self) -> bytes:
        """The uploaded bytes; raises ``InvalidInput`` (``logo_too_large``) past the limit."""
        check_size(self.size)
        return bytes(self._kept)


class ReviewerRequest(UploadRequest):
    """File parts only for the logo route, with that route's narrow limits."""

    _logo_sink: LogoSink | None = None

    def accepts_files(self) -> bool:
        return self.method == "POST" and self.endpoint == LOGO_ENDPOINT

    def open_sink(self) -> FileSink | None:
        if not self.accepts_files():
            return None
        self._logo_sink = LogoSink()
        return self._logo_sink

    @property
    def upload_limits(self) -> UploadLimits:
        limits = super().upload_limits
        if not self.accepts_files():
            return limits
        return dataclasses.replace(
            limits, max_files=1, max_file_bytes=MAX_LOGO_BODY, max_upload_body=MAX_LOGO_BODY
        )

    def logo_sink(self) -> LogoSink:
        """The sink of this request's file (an empty one when no file part came)."""
        self._load_form_data()
        return self._logo_sink or LogoSink()


def uploaded_logo() -> bytes:
    """The logo file of this request (``b""`` when none was chosen)."""
    return t.cast(ReviewerRequest, request).logo_sink().upload()
