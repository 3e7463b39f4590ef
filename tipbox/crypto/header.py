"""The age v1 header: stanzas, canonical base64, the header MAC.

Parsing is strict, as the spec asks: LF line endings only, arguments of
visible ASCII, bodies wrapped at exactly 64 columns and ended by a short
line, canonical unpadded base64 everywhere. Anything else is a
:class:`HeaderError`. The header is bounded in size so that a hostile file
cannot make the parser buffer without limit.
"""

from __future__ import annotations

import binascii
import io

from tipbox.crypto.errors import HeaderError, MacError
from tipbox.crypto.primitives import hkdf_sha256, hmac_sha256, macs_equal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from tipbox.crypto.stream import Readable

VERSION_LINE = b"age-encryption.org/v1\n"
MAX_HEADER_BYTES = 1 << 20
_COLUMNS = 64


class Stanza:
    """One recipient stanza: a type, its arguments and an opaque body.

    A value: equal to any stanza with the same three fields, never changed.
    (A plain class: ``dataclasses`` would cost the offline tool 15 ms of start-up.)
    """

    __slots__ = ("args", "body", "type")

    def __init__(self, type: str, args: tuple[str, ...], body: bytes) -> None:  # noqa: A002
        self.type = type
        self.args = args
        self.body = body

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stanza) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Stanza(type={self.type!r}, args={self.args!r}, body={self.body!r})"

    def _fields(self) -> tuple[str, tuple[str, ...], bytes]:
        return self.type, self.args, self.body

    def encode(self) -> bytes:
        line = " ".join(("->", self.type, *self.args)).encode("ascii") + b"\n"
        encoded = b64encode(self.body)
        lines = [encoded[i : i + _COLUMNS] for i in range(0, len(encoded), _COLUMNS)]
        if not lines or len(lines[-1]) == _COLUMNS:
            lines.append(b"")
        return line + b"".join(chunk + b"\n" for chunk in lines)


class Header:
    """A parsed header. ``signed`` is every byte the MAC covers."""

    __slots__ = ("mac", "signed", "stanzas")

    def __init__(self, stanzas: tuple[Stanza, ...], signed: bytes, mac: bytes) -> None:
        self.stanzas = stanzas
        self.signed = signed
        self.mac = mac

    def verify(self, file_key: bytes) -> None:
        """Raise :class:`MacError` unless the MAC matches ``file_key`` (in constant time)."""
        if not macs_equal(header_mac(file_key, self.signed), self.mac):
            raise MacError("header MAC mismatch")


def b64encode(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=")


def b64decode(text: bytes | str) -> bytes:
    """Decode canonical unpadded base64; raise :class:`HeaderError` otherwise.

    Strict decoding refuses every other character outside the alphabet;
    encoding again refuses the non-canonical rest.
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if b"=" in raw or len(raw) % 4 == 1:
        raise HeaderError("invalid base64")
    try:
        data = binascii.a2b_base64(raw + b"=" * (-len(raw) % 4), strict_mode=True)
    except binascii.Error:
        raise HeaderError("invalid base64") from None
    if b64encode(data) != raw:
        raise HeaderError("non-canonical base64")
    return data


def header_mac(file_key: bytes, signed: bytes) -> bytes:
    return hmac_sha256(hkdf_sha256(file_key, salt=None, info=b"header"), signed)


def encode_header(stanzas: Sequence[Stanza], file_key: bytes) -> bytes:
    """Serialise ``stanzas`` and append the MAC computed under ``file_key``."""
    signed = VERSION_LINE + b"".join(s.encode() for s in stanzas) + b"---"
    return signed + b" " + b64encode(header_mac(file_key, signed)) + b"\n"


class LineSource:
    """Reads lines, then raw bytes, from a binary stream, with a byte budget."""

    def __init__(self, stream: Readable, initial: bytes = b"") -> None:
        self._stream = stream
        self._buffer = bytearray(initial)
        self.consumed = 0

    def readline(self) -> bytes:
        """Return one line including its LF; a line without LF is a HeaderError."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                return self._take(end + 1)
            if len(self._buffer) + self.consumed > MAX_HEADER_BYTES:
                raise HeaderError("header too long")
            more = self._stream.read(4096)
            if not more:
                raise HeaderError("unexpected end of header")
            self._buffer += more

    def read(self, size: int) -> bytes:
        """Read up to ``size`` bytes, fewer only at the end of the stream."""
        if not self._buffer:
            return _read_fully(self._stream, size)
        data = self._take(min(size, len(self._buffer)))
        if len(data) < size:
            data += _read_fully(self._stream, size - len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer``; fewer bytes (the count returned) only at the end of the stream."""
        view = memoryview(buffer).cast("B")
        taken = min(len(view), len(self._buffer))
        view[:taken] = self._take(taken)
        return taken + _readinto_fully(self._stream, view[taken:])

    @property
    def buffered(self) -> int:
        """How many bytes were read ahead from the stream and not yet taken."""
        return len(self._buffer)

    def take_buffered(self) -> bytes:
        """The bytes read ahead, now taken (to hand them to another reader)."""
        return self._take(len(self._buffer))

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.consumed += size
        return data


def _read_fully(stream: Readable, size: int) -> bytes:
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining:
        more = stream.read(remaining)
        if not more:
            break
        parts.append(more)
        remaining -= len(more)
    return b"".join(parts)


def _readinto_fully(stream: Readable, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (straight in if it has ``readinto``) up to its end."""
    readinto = getattr(stream, "readinto", None)
    filled = 0
    while filled < len(view):
        if readinto is not None:
            count = readinto(view[filled:]) or 0
        else:
            more = stream.read(len(view) - filled)
            count = len(more)
            view[filled : filled + count] = more
        if not count:
            break
        filled += count
    return filled


def parse_header(source: LineSource) -> Header:
    """Parse a header from ``source``, leaving it positioned at the payload."""
    if source.readline() != VERSION_LINE:
        raise HeaderError("unsupported version or not an age file")
    signed = bytearray(VERSION_LINE)
    stanzas: list[Stanza] = []
    while True:
        line = source.readline()
        if line.startswith(b"--- "):
            signed += b"---"
            return Header(tuple(stanzas), bytes(signed), _parse_mac(line))
        if not line.startswith(b"-> "):
            raise HeaderError("malformed header line")
        stanza, raw = _parse_stanza(line, source)
        stanzas.append(stanza)
        signed += raw


def parse_header_bytes(data: bytes) -> Header:
    """Parse a detached header; trailing bytes after the MAC line are an error."""
    source = LineSource(io.BytesIO(data))
    header = parse_header(source)
    if source.read(1):
        raise HeaderError("trailing data after detached header")
    return header


def _parse_mac(line: bytes) -> bytes:
    mac = b64decode(line[4:-1])
    if len(mac) != 32:
        raise HeaderError("malformed header MAC")
    return mac


def _parse_stanza(first: bytes, source: LineSource) -> tuple[Stanza, bytes]:
    words = first[3:-1].split(b" ")
    if not all(words) or any(not 33 <= c <= 126 for word in words for c in word):
        raise HeaderError("malformed stanza arguments")
    raw, body = bytearray(first), bytearray()
    while True:
        line = source.readline()
        raw += line
        content = line[:-1]
        if len(content) > _COLUMNS:
            raise HeaderError("stanza body line too long")
        body += content
        if len(content) < _COLUMNS:
            break
    type_, *args = (word.decode("ascii") for word in words)
    return Stanza(type_, tuple(args), b64decode(bytes(body))), bytes(raw)
