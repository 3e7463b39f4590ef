"""The age STREAM payload: 64 KiB ChaCha20-Poly1305 chunks.

Chunk ``i`` is sealed with the nonce ``i`` (11 bytes, big endian) followed by
a flag byte, 1 for the last chunk. Writing holds back up to one chunk so
that the last one can be flagged at close. Reading looks ahead (one run) so
that a full-size last chunk is recognised, and never yields a chunk before
its tag has been verified.

Chunks are sealed and opened in runs of up to :data:`RUN_CHUNKS` (512 KiB of
plaintext), each into one buffer. With ``threads=1`` every run is processed
in the calling thread. With more, runs go to ``threads - 1`` worker threads
and to the calling thread when it would otherwise wait, while it reads and
writes (:class:`~tipbox.crypto.ordered.OrderedPool`): output keeps the
input's order, at most ``2 x threads + 2`` runs are in flight (about 1 MiB
each, input and output), and the threads end with the stream. A run that ends the
payload is processed in the calling thread, so a payload of one run (up to
512 KiB) never starts a thread.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from functools import partial
from typing import BinaryIO, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto.errors import PayloadError
from tipbox.crypto.ordered import OrderedPool

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
#: Chunks sealed or opened together, by one thread, into one buffer: 8 went
#: as fast as 16 on two cores and halved the memory in flight.
RUN_CHUNKS = 8
_LAST = b"\x01"
_MORE = b"\x00"

Chunk = bytes | bytearray | memoryview


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=nonce, info=b"payload").derive(file_key)


def _nonce(counter: int, flag: bytes) -> bytes:
    if counter >= 1 << 88:
        raise OverflowError("STREAM counter exhausted")
    return counter.to_bytes(11, "big") + flag


class _Buffers:
    """Run buffers, made and recycled by the calling thread only.

    Memory that a worker thread allocates comes from that thread's malloc
    arena, which glibc gives back to the kernel and faults in again run
    after run, at about the cost of the cipher itself. So workers only fill
    buffers. Full-size ones are kept for reuse (as many as were in flight).
    """

    def __init__(self, full_size: int) -> None:
        self._full_size = full_size
        self._spare: list[bytearray] = []

    def get(self, size: int | None = None) -> bytearray:
        """A buffer of ``size`` bytes (default: full size)."""
        if size is None or size == self._full_size:
            return self._spare.pop() if self._spare else bytearray(self._full_size)
        return bytearray(size)

    def recycle(self, buffer: bytearray) -> None:
        if len(buffer) == self._full_size:
            self._spare.append(buffer)


# -- encryption ----------------------------------------------------------------------


class StreamWriter:
    """Encrypts written bytes into sealed chunks written to ``sink``, in order.

    ``sink.write`` is called from the calling thread only, with a buffer
    that is reused once it returns (as the ``io`` write contract allows): a
    sink copies what it keeps. With ``threads > 1`` a ``bytes`` argument to
    :meth:`write` is sealed where it lies, and any other buffer is copied
    first, so the caller may reuse it once ``write`` returns.
    """

    def __init__(self, key: bytes, sink: BinaryIO, *, threads: int = 1) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._sink = sink
        self._runs: OrderedPool[_Sealed] = OrderedPool(threads)
        self._sealed_buffers = _Buffers(RUN_CHUNKS * SEALED_CHUNK_SIZE)
        self._run_buffers = _Buffers(RUN_CHUNKS * CHUNK_SIZE)  # what write_from reads into
        self._chunk_buffers = _Buffers(CHUNK_SIZE)  # chunks pieced together from writes
        self._counter = 0  # of the first chunk in self._full
        self._full: list[Chunk] = []  # complete chunks, none of them the last one
        self._ours: list[bytearray] = []  # buffers of ours that self._full uses
        self._pending = self._chunk_buffers.get()  # held back: the first ..._pending_size bytes
        self._pending_size = 0  # 1..CHUNK_SIZE once data came

    def write(self, data: Chunk) -> int:
        view = memoryview(data).cast("B")
        copy = self._runs.threads > 1 and not isinstance(view.obj, bytes)
        self._take(view, copy=copy)  # a worker may read it after this returns
        return len(view)

    def write_from(self, source: Filling) -> int:
        """Encrypt all that ``source`` holds, read straight into the run buffers.

        The same as writing what it reads, without a copy or a new buffer for
        each read. Returns the number of bytes read.
        """
        total = 0
        while True:
            buffer = self._run_buffers.get()
            size = _fill(source, memoryview(buffer))
            if not size:
                self._run_buffers.recycle(buffer)
                return total
            total += size
            self._take(memoryview(buffer)[:size], copy=False, ours=buffer)

    def _take(self, view: memoryview, *, copy: bool, ours: bytearray | None = None) -> None:
        """Cut ``view`` into chunks, hold back the last one, seal full runs.

        ``ours``: the run buffer ``view`` lies in, recycled with the runs it feeds.
        """
        view = self._top_up(view)
        if not view:
            return
        full = (len(view) - 1) // CHUNK_SIZE
        body = view[: full * CHUNK_SIZE]
        if full and copy:
            body = memoryview(bytes(body))
        self._full += [body[at : at + CHUNK_SIZE] for at in range(0, len(body), CHUNK_SIZE)]
        if full and ours is not None:
            self._ours.append(ours)
        rest = view[full * CHUNK_SIZE :]
        self._pending[: len(rest)] = rest
        self._pending_size = len(rest)
        self._seal_full_runs()

    def _top_up(self, view: memoryview) -> memoryview:
        """Fill the held-back chunk from ``view``; pass it on once more data follows."""
        if not self._pending_size:
            return view
        room = min(CHUNK_SIZE - self._pending_size, len(view))
        self._pending[self._pending_size : self._pending_size + room] = view[:room]
        self._pending_size += room
        view = view[room:]
        if view:
            self._full.append(memoryview(self._pending))
            self._ours.append(self._pending)
            self._pending, self._pending_size = self._chunk_buffers.get(), 0
        return view

    def close(self) -> None:
        """Seal the held-back data as the last chunk (empty only for an empty payload)."""
        try:
            last = memoryview(self._pending)[: self._pending_size]
            self._put(self._full + [last], last=True)
            self._full, self._pending_size = [], 0
            self._write_out(self._runs.rest())
        finally:
            self._runs.close()

    def abandon(self) -> None:
        """Stop without finishing the payload: the output stays detectably truncated."""
        self._runs.close()

    def _seal_full_runs(self) -> None:
        # One thread: seal everything now, the caller's buffer is not ours to keep.
        step = RUN_CHUNKS if self._runs.threads > 1 else 1
        while len(self._full) >= step:
            chunks = self._full[:RUN_CHUNKS]
            del self._full[:RUN_CHUNKS]
            self._put(chunks, last=False)
            self._write_out(self._runs.due())

    def _put(self, chunks: list[Chunk], *, last: bool) -> None:
        """Seal ``chunks``; buffers of ours that no chunk left needs are recycled after."""
        left = {id(chunk.obj) for chunk in self._full if isinstance(chunk, memoryview)}
        freed = [buffer for buffer in self._ours if id(buffer) not in left]
        self._ours = [buffer for buffer in self._ours if id(buffer) in left]
        size = sum(map(len, chunks)) + TAG_SIZE * len(chunks)
        buffer = self._sealed_buffers.get(size)
        self._runs.put(partial(_seal_run, self._aead, self._counter, chunks, last, buffer, freed),
                       inline=last)
        self._counter += len(chunks)

    def _write_out(self, sealed_runs: Iterator[_Sealed]) -> None:
        for sealed, freed in sealed_runs:
            self._sink.write(sealed)
            self._sealed_buffers.recycle(sealed.obj)  # type: ignore[arg-type]
            for buffer in freed:
                pool = self._chunk_buffers if len(buffer) == CHUNK_SIZE else self._run_buffers
                pool.recycle(buffer)


class _Sealed(NamedTuple):
    """A sealed run in its buffer, and the plaintext buffers of ours it frees."""

    sealed: memoryview
    freed: list[bytearray]


def _seal_run(aead: ChaCha20Poly1305, first: int, chunks: Sequence[Chunk], last: bool,
              buffer: bytearray, freed: list[bytearray]) -> _Sealed:
    """Seal ``chunks`` (numbered from ``first``) into ``buffer``; flag the final one if ``last``."""
    out = memoryview(buffer)
    final, position = len(chunks) - 1, 0
    for index, chunk in enumerate(chunks):
        end = position + len(chunk) + TAG_SIZE
        flag = _LAST if last and index == final else _MORE
        aead.encrypt_into(_nonce(first + index, flag), chunk, None, out[position:end])
        position = end
    return _Sealed(out, freed)


def _fill(source: Filling, view: memoryview) -> int:
    """Read into ``view`` until it is full or ``source`` ends (a pipe gives part at a time)."""
    filled = 0
    while filled < len(view):
        count = source.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


# -- decryption ----------------------------------------------------------------------


class Filling(Protocol):
    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        """Fill ``buffer``; fewer bytes (the count returned) only at the end."""


class _Opened(NamedTuple):
    """A run opened: its buffers to recycle, the chunks that verified, why the next did not."""

    sealed: bytearray
    plain: bytearray | None
    chunks: list[bytes | memoryview]  # memoryviews into ``plain`` when a worker opened them
    error: PayloadError | None


class _Run(NamedTuple):
    """Sealed chunks read into ``buffer`` (``size`` bytes); ``last``: they end the payload."""

    buffer: bytearray
    size: int
    last: bool


def decrypt_chunks(
    key: bytes, source: Filling, *, threads: int = 1
) -> Generator[bytes, None, None]:
    """Yield verified plaintext chunks; raise :class:`PayloadError` on any fault.

    Chunks come out in order, each only after its tag verified; on a fault,
    every chunk before the faulty one is yielded first, whatever ``threads``.
    An error reading ``source`` is raised once every chunk read before it
    but the last one has been verified and yielded. Closing the generator
    early ends its threads.
    """
    aead = ChaCha20Poly1305(key)
    runs: OrderedPool[_Opened] = OrderedPool(threads)
    sealed_buffers = _Buffers(RUN_CHUNKS * SEALED_CHUNK_SIZE)
    plain_buffers = _Buffers(RUN_CHUNKS * CHUNK_SIZE)
    counter, failure = 0, None
    sealed_runs = _sealed_runs(source, sealed_buffers)
    try:
        while True:
            try:
                run = next(sealed_runs)
            except StopIteration:
                break
            except Exception as error:  # noqa: BLE001 - raised below, after the verified chunks
                failure = error
                break
            chunks = _chunks(run)
            small = len(chunks) < RUN_CHUNKS
            plain = None if small or threads == 1 else plain_buffers.get()
            job = partial(_open_run, aead, counter, chunks, run.last, run.buffer, plain)
            runs.put(job, inline=small)
            counter += len(chunks)
            yield from _released(runs.due(), sealed_buffers, plain_buffers)
        yield from _released(runs.rest(), sealed_buffers, plain_buffers)
    finally:
        runs.close()
    if failure is not None:
        raise failure


def _released(runs: Iterator[_Opened], sealed: _Buffers, plain: _Buffers) -> Iterator[bytes]:
    """Each verified chunk as ``bytes`` of its own; then the run's error, if any."""
    for opened in runs:
        sealed.recycle(opened.sealed)
        for chunk in opened.chunks:
            yield chunk if isinstance(chunk, bytes) else bytes(chunk)
        if opened.plain is not None:
            plain.recycle(opened.plain)
        if opened.error is not None:
            raise opened.error


