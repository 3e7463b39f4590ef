"""The STREAM payload on several threads: same bytes, same errors, bounded, no leaks.

Chunks are sealed and opened in runs of RUN_CHUNKS on ``threads - 1``
worker threads plus the caller. Whatever the number of threads, the
ciphertext for a given key is the same, decryption releases the same
chunks and raises the same error, memory stays bounded and no thread
outlives its stream. Payloads here span several runs, or the workers would
never start.
"""

from __future__ import annotations

import gc
import io
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tipbox.crypto import DecryptionError, Encryptor, PayloadError, X25519Identity, decrypt_stream
from tipbox.crypto.ordered import OrderedPool
from tipbox.crypto.stream import (
    CHUNK_SIZE,
    RUN_CHUNKS,
    SEALED_CHUNK_SIZE,
    StreamWriter,
    decrypt_chunks,
)

KEY = bytes(range(32))
RUN = RUN_CHUNKS * CHUNK_SIZE
THREADS = [1, 2, 4]
# Around the first run (1 chunk), full runs (16), and their ends.
SIZES = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, RUN + CHUNK_SIZE, RUN + CHUNK_SIZE + 1,
         2 * RUN + CHUNK_SIZE - 1, 3 * RUN + 5, 5 * RUN + 12345]
IDENTITY = X25519Identity.generate()


