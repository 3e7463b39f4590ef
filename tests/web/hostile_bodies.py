"""Request bodies a hostile client sends, for the Flask test client.

Shared by the web regression tests and the form fuzzers. A body is a stream
that counts what the app read from it, so a test can assert both the status
and that a refusal came *before* the body was read (or after a bounded part
of it). :func:`post_stream` sends one as a real server would pass it on:
with a ``Content-Length`` (true or lying) or chunked (no length, the stream
terminated by the server, as gunicorn does).
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

#: A ``Content-Length`` far beyond any form: the form bomb of issue 11.
BOMB_BYTES = 20 * 1000 * 1000

BOUNDARY = "----hostileboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


class Body(io.RawIOBase):
    """``prefix`` then ``pattern`` repeated up to ``size`` bytes (``None``: endless).

    ``read_bytes`` counts what the app consumed; with ``forbid_reading`` any
    read fails the test.
    """

    def __init__(self, pattern: bytes, size: int | None = None, *, prefix: bytes = b"",
                 forbid_reading: bool = False) -> None:
        self._prefix = prefix
        self._pattern = pattern
        self._size = size
        self._forbid = forbid_reading
        self.read_bytes = 0

    @property
    def size(self) -> int | None:
        """The whole body's length (``None``: endless)."""
        return self._size

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:  # the test client measures
        return 0

    def tell(self) -> int:
        return 0

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        assert not self._forbid, "the app read a body it should have refused unread"
        want = len(buffer)
        if self._size is not None:
            want = min(want, self._size - self.read_bytes)
        data = self._bytes_at(self.read_bytes, want)
        buffer[: len(data)] = data
        self.read_bytes += len(data)
        return len(data)

    def _bytes_at(self, offset: int, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            at = offset + len(out)
            if at < len(self._prefix):
                out += self._prefix[at: at + size - len(out)]
                continue
            if not self._pattern:
                break
            start = (at - len(self._prefix)) % len(self._pattern)
            out += self._pattern[start: start + size - len(out)]
        return bytes(out)


def post_stream(client: FlaskClient, path: str, body: io.RawIOBase, content_type: str,
                *, length: int | None) -> TestResponse:
    """POST ``body`` announcing ``length`` bytes, or chunked when ``length`` is None."""
    environ: dict[str, object] = {"wsgi.input_terminated": True}  # as gunicorn does
    headers = {}
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        environ["CONTENT_LENGTH"] = str(length)
    return client.post(path, input_stream=body, content_type=content_type,
                       headers=headers, environ_overrides=environ)


def multipart(parts: Iterable[tuple[str, bytes, str | None]], *, close: bool = True) -> bytes:
    """A multipart body of ``(name, content, filename or None)`` parts."""
    out = bytearray()
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    if close:
        out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def empty_file_part(name: str = "files") -> bytes:
    """What a browser sends for a file input left empty."""
    return multipart([(name, b"", "")], close=False)


#: The reviewer app's JSON API takes no forms: its bodies are refused the same
#: way in tests/reviewer/test_api_errors.py, as JSON.
JSON_API = "/api/"


def post_rules(app: object) -> list[str]:
    """A concrete path for every POST form route of ``app`` (converters filled with 1)."""
    paths = []
    for rule in app.url_map.iter_rules():  # type: ignore[attr-defined]
        if "POST" in (rule.methods or ()) and not rule.rule.startswith(JSON_API):
            values = dict.fromkeys(rule.arguments, "1")
            paths.append(rule.build(values, append_unknown=False)[1])
    return sorted(paths)
