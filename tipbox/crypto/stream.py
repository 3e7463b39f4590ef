"""The age STREAM payload: 64 KiB ChaCha20-Poly1305 chunks.

Chunk ``i`` is sealed with the nonce ``i`` (11 bytes, big endian) followed by
a flag byte, 1 for the last chunk. Writing holds back up to one chunk so
that the last one can be flagged at close. Reading looks ahead (one run) so
that a full-size last chunk is recognised, and never releases a chunk before
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

from tipbox.crypto import primitives
from tipbox.crypto.errors import PayloadError
from tipbox.crypto.ordered import OrderedPool
from tipbox.crypto.primitives import hkdf_sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Sequence
    from typing import Protocol

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    class Readable(Protocol):
        def read(self, size: int, /) -> bytes: ...

    class Filling(Protocol):
        def readinto(self, buffer: bytearray | memoryview, /) -> int:
            """Fill ``buffer``; fewer bytes (the count returned) only at the end."""

    class Writable(Protocol):
        def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


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


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    return hkdf_sha256(file_key, salt=nonce, info=b"payload")


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

#: A sealed run in its buffer, and the plaintext buffers of ours it frees.
_Sealed = tuple[memoryview, list[bytearray]]


class StreamWriter:
    """Encrypts written bytes into sealed chunks written to ``sink``, in order.

    ``sink.write`` is called from the calling thread only, with a buffer
    that is reused once it returns (as the ``io`` write contract allows): a
    sink copies what it keeps. With ``threads > 1`` a ``bytes`` argument to
    :meth:`write` is sealed where it lies, and any other buffer is copied
    first, so the caller may reuse it once ``write`` returns.
    """

    def __init__(self, key: bytes, sink: Writable, *, threads: int = 1) -> None:
        self._aead = primitives.ChaCha20Poly1305(key)
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
        self._runs.put(_sealing(self._aead, self._counter, chunks, last, buffer, freed),
                       inline=last)
        self._counter += len(chunks)

    def _write_out(self, sealed_runs: Iterator[_Sealed]) -> None:
        for sealed, freed in sealed_runs:
            self._sink.write(sealed)
            self._sealed_buffers.recycle(sealed.obj)  # type: ignore[arg-type]
            for buffer in freed:
                pool = self._chunk_buffers if len(buffer) == CHUNK_SIZE else self._run_buffers
                pool.recycle(buffer)


def _sealing(aead: ChaCha20Poly1305, first: int, chunks: Sequence[Chunk], last: bool,
             buffer: bytearray, freed: list[bytearray]) -> Callable[[], _Sealed]:
    """The job that seals ``chunks`` (numbered from ``first``) into ``buffer``.

    The final chunk is flagged if ``last``; the job returns the sealed run
    and ``freed``, the plaintext buffers to recycle once it is written.
    """

    def seal() -> _Sealed:
        out = memoryview(buffer)
        final, position = len(chunks) - 1, 0
        for index, chunk in enumerate(chunks):
            end = position + len(chunk) + TAG_SIZE
            flag = _LAST if last and index == final else _MORE
            aead.encrypt_into(_nonce(first + index, flag), chunk, None, out[position:end])
            position = end
        return out, freed

    return seal


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


class _Opened:
    """A run opened: the chunks that verified, why the next did not, its buffers.

    ``chunks`` are ``bytes`` when the run was opened with ``decrypt``, or
    memoryviews into ``plain`` (one after the other from its start) when it
    was opened into it.
    """

    __slots__ = ("chunks", "error", "plain", "sealed")

    def __init__(self, sealed: bytearray, plain: bytearray | None,
                 chunks: list[bytes | memoryview], error: PayloadError | None) -> None:
        self.sealed = sealed
        self.plain = plain
        self.chunks = chunks
        self.error = error

    def verified(self) -> list[bytes | memoryview]:
        """The verified plaintext in as few pieces as it lies in (one, in ``plain``)."""
        if self.plain is None or not self.chunks:
            return self.chunks
        return [memoryview(self.plain)[: sum(map(len, self.chunks))]]


class Plaintext:
    """The verified plaintext of a payload: iterate for its chunks, or :meth:`write_to` a sink.

    Iterating yields each chunk as ``bytes`` of its own (64 KiB, the last
    one shorter). :meth:`write_to` writes the rest to a sink straight from
    the buffers the chunks were opened into, without a copy. Either way a
    chunk comes out only after its tag verified, in order; on a fault every
    chunk before the faulty one comes out first, whatever ``threads``, and
    then :class:`PayloadError` is raised. An error reading the source is
    raised once every chunk read before it but the last one has come out.
    :meth:`close` (or dropping the object) ends the worker threads.
    """

    def __init__(self, key: bytes, source: Filling, threads: int) -> None:
        self._start = (key, source, threads)
        self._runs: Generator[_Opened, None, None] | None = None  # made on first use
        self._ready: list[bytes | memoryview] = []  # the current run's chunks left, last first
        self._error: PayloadError | None = None  # raised once they are taken

    def __iter__(self) -> Plaintext:
        return self

    def __next__(self) -> bytes:
        runs = self._opened_runs(into_buffers=False)
        while not self._ready:
            self._raise_error()
            opened = next(runs)  # the previous run's buffers are free from here
            self._ready = opened.chunks[::-1]
            self._error = opened.error
        # Copied one at a time: a copy is freed before the next is made, so malloc
        # reuses the same memory rather than growing and trimming its heap each run.
        return bytes(self._ready.pop())

    def _opened_runs(self, *, into_buffers: bool) -> Generator[_Opened, None, None]:
        """The runs, opened as the first use needs: chunks to copy out one by one
        (into buffers with workers only: see :func:`_opening`), or runs to write
        (always into buffers, then one write a run)."""
        if self._runs is None:
            key, source, threads = self._start
            self._runs = _opened_runs(key, source, threads, into_buffers or threads > 1)
        return self._runs

    def write_to(self, sink: Writable) -> int:
        """Write all the verified plaintext left to ``sink``; return how many bytes.

        ``sink.write`` gets buffers that are reused once it returns, as ``io``
        allows (a sink copies what it keeps): a run of 8 chunks at a time
        when they were opened into one.
        """
        written = 0
        for chunk in reversed(self._ready):
            written += len(chunk)
            sink.write(chunk)
        self._ready = []
        self._raise_error()
        for opened in self._opened_runs(into_buffers=True):
            for piece in opened.verified():
                written += len(piece)
                sink.write(piece)
            if opened.error is not None:
                self.close()
                raise opened.error
        return written

    def close(self) -> None:
        """Stop early: end the worker threads (nothing more comes out)."""
        if self._runs is not None:
            self._runs.close()

    def _raise_error(self) -> None:
        """Raise the error that follows the chunks taken, if any (the threads end first)."""
        error, self._error = self._error, None
        if error is not None:
            self.close()
            raise error


def decrypt_chunks(key: bytes, source: Filling, *, threads: int = 1) -> Plaintext:
    """The verified plaintext of the STREAM payload in ``source`` (see :class:`Plaintext`)."""
    return Plaintext(key, source, threads)


def _opened_runs(key: bytes, source: Filling, threads: int,
                 into_buffers: bool) -> Generator[_Opened, None, None]:
    """Each run of the payload, opened, in order; none after one that failed.

    Full runs are opened into buffers if ``into_buffers``, else each chunk
    into ``bytes``. A run's buffers are recycled when the next run is asked
    for: what was yielded must be used (or copied) by then. A read error is
    raised after the runs read before it, but the last one (its final chunk
    cannot be flagged). Closing the generator ends the threads.
    """
    aead = primitives.ChaCha20Poly1305(key)
    runs: OrderedPool[_Opened] = OrderedPool(threads)
    sealed_buffers = _Buffers(RUN_CHUNKS * SEALED_CHUNK_SIZE)
    plain_buffers = _Buffers(RUN_CHUNKS * CHUNK_SIZE)
    counter, failure = 0, None
    sealed_runs = _sealed_runs(source, sealed_buffers)
    try:
        while True:
            try:
                buffer, size, last = next(sealed_runs)
            except StopIteration:
                break
            except Exception as error:  # noqa: BLE001 - raised below, after the verified chunks
                failure = error
                break
            chunks = _chunks(buffer, size)
            small = len(chunks) < RUN_CHUNKS
            plain = None if small or not into_buffers else plain_buffers.get()
            runs.put(_opening(aead, counter, chunks, last, buffer, plain), inline=small)
            counter += len(chunks)
            if not (yield from _handed_out(runs.due(), sealed_buffers, plain_buffers)):
                return
        if not (yield from _handed_out(runs.rest(), sealed_buffers, plain_buffers)):
            return
    finally:
        runs.close()
    if failure is not None:
        raise failure


def _handed_out(runs: Iterator[_Opened], sealed: _Buffers,
                plain: _Buffers) -> Generator[_Opened, None, bool]:
    """Yield each opened run, then recycle its buffers; stop after a failed one (returns False)."""
    for opened in runs:
        yield opened
        sealed.recycle(opened.sealed)
        if opened.plain is not None:
            plain.recycle(opened.plain)
        if opened.error is not None:
            return False
    return True


def _sealed_runs(source: Filling, buffers: _Buffers) -> Iterator[tuple[bytearray, int, bool]]:
    """The payload read in runs of up to :data:`RUN_CHUNKS` sealed chunks: (buffer, size, last).

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
            yield buffer, size - SEALED_CHUNK_SIZE, False
            raise
        if not more:
            buffers.recycle(following)
            break
        yield buffer, size, False
        buffer, size = following, more
    yield buffer, size, True


