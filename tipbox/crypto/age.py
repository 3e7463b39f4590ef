"""age v1 files: streaming encryption and decryption, detached headers.

A file is ``header || nonce || STREAM chunks``. tipbox often keeps the
header apart from the payload (``detached=True``): the header is small and
lives in the database, so re-keying touches only headers and deleting a
header shreds the payload. ``header + payload`` is always a standard age
file.
"""

from __future__ import annotations

import io
import os

from tipbox.crypto.armor import ArmorReader, ArmorWriter, looks_armored, read_start
from tipbox.crypto.errors import HeaderError, NoIdentityMatch, RecipientError
from tipbox.crypto.file_key import FILE_KEY_SIZE
from tipbox.crypto.header import LineSource, encode_header, parse_header, parse_header_bytes
from tipbox.crypto.padding import (
    TRAILER_SIZE,
    Bounded,
    fill,
    padded_size,
    payload_end,
    payload_size,
    trailer,
    unpad,
)
from tipbox.crypto.stream import NONCE_SIZE, Plaintext, StreamWriter, decrypt_chunks, payload_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import TracebackType
    from typing import BinaryIO

    from tipbox.crypto.header import Header
    from tipbox.crypto.interfaces import Identity, Recipient
    from tipbox.crypto.stream import Writable


def _check_recipients(recipients: Sequence[Recipient]) -> None:
    kinds = {recipient.kind for recipient in recipients}
    if not recipients:
        raise RecipientError("at least one recipient is required")
    if "scrypt" in kinds and len(recipients) > 1:
        raise RecipientError("a passphrase must be the only recipient")
    if kinds == {"pq", "classic"}:
        raise RecipientError(
            "refusing to mix post-quantum and classic recipients: "
            "the classic one would void the post-quantum protection"
        )


def _wrap(recipients: Sequence[Recipient], file_key: bytes) -> bytes:
    _check_recipients(recipients)
    stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
    return encode_header(stanzas, file_key)


class Encryptor:
    """A writable file-like object that encrypts to ``recipients`` as it goes.

    ``header`` is known as soon as the object exists. Unless ``detached``,
    it is written to ``sink`` first. ``close`` finishes the file (the sink
    stays open); leaving a ``with`` block by an exception does *not* finish
    it, so the output is a detectably truncated file rather than a valid
    short one.

    ``threads`` threads seal the chunks, the caller's included (1: no other
    thread; :func:`~tipbox.crypto.default_threads` suits the machine). Memory
    is bounded whatever the amount written: one run of 8 chunks (512 KiB)
    with one thread, ``2 x threads + 2`` runs of input and output with more.
    Ciphertext then reaches ``sink`` up to that much after its plaintext was
    written, always in order and all of it by ``close``. ``sink.write`` gets
    a buffer that is reused once it returns, as ``io`` allows: a sink copies
    what it keeps. With workers, a ``bytes`` argument to :meth:`write` is
    read where it lies, any other buffer is copied first.
    """

    def __init__(
        self,
        recipients: Iterable[Recipient],
        sink: Writable,
        *,
        detached: bool = False,
        armor: bool = False,
        threads: int = 1,
    ) -> None:
        if detached and armor:
            raise ValueError("a detached payload cannot be armored")
        file_key = os.urandom(FILE_KEY_SIZE)
        self.header = _wrap(list(recipients), file_key)
        self._file_key = file_key
        self._armor = ArmorWriter(sink) if armor else None
        out: Writable = self._armor if self._armor else sink
        self._out = out
        nonce = os.urandom(NONCE_SIZE)
        self._stream = StreamWriter(payload_key(file_key, nonce), out, threads=threads)
        if not detached:
            out.write(self.header)
        out.write(nonce)
        self.plaintext_size = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to a closed Encryptor")
        written = self._stream.write(data)
        self.plaintext_size += written
        return written

    def write_from(self, source: BinaryIO) -> int:
        """Encrypt everything ``source`` holds (to its end) as if written here.

        It reads straight into the encryptor's buffers (``readinto``): no
        copy, no buffer made per read. Returns the number of bytes read.
        """
        if self.closed:
            raise ValueError("write to a closed Encryptor")
        # typing.BinaryIO declares no readinto, which every binary io object has.
        read = self._stream.write_from(source)  # type: ignore[arg-type]
        self.plaintext_size += read
        return read

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Nothing to do: data is held back only until it makes a run of chunks."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stream.close()
        if self._armor:
            self._armor.close()

    def close_padded(self) -> int:
        """Finish the file, then pad it to its PADMÉ size (:mod:`tipbox.crypto.padding`).

        Random fill and a trailer sealing the payload's length under the file
        key follow the payload; readers that hold a key cut the file there
        (:func:`decrypt_detached` and :func:`decrypt_stream` do it for seekable
        streams). Returns the size of the payload proper. Not for armor.
        """
        if self._armor:
            raise ValueError("an armored file is not padded")
        self.close()
        size = payload_size(self.plaintext_size)
        for block in fill(padded_size(size) - size - TRAILER_SIZE):
            self._out.write(block)
        self._out.write(trailer(self._file_key, size))
        return size

    def abandon(self) -> None:
        """Stop without finishing: the output stays a detectably truncated file.

        Ends the worker threads at once (also what leaving a ``with`` block by
        an exception does). Idempotent; nothing is written after it.
        """
        self.closed = True
        self._stream.abandon()

    def __enter__(self) -> Encryptor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()


