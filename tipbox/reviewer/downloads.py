"""Responses that hand decrypted (or encrypted) files to the reviewer's browser.

Security contract: a download is never rendered. Every one is
``application/octet-stream`` with ``Content-Disposition: attachment`` and a
file name made safe for RFC 6266: ``filename*`` carries, percent-encoded,
exactly the name the inbox shows (``saved_file_name`` of
:mod:`tipbox.services.submissions.file_names`: the upload-time filter, a no-op for the
names it produced, never a second, different cut), and ``filename`` an ASCII
fallback without quotes, separators or controls for old clients.
:func:`sandbox_attachments` adds ``sandbox`` to the CSP of every attachment,
on top of ``nosniff`` and the rest of the shared headers.
The body is a generator: bytes are decrypted as the client reads them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response

from tipbox.services.submissions.file_names import saved_file_name

_UNSAFE_ASCII = set('"\\/;:*?<>|%')


def _ascii_fallback(name: str) -> str:
    normalised = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(
        char if char.isascii() and char.isprintable() and char not in _UNSAFE_ASCII else "_"
        for char in normalised
        if not unicodedata.combining(char)
    )
    return ascii_only.strip() or "download"


def content_disposition(name: str) -> str:
    """``attachment; filename="..."; filename*=UTF-8''...`` for any (hostile) name.

    ``filename*`` is ``saved_file_name(name)``: for a name from the inbox,
    the very name it shows.
    """
    clean = saved_file_name(name, fallback="download")
    fallback = _ascii_fallback(clean)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def attachment(chunks: Iterator[bytes], name: str, size: int | None = None) -> Response:
    """A streamed attachment response (never inline, never sniffed)."""
    response = Response(chunks, mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition(name)
    if size is not None:
        response.headers["Content-Length"] = str(size)
    return response


def sandbox_attachments(response: Response) -> Response:
    """``after_request``: add ``sandbox`` to the CSP of every attachment."""
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        policy = response.headers.get("Content-Security-Policy", "default-src 'none'")
        response.headers["Content-Security-Policy"] = f"{policy}; sandbox"
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response