def payload(size: int) -> bytes:
    block = bytes((i * 7 + size) & 0xFF for i in range(4093))  # a prime: no chunk repeats
    return (block * (size // len(block) + 1))[:size]


def seal(data: bytes, threads: int, write_size: int = 1 << 20) -> bytes:
    out = io.BytesIO()
    writer = StreamWriter(KEY, out, threads=threads)
    for start in range(0, len(data), write_size):
        writer.write(data[start : start + write_size])
    writer.close()
    return out.getvalue()


def crypto_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tipbox-crypto")]


class Released:
    """What a decryption released before it stopped, and how it stopped."""

    def __init__(self, sealed: bytes, threads: int) -> None:
        self.chunks: list[bytes] = []
        self.error: str | None = None
        try:
            for chunk in decrypt_chunks(KEY, io.BytesIO(sealed), threads=threads):
                self.chunks.append(chunk)
        except PayloadError as error:
            self.error = str(error)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Released) and (self.chunks, self.error) == (
            other.chunks, other.error)

    def __repr__(self) -> str:
        return f"Released({len(self.chunks)} chunks, {self.error!r})"


# -- same bytes ------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_ciphertext_is_the_same_for_any_number_of_threads(size: int) -> None:
    data = payload(size)
    expected = seal(data, 1)
    assert len(expected) == size + 16 * max(1, -(-size // CHUNK_SIZE))
    for threads in THREADS[1:]:
        assert seal(data, threads) == expected


@pytest.mark.parametrize("write_size", [1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE, RUN + 1, 4 * RUN])
def test_any_write_pattern_gives_the_same_ciphertext(write_size: int) -> None:
    data = payload(3 * RUN + 777 if write_size > 1 else RUN + CHUNK_SIZE + 3)
    assert seal(data, 3, write_size) == seal(data, 1)


def test_a_reused_write_buffer_is_copied_before_it_changes() -> None:
    """With workers a bytearray may be read after write returns: it must not matter."""
    data = payload(4 * RUN + 10)
    out = io.BytesIO()
    writer = StreamWriter(KEY, out, threads=3)
    buffer = bytearray(RUN)
    for start in range(0, len(data), RUN):
        piece = data[start : start + RUN]
        buffer[: len(piece)] = piece
        writer.write(memoryview(buffer)[: len(piece)])
        buffer[:] = bytes(len(buffer))  # the caller reuses its buffer at once
    writer.close()
    assert out.getvalue() == seal(data, 1)


class Trickle(io.RawIOBase):
    """Gives at most ``step`` bytes a read, as a pipe may."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data, self._step, self._position = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._step, len(self._data) - self._position)
        buffer[:count] = self._data[self._position : self._position + count]
        self._position += count
        return count


def sealed_from(source: Any, threads: int) -> bytes:
    out = io.BytesIO()
    writer = StreamWriter(KEY, out, threads=threads)
    writer.write_from(source)
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", SIZES)
def test_write_from_reads_the_same_ciphertext(size: int, threads: int) -> None:
    """Read straight into the run buffers, from a file or a pipe-like trickle."""
    data = payload(size)
    expected = seal(data, 1)
    assert sealed_from(io.BytesIO(data), threads) == expected
    assert sealed_from(Trickle(data, 50_000), threads) == expected


def test_write_from_after_write_continues_the_same_stream() -> None:
    data = payload(3 * RUN + 5)
    out = io.BytesIO()
    writer = StreamWriter(KEY, out, threads=3)
    writer.write(data[:1000])
    writer.write_from(io.BytesIO(data[1000:]))
    writer.close()
    assert out.getvalue() == seal(data, 1)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", SIZES)
def test_round_trip_yields_whole_chunks_in_order(size: int, threads: int) -> None:
    data = payload(size)
    chunks = list(decrypt_chunks(KEY, io.BytesIO(seal(data, threads)), threads=threads))
    assert b"".join(chunks) == data
    assert all(len(chunk) == CHUNK_SIZE for chunk in chunks[:-1])
    assert all(type(chunk) is bytes for chunk in chunks)


@pytest.mark.parametrize("threads", THREADS)
def test_files_round_trip_through_the_api(threads: int) -> None:
    data = payload(3 * RUN + 99)
    out = io.BytesIO()
    with Encryptor([IDENTITY.recipient()], out, threads=threads) as encryptor:
        encryptor.write(data)
    sealed = io.BytesIO(out.getvalue())
    assert b"".join(decrypt_stream([IDENTITY], sealed, threads=threads)) == data


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Encryptor([IDENTITY.recipient()], io.BytesIO(), threads=0)


# -- same errors -----------------------------------------------------------------------

PLAIN = payload(49 * CHUNK_SIZE + 1000)
SEALED = seal(PLAIN, 1)  # 50 chunks, the last one short
CHUNKS = [SEALED[at : at + SEALED_CHUNK_SIZE] for at in range(0, len(SEALED), SEALED_CHUNK_SIZE)]


def flipped(index: int, offset: int = 100) -> bytes:
    damaged = bytearray(SEALED)
    damaged[index * SEALED_CHUNK_SIZE + offset] ^= 0x01
    return bytes(damaged)


def swapped(first: int, second: int) -> bytes:
    chunks = list(CHUNKS)
    chunks[first], chunks[second] = chunks[second], chunks[first]
    return b"".join(chunks)


def without(index: int) -> bytes:
    return b"".join(CHUNKS[:index] + CHUNKS[index + 1 :])


def sealed_empty_last_after(full_chunks: int) -> bytes:
    """``full_chunks`` full chunks, then an empty last chunk: invalid by the spec."""
    data = payload(full_chunks * CHUNK_SIZE)
    aead = ChaCha20Poly1305(KEY)
    body = bytearray()
    for index in range(full_chunks):
        chunk = data[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
        body += aead.encrypt(index.to_bytes(11, "big") + b"\x00", chunk, None)
    body += aead.encrypt(full_chunks.to_bytes(11, "big") + b"\x01", b"", None)
    return bytes(body)


DAMAGED = {
    "flip in chunk 0": flipped(0),
    "flip in chunk 1": flipped(1),
    "flip in the last chunk of a run": flipped(RUN_CHUNKS),
    "flip in the first chunk of a run": flipped(RUN_CHUNKS + 1),
    "flip in a tag": flipped(30, SEALED_CHUNK_SIZE - 1),
    "flip in the last chunk": flipped(len(CHUNKS) - 1, 5),
    "swap 3 and 4": swapped(3, 4),
    "swap across runs": swapped(RUN_CHUNKS, RUN_CHUNKS + 1),
    "chunk 20 missing": without(20),
    "last chunk missing": b"".join(CHUNKS[:-1]),
    "cut at a run's end": SEALED[: (RUN_CHUNKS + 1) * SEALED_CHUNK_SIZE],
    "cut mid-chunk": SEALED[: 20 * SEALED_CHUNK_SIZE + 1234],
    "cut inside a tag": SEALED[: 33 * SEALED_CHUNK_SIZE + 8],
    "cut to 10 bytes": SEALED[:10],
    "empty": b"",
    "trailing byte": SEALED + b"\x00",
    "empty last chunk after 33 full ones": sealed_empty_last_after(33),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damage_gives_the_same_chunks_and_error_on_every_thread_count(name: str) -> None:
    one = Released(DAMAGED[name], 1)
    assert one.error is not None, "the damage was not detected"
    released = b"".join(one.chunks)
    assert released in (PLAIN[: len(released)], payload(33 * CHUNK_SIZE)[: len(released)])
    assert all(len(chunk) == CHUNK_SIZE for chunk in one.chunks)
    for threads in THREADS[1:]:
        assert Released(DAMAGED[name], threads) == one


class Written:
    """What ``Plaintext.write_to`` wrote before it stopped, and how it stopped."""

    def __init__(self, sealed: bytes, threads: int, taken_first: int = 0) -> None:
        plaintext = decrypt_chunks(KEY, io.BytesIO(sealed), threads=threads)
        self.error: str | None = None
        sink = io.BytesIO()
        try:
            for _ in range(taken_first):  # some chunks by iteration, then the rest
                sink.write(next(plaintext))
            plaintext.write_to(sink)
        except PayloadError as error:
            self.error = str(error)
        self.data = sink.getvalue()


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", SIZES)
def test_write_to_writes_what_iteration_yields(size: int, threads: int) -> None:
    data = payload(size)
    written = Written(seal(data, 1), threads)
    assert (written.data, written.error) == (data, None)
    if size > 3 * CHUNK_SIZE:
        assert Written(seal(data, 1), threads, taken_first=3).data == data


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_write_to_stops_where_iteration_stops(name: str) -> None:
    released = Released(DAMAGED[name], 1)
    for threads in THREADS:
        written = Written(DAMAGED[name], threads)
        assert (written.data, written.error) == (b"".join(released.chunks), released.error)


class ReusedBuffers(io.RawIOBase):
    """A sink that keeps what it is given (as a sink must not): buffers reused show."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[memoryview] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.kept.append(memoryview(data))
        return len(data)


def test_write_to_hands_out_its_own_buffers_again() -> None:
    """The copy write_to spares: the runs come from buffers it reuses."""
    data = payload(20 * RUN)
    sink = ReusedBuffers()
    decrypt_chunks(KEY, io.BytesIO(seal(data, 1)), threads=2).write_to(sink)
    assert len({id(view.obj) for view in sink.kept}) < len(sink.kept)


def test_released_chunks_are_exactly_those_before_the_fault() -> None:
    released = Released(flipped(17), 3)
    assert len(released.chunks) == 17
    assert released.error == "chunk 17 failed authentication"


class FailingSource:
    """Serves DATA, but a read that reaches past ``limit`` bytes fails (a bad sector)."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data, self._limit, self.position = data, limit, 0

    def readinto(self, buffer: Any) -> int:
        if self.position + len(buffer) > self._limit:
            raise OSError("disk gone")
        count = min(len(buffer), len(self._data) - self.position)
        buffer[:count] = self._data[self.position : self.position + count]
        self.position += count
        return count


@pytest.mark.parametrize(("limit", "released"), [
    (5 * SEALED_CHUNK_SIZE, 0), (20 * SEALED_CHUNK_SIZE, 16), (40 * SEALED_CHUNK_SIZE + 77, 32)])
def test_a_read_error_comes_after_the_verified_chunks(limit: int, released: int) -> None:
    """Every chunk read before the error is released, but the last one (it might be final)."""
    results = []
    for threads in THREADS:
        chunks: list[bytes] = []
        with pytest.raises(OSError, match="disk gone"):
            chunks.extend(_each(decrypt_chunks(KEY, FailingSource(SEALED, limit), threads=threads),
                                chunks))
        results.append(chunks)
    assert len(results[0]) == released
    assert all(result == results[0] for result in results)
    assert b"".join(results[0]) == PLAIN[: len(b"".join(results[0]))]


def _each(chunks: Iterator[bytes], into: list[bytes]) -> list[bytes]:
    """Append each chunk to INTO as it comes (so that an error keeps the ones before)."""
    for chunk in chunks:
        into.append(chunk)
    return []


# -- bounded, and no thread left behind -----------------------------------------------


def test_decryption_reads_ahead_a_bounded_number_of_runs() -> None:
    threads = 3
    sealed = seal(payload(40 * RUN), 1)
    source = io.BytesIO(sealed)
    ahead = []
    released = 0
    for chunk in decrypt_chunks(KEY, source, threads=threads):
        released += len(chunk)
        read_plaintext = source.tell() // SEALED_CHUNK_SIZE * CHUNK_SIZE
        ahead.append(read_plaintext - released)
    window = 2 * threads
    assert max(ahead) <= (window + 2) * RUN
    assert max(ahead) >= RUN  # it did read ahead: the runs were in flight


class CountingSink:
    """Records how much ciphertext has come out when each write happens."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.size += len(data)
        return len(data)


def test_encryption_holds_a_bounded_number_of_runs() -> None:
    threads = 3
    sink = CountingSink()
    writer = StreamWriter(KEY, sink, threads=threads)  # type: ignore[arg-type]
    behind = []
    block = payload(CHUNK_SIZE * 4)
    for written in range(len(block), 40 * RUN + 1, len(block)):
        writer.write(block)
        behind.append(written - sink.size // SEALED_CHUNK_SIZE * CHUNK_SIZE)
    writer.close()
    assert max(behind) <= (2 * threads + 2) * RUN
    assert max(behind) >= RUN


class ReadCounter(io.BytesIO):
    """A BytesIO that records, at each read, how much ciphertext the sink had by then."""

    def __init__(self, data: bytes, sink: CountingSink) -> None:
        super().__init__(data)
        self.sink, self.behind = sink, [0]

    def readinto(self, buffer: Any) -> int:
        self.behind.append(self.tell() - self.sink.size // SEALED_CHUNK_SIZE * CHUNK_SIZE)
        return super().readinto(buffer)


def test_write_from_holds_a_bounded_number_of_runs() -> None:
    threads = 3
    sink = CountingSink()
    source = ReadCounter(payload(40 * RUN), sink)
    writer = StreamWriter(KEY, sink, threads=threads)  # type: ignore[arg-type]
    writer.write_from(source)
    writer.close()
    assert max(source.behind) <= (2 * threads + 2) * RUN
    assert max(source.behind) >= RUN


@pytest.fixture
def no_leftover_threads() -> Iterator[None]:
    assert crypto_threads() == []
    yield
    deadline = time.monotonic() + 5
    while crypto_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert crypto_threads() == []


def test_workers_run_and_end_with_the_stream(no_leftover_threads: None) -> None:
    seen: list[int] = []
    for _ in decrypt_chunks(KEY, io.BytesIO(SEALED), threads=3):
        seen.append(len(crypto_threads()))
    assert max(seen) >= 1  # the pool did start
    assert crypto_threads() == []  # and is gone as soon as the last chunk is out


def test_closing_the_generator_early_ends_its_threads(no_leftover_threads: None) -> None:
    chunks = decrypt_chunks(KEY, io.BytesIO(SEALED), threads=3)
    for _ in range(20):
        next(chunks)
    assert crypto_threads()
    chunks.close()
    assert crypto_threads() == []


def test_dropping_the_generator_ends_its_threads(no_leftover_threads: None) -> None:
    chunks = decrypt_stream([IDENTITY], io.BytesIO(seal_file(payload(4 * RUN))), threads=3)
    next(chunks)
    next(chunks)
    del chunks
    gc.collect()


def abandon_upload(out: io.BytesIO) -> None:
    with Encryptor([IDENTITY.recipient()], out, threads=3) as encryptor:
        encryptor.write(payload(4 * RUN))
        assert crypto_threads()
        raise RuntimeError("client went away")


def test_an_abandoned_encryptor_ends_its_threads(no_leftover_threads: None) -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        abandon_upload(out)
    assert crypto_threads() == []
    with pytest.raises(DecryptionError):
        b"".join(decrypt_stream([IDENTITY], io.BytesIO(out.getvalue())))


def test_a_small_payload_starts_no_thread(no_leftover_threads: None) -> None:
    sealed = seal_file(payload(RUN))
    started = threading.active_count()
    chunks = decrypt_stream([IDENTITY], io.BytesIO(sealed), threads=4)
    assert b"".join(chunks) == payload(RUN)
    assert threading.active_count() == started


def seal_file(data: bytes, threads: int = 1) -> bytes:
    out = io.BytesIO()
    with Encryptor([IDENTITY.recipient()], out, threads=threads) as encryptor:
        encryptor.write(data)
    return out.getvalue()


# -- the ordered pool ----------------------------------------------------------------------


def test_the_pool_keeps_the_order_of_jobs_that_finish_out_of_order() -> None:
    pool: OrderedPool[int] = OrderedPool(4)
    taken: list[int] = []
    for index in range(40):
        pool.put(lambda index=index: _slowly(index))  # type: ignore[misc]
        taken.extend(pool.due())
        assert len(pool) <= pool.window
    taken.extend(pool.rest())
    pool.close()
    assert taken == list(range(40))


def _slowly(index: int) -> int:
    time.sleep(0.002 * ((index * 7) % 5))
    return index


def test_a_jobs_error_comes_in_its_turn() -> None:
    pool: OrderedPool[int] = OrderedPool(3)
    pool.put(lambda: _slowly(4))
    pool.put(lambda: 1 // 0)
    pool.put(lambda: 7)
    results = pool.rest()
    assert next(results) == 4
    with pytest.raises(ZeroDivisionError):
        next(results)
    pool.close()


def test_one_thread_runs_every_job_in_the_caller(no_leftover_threads: None) -> None:
    pool: OrderedPool[str] = OrderedPool(1)
    for _ in range(5):
        pool.put(lambda: threading.current_thread().name)
    assert set(pool.rest()) == {threading.current_thread().name}


def test_closing_the_pool_drops_jobs_not_started(no_leftover_threads: None) -> None:
    pool: OrderedPool[int] = OrderedPool(2)
    started = threading.Event()
    ran: list[int] = []

    def job(index: int) -> int:
        started.set()
        time.sleep(0.05)
        ran.append(index)
        return index

    for index in range(4):
        pool.put(lambda index=index: job(index))  # type: ignore[misc]
    started.wait()
    pool.close()
    assert len(ran) < 4


@pytest.mark.parametrize("threads", THREADS)
def test_os_urandom_payloads_round_trip(threads: int) -> None:
    data = os.urandom(2 * RUN + 3)
    assert b"".join(decrypt_chunks(KEY, io.BytesIO(seal(data, threads)), threads=threads)) == data
