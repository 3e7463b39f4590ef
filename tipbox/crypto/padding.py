"""Sizes that don't identify documents: PADMÉ padding after an age payload.

A stored payload of ``n`` bytes is followed by random fill and a 24-byte
trailer, so that its file is ``padme(n + 24)`` bytes long: PADMÉ (Nikitin
et al., "Reducing Metadata Leakage from Encrypted Files and Communication
with PURBs", 2019) rounds a length ``L`` to a multiple of ``2**(E - S)`` with
``E = floor(log2 L)`` and ``S = floor(log2 E) + 1``, so a padded length
leaks O(log log L) bits of ``L``, at most 12% more bytes.

The trailer is the payload's length (8 bytes, big endian) sealed with
ChaCha20-Poly1305 under a key derived from the file's own file key (HKDF-
SHA256, info ``tipbox padding v1``), the padded size as associated data: only
a holder of a key that opens the header learns where the payload ends. The
fill is a ChaCha20 keystream under a fresh random key, indistinguishable
from ciphertext, so two files in the same PADMÉ bucket look alike on disk.

Contract: the payload itself is an unchanged age STREAM payload; cutting the
file at the length the trailer gives yields exactly what an unpadded writer
would have written, which any age implementation decrypts. A file without a
valid trailer is taken as unpadded.
"""

from __future__ import annotations

import os

from tipbox.crypto import primitives
from tipbox.crypto.primitives import hkdf_sha256
from tipbox.crypto.stream import CHUNK_SIZE, NONCE_SIZE, TAG_SIZE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from tipbox.crypto.stream import Readable

__all__ = [
    "TRAILER_SIZE",
    "Bounded",
    "payload_end",
    "unpad",
    "fill",
    "padded_size",
    "padme",
    "payload_size",
    "trailer",
    "unpadded_size",
]

_LENGTH_SIZE = 8
TRAILER_SIZE = _LENGTH_SIZE + TAG_SIZE
_INFO = b"tipbox padding v1"
_FILL_BLOCK = 1 << 20


def padme(length: int) -> int:
    """The PADMÉ length of ``length`` (``length`` itself below 2, where nothing rounds)."""
    if length < 2:
        return length
    exponent = length.bit_length() - 1
    shown = exponent.bit_length()
    mask = (1 << (exponent - shown)) - 1
    return (length + mask) & ~mask


def payload_size(plaintext_size: int) -> int:
    """The size of the age payload of ``plaintext_size`` bytes: nonce, chunks and their tags."""
    chunks = max(1, -(-plaintext_size // CHUNK_SIZE))
    return NONCE_SIZE + plaintext_size + chunks * TAG_SIZE


def padded_size(payload: int) -> int:
    """The stored size of a payload of ``payload`` bytes: fill and trailer included."""
    return padme(payload + TRAILER_SIZE)


def _sealer(file_key: bytes) -> ChaCha20Poly1305:
    return primitives.ChaCha20Poly1305(hkdf_sha256(file_key, salt=None, info=_INFO))


def trailer(file_key: bytes, payload: int) -> bytes:
    """The sealed length of a payload of ``payload`` bytes, for its padded file."""
    nonce = bytes(12)  # one trailer per file key: the key is never reused
    aad = padded_size(payload).to_bytes(_LENGTH_SIZE, "big")
    return _sealer(file_key).encrypt(nonce, payload.to_bytes(_LENGTH_SIZE, "big"), aad)


def fill(size: int) -> Iterator[bytes]:
    """``size`` bytes of keystream under a fresh random key, in blocks of at most 1 MiB."""
    # Imported here: the offline tool never pads, and these modules cost it milliseconds.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # noqa: PLC0415

    keystream = Cipher(algorithms.ChaCha20(os.urandom(32), os.urandom(16)), mode=None).encryptor()
    zeros = bytes(min(size, _FILL_BLOCK))
    while size > 0:
        block = min(size, _FILL_BLOCK)
        yield keystream.update(zeros[:block])
        size -= block


class Bounded:
    """The first ``limit`` bytes of ``stream`` as a readable stream."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self._stream = stream
        self._left = limit

    def read(self, size: int = -1, /) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(size) if size else b""
        self._left -= len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        if not view:
            return 0
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:  # straight into the buffer, no copy
            count: int = readinto(view) or 0
        else:
            data = self._stream.read(len(view))
            count = len(data)
            view[:count] = data
        self._left -= count
        return count

    def close(self) -> None:
        """Close the stream underneath (if it can be closed)."""
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def unpad(file_key: bytes, payload: Readable) -> Readable:
    """``payload`` cut where its trailer says the age payload ends; ``payload`` itself when
    it is not a seekable stream or has no valid trailer (an unpadded file)."""
    size = payload_end(file_key, payload)
    return payload if size is None else Bounded(payload, size)


def payload_end(file_key: bytes, payload: Readable, *, ahead: bytes = b"") -> int | None:
    """Where the age payload ends in a padded seekable ``payload``, counted from the
    bytes ``ahead`` the caller already read from it; ``None`` if it is not seekable or
    not padded. The position is left where it was."""
    seekable = getattr(payload, "seekable", None)
    if seekable is None or not seekable():
        return None
    stream: BinaryIO = payload  # type: ignore[assignment] # seekable: a file
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(max(here, end - TRAILER_SIZE))
    tail = (ahead + stream.read(TRAILER_SIZE))[-TRAILER_SIZE:]
    stream.seek(here)
    return unpadded_size(file_key, tail, end - here + len(ahead))


def unpadded_size(file_key: bytes, tail: bytes, stored: int) -> int | None:
    """The payload size of a padded file of ``stored`` bytes ending in ``tail``; ``None`` if
    ``tail`` is no trailer of this file key (an unpadded file)."""
    if len(tail) != TRAILER_SIZE or stored < TRAILER_SIZE:
        return None
    aad = stored.to_bytes(_LENGTH_SIZE, "big")
    opened = primitives.open_quietly(_sealer(file_key), bytes(12), tail, aad)
    if opened is None:
        return None
    payload = int.from_bytes(opened, "big")
    return payload if padded_size(payload) == stored else None