def _chunks(buffer: bytearray, size: int) -> list[memoryview]:
    view = memoryview(buffer)[:size]
    return [view[at : at + SEALED_CHUNK_SIZE] for at in range(0, size, SEALED_CHUNK_SIZE)]


def _opening(aead: ChaCha20Poly1305, first: int, chunks: list[memoryview], last: bool,
             sealed: bytearray, plain: bytearray | None) -> Callable[[], _Opened]:
    """The job that opens ``chunks`` (numbered from ``first``) until one fails.

    Into ``plain`` if given, else each chunk into new ``bytes``. With workers
    every full run goes into a buffer: memory a worker allocates is costly
    (see :class:`_Buffers`), and ``decrypt`` keeps the GIL for part of its
    work where ``decrypt_into`` does not, so even the calling thread would
    hold up the workers.
    """

    def open_run() -> _Opened:
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

    return open_run


def _plaintext_size(sealed: Chunk) -> int:
    return max(len(sealed) - TAG_SIZE, 0)


def _open(aead: ChaCha20Poly1305, counter: int, sealed: Chunk, flag: bytes) -> bytes:
    _check_size(sealed, flag)
    try:
        plaintext = aead.decrypt(_nonce(counter, flag), sealed, None)
    except primitives.InvalidTag:
        raise PayloadError(f"chunk {counter} failed authentication") from None
    _check_last(counter, plaintext, flag)
    return plaintext


def _open_into(aead: ChaCha20Poly1305, counter: int, sealed: Chunk, flag: bytes,
               into: memoryview) -> memoryview:
    _check_size(sealed, flag)
    plaintext = into[: _plaintext_size(sealed)]
    try:
        aead.decrypt_into(_nonce(counter, flag), sealed, None, plaintext)
    except primitives.InvalidTag:
        raise PayloadError(f"chunk {counter} failed authentication") from None
    _check_last(counter, plaintext, flag)
    return plaintext


def _check_size(sealed: Chunk, flag: bytes) -> None:
    if flag == _LAST and len(sealed) < TAG_SIZE:
        raise PayloadError("truncated chunk")


def _check_last(counter: int, plaintext: Chunk, flag: bytes) -> None:
    if flag == _LAST and not plaintext and counter:
        raise PayloadError("empty last chunk after a full one")
