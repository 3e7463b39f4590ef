"""ASCII armor (strict PEM) for age files.

The reader accepts exactly what the spec allows: optional whitespace
around the armor, LF or CRLF line ends, 64-column lines of canonical padded
base64 with only the last one shorter, and nothing else. The writer
produces the canonical form.
"""

from __future__ import annotations

import binascii

from tipbox.crypto.errors import ArmorError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from tipbox.crypto.stream import Writable

BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
END = b"-----END AGE ENCRYPTED FILE-----"
_COLUMNS = 64
_LINE_BYTES = 48
_MAX_LINE = 1024
_MAX_WHITESPACE = 1024
_WHITESPACE = b" \t\r\n\v\f"
_READ_SIZE = 64 * 1024
# A run of full, unpadded 64-column lines: always canonical, decoded in one call.
_FULL_LINES = rb"(?:[A-Za-z0-9+/]{64}\r?\n)+"
_ALPHABET_AND_LF = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n"


def looks_armored(start: bytes) -> bool:
    """Whether a file starting with ``start`` should be read as armored."""
    return start.lstrip(_WHITESPACE).startswith(b"-----")


def read_start(stream: BinaryIO) -> bytes:
    """The first bytes of ``stream``, enough to tell armor from binary.

    Reads past leading whitespace (up to the armor's allowance) so that a
    whitespace-padded armored file is still recognised.
    """
    start = stream.read(64)
    while len(start.lstrip(_WHITESPACE)) < len(BEGIN) and len(start) <= _MAX_WHITESPACE:
        more = stream.read(64)
        if not more:
            break
        start += more
    return start


class ArmorReader:
    """Decodes an armored stream; ``read(n)`` returns fewer bytes only at the end."""

    def __init__(self, stream: BinaryIO, initial: bytes = b"") -> None:
        # Imported here: only armored input needs it, and it costs every start 4 ms.
        import re  # noqa: PLC0415

        self._full_lines = re.compile(_FULL_LINES)
        self._stream = stream
        self._buffer = bytearray(initial)
        self._decoded = bytearray()
        self._started = False
        self._done = False

    def read(self, size: int, /) -> bytes:
        while len(self._decoded) < size and not self._done:
            self._decode_line()
        data = bytes(self._decoded[:size])
        del self._decoded[:size]
        return data

    def _decode_line(self) -> None:
        if not self._started:
            self._skip_leading_whitespace()
            if self._line() != BEGIN:
                raise ArmorError("missing armor header line")
            self._started = True
        if self._decode_full_lines():
            return
        line = self._line()
        if line == END:
            self._finish()
            return
        data = _decode(line)
        self._decoded += data
        if len(data) < _LINE_BYTES:
            if self._line() != END:
                raise ArmorError("short line before the end of the armor")
            self._finish()

    def _decode_full_lines(self) -> bool:
        """Fast path: decode every complete full line at the front of the buffer.

        Lines known to be 64 characters of the alphabet (no padding) are
        canonical: ``a2b_base64`` decodes them, newlines and all, in one call.
        """
        end = self._lf_lines_end()
        if not end:
            run = self._full_lines.match(self._buffer)  # CRLF, or the armor's last lines
            if not run:
                return False
            end = run.end()
        self._decoded += binascii.a2b_base64(memoryview(self._buffer)[:end])
        del self._buffer[:end]
        return True

    def _lf_lines_end(self) -> int:
        """The length of the buffer's whole lines if every one is 64 columns and LF, else 0.

        The same check as the regex, with no loop in Python: four times faster.
        """
        lines = len(self._buffer) // (_COLUMNS + 1)
        prefix = bytes(memoryview(self._buffer)[: lines * (_COLUMNS + 1)])
        if prefix[_COLUMNS :: _COLUMNS + 1] != b"\n" * lines or prefix.count(b"\n") != lines:
            return 0
        return len(prefix) if not prefix.translate(None, _ALPHABET_AND_LF) else 0

    def _skip_leading_whitespace(self) -> None:
        while True:
            stripped = self._buffer.lstrip(_WHITESPACE)
            skipped = len(self._buffer) - len(stripped)
            if stripped or skipped > _MAX_WHITESPACE or not self._more():
                break
        if skipped > _MAX_WHITESPACE:
            raise ArmorError("too much leading whitespace")
        self._buffer = bytearray(stripped)

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > _MAX_LINE:
                raise ArmorError("armor line too long")
            if not self._more():
                if not self._buffer:
                    raise ArmorError("unexpected end of armor")
                end = len(self._buffer)
                break
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line.removesuffix(b"\r")

    def _finish(self) -> None:
        while len(self._buffer) <= _MAX_WHITESPACE and self._more():
            pass
        if self._buffer.strip(_WHITESPACE) or len(self._buffer) > _MAX_WHITESPACE:
            raise ArmorError("trailing data after the armor")
        self._done = True

    def _more(self) -> bool:
        data = self._stream.read(_READ_SIZE)
        self._buffer += data
        return bool(data)


def _decode(line: bytes) -> bytes:
    if not line or len(line) > _COLUMNS or len(line) % 4:
        raise ArmorError("malformed armor line")
    try:
        data = binascii.a2b_base64(line, strict_mode=True)
    except binascii.Error:
        raise ArmorError("invalid base64 in armor") from None
    if binascii.b2a_base64(data, newline=False) != line:
        raise ArmorError("non-canonical base64 in armor")
    return data


class ArmorWriter:
    """Writes armored data to ``sink``; ``close`` writes the footer, not closing ``sink``."""

    def __init__(self, sink: Writable) -> None:
        self._sink = sink
        self._pending = bytearray()
        sink.write(BEGIN + b"\n")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % _LINE_BYTES
        if whole:
            self._sink.write(_lines(self._pending[:whole]))
            del self._pending[:whole]
        return len(data)

    def close(self) -> None:
        if self._pending:
            self._sink.write(_lines(self._pending))
            self._pending.clear()
        self._sink.write(END + b"\n")


def _lines(data: bytes | bytearray) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(
        encoded[i : i + _COLUMNS] + b"\n" for i in range(0, len(encoded), _COLUMNS)
    )