def encrypt(recipients: Iterable[Recipient], plaintext: bytes, *, armor: bool = False) -> bytes:
    """Encrypt ``plaintext`` in memory (for small secrets: keys, messages)."""
    out = io.BytesIO()
    with Encryptor(recipients, out, armor=armor) as encryptor:
        encryptor.write(plaintext)
    return out.getvalue()


def open_header(header: Header, identities: Iterable[Identity]) -> bytes:
    """Return the file key of ``header``, verified against its MAC."""
    stanzas = header.stanzas
    if any(stanza.type == "scrypt" for stanza in stanzas) and len(stanzas) != 1:
        raise HeaderError("a scrypt stanza must be the only one")
    for identity in identities:
        file_key = identity.unwrap(stanzas)
        if file_key is not None:
            header.verify(file_key)
            return file_key
    raise NoIdentityMatch("no identity matched any recipient")


def _payload(file_key: bytes, source: LineSource, threads: int) -> Plaintext:
    nonce = source.read(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise HeaderError("missing payload nonce")
    return decrypt_chunks(payload_key(file_key, nonce), source, threads=threads)


def decrypt_stream(
    identities: Iterable[Identity],
    source: BinaryIO,
    *,
    armored: bool | None = None,
    threads: int = 1,
) -> Plaintext:
    """Decrypt an age file read from ``source``: its verified plaintext.

    The header is parsed and opened before this returns, so header and key
    errors surface at the call; payload errors surface while iterating over
    the :class:`~tipbox.crypto.stream.Plaintext` (64 KiB ``bytes`` chunks)
    or in its ``write_to(sink)``, which spares a copy. ``armored=None``
    detects ASCII armor from the first bytes. ``threads`` threads open the
    chunks (see :class:`Encryptor`); the chunks and errors are the same
    whatever their number, and closing the plaintext early ends the threads.
    """
    start = read_start(source)
    if armored or (armored is None and looks_armored(start)):
        head = LineSource(ArmorReader(source, start))
        return _payload(open_header(parse_header(head), identities), head, threads)
    head = LineSource(source, start)
    file_key = open_header(parse_header(head), identities)
    # A padded file (Encryptor.close_padded) is cut where its trailer says.
    ahead = head.take_buffered()
    size = payload_end(file_key, source, ahead=ahead)
    if size is None:
        return _payload(file_key, LineSource(source, ahead), threads)
    rest = Bounded(source, max(0, size - len(ahead)))
    return _payload(file_key, LineSource(rest, ahead[:size]), threads)


def decrypt_detached(
    identities: Iterable[Identity], header: bytes, payload: BinaryIO, *, threads: int = 1
) -> Plaintext:
    """Decrypt a payload stream whose header is stored apart (``threads``: as above).

    A padded payload (:meth:`Encryptor.close_padded`) read from a seekable
    stream is cut at the length its trailer gives.
    """
    file_key = open_header(parse_header_bytes(header), identities)
    return _payload(file_key, LineSource(unpad(file_key, payload)), threads)


def padded_payload_size(
    identities: Iterable[Identity], header: bytes, payload: BinaryIO
) -> int | None:
    """Where the age payload of a padded seekable ``payload`` ends (``None``: not padded).

    Cutting there gives a standard age payload; needs a key that opens ``header``
    (:class:`NoIdentityMatch` otherwise), since only it opens the trailer.
    """
    return payload_end(open_header(parse_header_bytes(header), identities), payload)


def decrypt(identities: Iterable[Identity], data: bytes) -> bytes:
    """Decrypt a whole age file held in memory (armored or not)."""
    return b"".join(decrypt_stream(identities, io.BytesIO(data)))


def rewrap_header(
    header: bytes, identities: Iterable[Identity], recipients: Iterable[Recipient]
) -> bytes:
    """A new header for the same file key, addressed to ``recipients``.

    The payload is untouched and still decrypts with the new header: key
    rotation costs nothing per payload byte.
    """
    file_key = open_header(parse_header_bytes(header), identities)
    return _wrap(list(recipients), file_key)

