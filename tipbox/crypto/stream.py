"""The age STREAM payload: 64 KiB ChaCha20-Poly1305 chunks.

Chunk ``i`` is sealed with the nonce ``i`` (11 bytes, big endian) followed by
a flag byte, 1 for the last chunk. Writing holds back up to one chunk so
that the last one can be flagged at close. Reading looks one chunk ahead so
that a full-size last chunk is recognised, and never yields a chunk before
its tag has been verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto.errors import PayloadError

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_LAST = b"\x01"
_MORE = b"\x00"


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=nonce, info=b"payload").derive(file_key)


def _nonce(counter: int, flag: bytes) -> bytes:
    if counter >= 1 << 88:
        raise OverflowError("STREAM counter exhausted")
    return counter.to_bytes(11, "big") + flag


class StreamWriter:
    """Encrypts written bytes into sealed chunks written to ``sink``."""

    def __init__(self, key: bytes, sink: BinaryIO) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._sink = sink
        self._counter = 0
        self._pending = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self._pending:
            room = CHUNK_SIZE - len(self._pending)
            self._pending += view[:room]
            view = view[room:]
            if not view:
                return size
            self._seal(self._pending, _MORE)
            self._pending = bytearray()
        full = (len(view) - 1) // CHUNK_SIZE if view else 0
        for start in range(0, full * CHUNK_SIZE, CHUNK_SIZE):
            self._seal(view[start : start + CHUNK_SIZE], _MORE)
        self._pending = bytearray(view[full * CHUNK_SIZE :])
        return size

    def close(self) -> None:
        """Seal the held-back data as the last chunk (empty only for an empty payload)."""
        self._seal(self._pending, _LAST)
        self._pending = bytearray()

    def _seal(self, chunk: bytes | bytearray | memoryview, flag: bytes) -> None:
        self._sink.write(self._aead.encrypt(_nonce(self._counter, flag), chunk, None))
        self._counter += 1


def decrypt_chunks(key: bytes, source: Readable) -> Iterator[bytes]:
    """Yield verified plaintext chunks; raise :class:`PayloadError` on any fault.

    ``source.read(n)`` must return fewer than ``n`` bytes only at the end.
    """
    aead = ChaCha20Poly1305(key)
    sealed = source.read(SEALED_CHUNK_SIZE)
    if not sealed:
        raise PayloadError("payload has no chunks")
    counter = 0
    while True:
        following = source.read(SEALED_CHUNK_SIZE) if len(sealed) == SEALED_CHUNK_SIZE else b""
        if not following:
            yield _open_last(aead, counter, sealed)
            return
        yield _open(aead, counter, sealed, _MORE)
        sealed, counter = following, counter + 1


def _open(aead: ChaCha20Poly1305, counter: int, sealed: bytes, flag: bytes) -> bytes:
    try:
        return aead.decrypt(_nonce(counter, flag), sealed, None)
    except InvalidTag:
        raise PayloadError(f"chunk {counter} failed authentication") from None


def _open_last(aead: ChaCha20Poly1305, counter: int, sealed: bytes) -> bytes:
    if len(sealed) < TAG_SIZE:
        raise PayloadError("truncated chunk")
    plaintext = _open(aead, counter, sealed, _LAST)
    if not plaintext and counter:
        raise PayloadError("empty last chunk after a full one")
    return plaintext