def _sealed_runs(source: Filling, buffers: _Buffers) -> Iterator[_Run]:
    """The payload read in runs of up to :data:`RUN_CHUNKS` sealed chunks.

    The first run is one chunk, so that a small payload needs no large
    buffer. A full run is held back until the next read says whether its
    final chunk ends the payload. If that read fails, the run goes without
    its final chunk (which cannot be flagged), and then the error is raised.
    """
    buffer = bytearray(SEALED_CHUNK_SIZE)
    size = source.readinto(buffer)
    if not size:
        raise PayloadError("payload has no chunks")
    while size == len(buffer):
        following = buffers.get()
        try:
            more = source.readinto(following)
        except Exception:
            yield _Run(buffer, size - SEALED_CHUNK_SIZE, last=False)
            raise
        if not more:
            buffers.recycle(following)
            break
        yield _Run(buffer, size, last=False)
        buffer, size = following, more
    yield _Run(buffer, size, last=True)


def _chunks(run: _Run) -> list[memoryview]:
    view = memoryview(run.buffer)[: run.size]
    return [view[at : at + SEALED_CHUNK_SIZE] for at in range(0, run.size, SEALED_CHUNK_SIZE)]


def _open_run(
    aead: ChaCha20Poly1305,
    first: int,
    chunks: list[memoryview],
    last: bool,
    sealed: bytearray,
    plain: bytearray | None,
) -> _Opened:
    """Open ``chunks`` (numbered from ``first``) until one fails.

    Into ``plain`` if given, for the calling thread to copy out; else each
    chunk into new ``bytes``. With workers every full run goes into a buffer:
    memory a worker allocates is costly (see :class:`_Buffers`), and
    ``decrypt`` keeps the GIL for part of its work where ``decrypt_into``
    does not, so even the calling thread would hold up the workers.
    """
    into = memoryview(plain) if plain is not None else None
    opened: list[bytes | memoryview] = []
    final = len(chunks) - 1
    try:
        for index, chunk in enumerate(chunks):
            flag = _LAST if last and index == final else _MORE
            if into is None:
                opened.append(_open(aead, first + index, chunk, flag))
            else:
                at = index * CHUNK_SIZE
                opened.append(_open_into(aead, first + index, chunk, flag, into[at:]))
    except PayloadError as error:
        return _Opened(sealed, plain, opened, error)
    return _Opened(sealed, plain, opened, None)


def _plaintext_size(sealed: Chunk) -> int:
    return max(len(sealed) - TAG_SIZE, 0)


def _open(aead: ChaCha20Poly1305, counter: int, sealed: Chunk, flag: bytes) -> bytes:
    _check_size(sealed, flag)
    try:
        plaintext = aead.decrypt(_nonce(counter, flag), sealed, None)
    except InvalidTag:
        raise PayloadError(f"chunk {counter} failed authentication") from None
    _check_last(counter, plaintext, flag)
    return plaintext


def _open_into(aead: ChaCha20Poly1305, counter: int, sealed: Chunk, flag: bytes,
               into: memoryview) -> memoryview:
    _check_size(sealed, flag)
    plaintext = into[: _plaintext_size(sealed)]
    try:
        aead.decrypt_into(_nonce(counter, flag), sealed, None, plaintext)
    except InvalidTag:
        raise PayloadError(f"chunk {counter} failed authentication") from None
    _check_last(counter, plaintext, flag)
    return plaintext


def _check_size(sealed: Chunk, flag: bytes) -> None:
    if flag == _LAST and len(sealed) < TAG_SIZE:
        raise PayloadError("truncated chunk")


def _check_last(counter: int, plaintext: Chunk, flag: bytes) -> None:
    if flag == _LAST and not plaintext and counter:
        raise PayloadError("empty last chunk after a full one")
