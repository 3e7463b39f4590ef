"""Property tests of the age core: round trips and tamper detection.

Keys are generated once per module (ML-KEM key generation is the slow
part); hypothesis varies sizes, write patterns and the position of faults.
Each property holds with one thread and with several: the sizes reach past
a few runs of chunks (tipbox.crypto.stream.RUN_CHUNKS), which is where
worker threads take part.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.crypto import (
    DecryptionError,
    Encryptor,
    HybridIdentity,
    Identity,
    X25519Identity,
    decrypt,
    decrypt_detached,
    decrypt_stream,
    encrypt,
    rewrap_header,
)
from tipbox.crypto.stream import RUN_CHUNKS

CHUNK = 64 * 1024
RUN = RUN_CHUNKS * CHUNK  # chunks sealed or opened together; the first run is one chunk
PQ = HybridIdentity.generate()
CLASSIC = X25519Identity.generate()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THREADS = pytest.mark.parametrize("threads", [1, 3])

# Sizes clustered around the chunk and run boundaries, where off-by-one bugs live.
sizes = st.one_of(
    st.integers(0, 300),
    st.integers(-3, 3).map(lambda d: CHUNK + d),
    st.integers(-3, 3).map(lambda d: 2 * CHUNK + d),
    st.integers(0, 4 * CHUNK),
    st.sampled_from([1, 2, 3]).flatmap(
        lambda runs: st.integers(-3, 3).map(lambda d: runs * RUN + CHUNK + d)),
    st.integers(0, 4 * RUN),
)


def payload(size: int) -> bytes:
    block = bytes((i * 7 + size) & 0xFF for i in range(4093))
    return (block * (size // len(block) + 1))[:size]


def decrypted(identity: Identity, sealed: bytes, threads: int) -> bytes:
    """The plaintext, read by iteration and by write_to (they must agree)."""
    iterated = b"".join(decrypt_stream([identity], io.BytesIO(sealed), threads=threads))
    sink = io.BytesIO()
    decrypt_stream([identity], io.BytesIO(sealed), threads=threads).write_to(sink)
    assert sink.getvalue() == iterated
    return iterated


@THREADS
@FAST
@given(size=sizes, cuts=st.lists(st.integers(1, 3 * CHUNK), max_size=8),
       mutable=st.booleans())
def test_round_trip_for_any_size_and_write_pattern(
    threads: int, size: int, cuts: list[int], mutable: bool
) -> None:
    data = payload(size)
    out = io.BytesIO()
    with Encryptor([PQ.recipient()], out, threads=threads) as encryptor:
        position = 0
        for cut in [*cuts, size]:
            piece = data[position : position + cut]
            encryptor.write(bytearray(piece) if mutable else piece)
            position += cut
        encryptor.write(data[position:])
    assert decrypted(PQ, out.getvalue(), threads) == data
    assert decrypt([PQ], out.getvalue()) == data
    assert encryptor.plaintext_size == size


@THREADS
@FAST
@given(size=sizes)
def test_detached_header_plus_payload_is_a_standard_file(threads: int, size: int) -> None:
    data = payload(size)
    out = io.BytesIO()
    with Encryptor([CLASSIC.recipient()], out, detached=True, threads=threads) as encryptor:
        encryptor.write(data)
    chunks = decrypt_detached([CLASSIC], encryptor.header, io.BytesIO(out.getvalue()),
                              threads=threads)
    assert b"".join(chunks) == data
    assert decrypt([CLASSIC], encryptor.header + out.getvalue()) == data


@FAST
@given(size=st.integers(0, 3 * CHUNK), armor=st.booleans())
def test_armored_round_trip(size: int, armor: bool) -> None:
    data = payload(size)
    assert decrypt([CLASSIC], encrypt([CLASSIC.recipient()], data, armor=armor)) == data


SEALED_SIZES = {1: 2 * CHUNK + 100, 3: 2 * RUN + CHUNK + 100}  # several runs with workers


@pytest.fixture(scope="module")
def sealed_files() -> dict[int, bytes]:
    return {threads: encrypt([CLASSIC.recipient()], payload(size))
            for threads, size in SEALED_SIZES.items()}


def released_then_error(sealed: bytes, threads: int) -> tuple[list[bytes], BaseException]:
    """The chunks a decryption yields before it fails, and its error (it must fail)."""
    chunks: list[bytes] = []
    try:
        for chunk in decrypt_stream([CLASSIC], io.BytesIO(sealed), threads=threads):
            chunks.append(chunk)
    except DecryptionError as error:
        return chunks, error
    raise AssertionError("the damage was not detected")


def check_rejected(sealed: bytes, threads: int) -> None:
    """Rejected with no unverified byte out, and exactly as one thread would."""
    chunks, error = released_then_error(sealed, threads)
    assert all(len(chunk) == CHUNK for chunk in chunks)
    alone_chunks, alone_error = released_then_error(sealed, 1)
    assert chunks == alone_chunks
    assert (type(error), str(error)) == (type(alone_error), str(alone_error))
    sink = io.BytesIO()
    with pytest.raises(DecryptionError) as written:
        decrypt_stream([CLASSIC], io.BytesIO(sealed), threads=threads).write_to(sink)
    assert sink.getvalue() == b"".join(alone_chunks)
    assert (type(written.value), str(written.value)) == (type(alone_error), str(alone_error))


@THREADS
@FAST
@given(data=st.data())
def test_any_single_bit_flip_is_rejected(
    sealed_files: dict[int, bytes], threads: int, data: st.DataObject
) -> None:
    sealed = sealed_files[threads]
    position = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(sealed)
    tampered[position] ^= 1 << bit
    check_rejected(bytes(tampered), threads)


@THREADS
@FAST
@given(data=st.data())
def test_any_truncation_is_rejected(
    sealed_files: dict[int, bytes], threads: int, data: st.DataObject
) -> None:
    sealed = sealed_files[threads]
    check_rejected(sealed[: data.draw(st.integers(0, len(sealed) - 1))], threads)


@THREADS
@FAST
@given(data=st.data())
def test_any_reordering_of_chunks_is_rejected(
    sealed_files: dict[int, bytes], threads: int, data: st.DataObject
) -> None:
    sealed = sealed_files[threads]
    start = sealed.index(b"\n", sealed.index(b"\n--- ") + 1) + 1 + 16  # header and nonce
    body = sealed[start:]
    chunks = [body[at : at + CHUNK + 16] for at in range(0, len(body), CHUNK + 16)]
    first = data.draw(st.integers(0, len(chunks) - 2))
    second = data.draw(st.integers(first + 1, len(chunks) - 1))
    chunks[first], chunks[second] = chunks[second], chunks[first]
    check_rejected(sealed[:start] + b"".join(chunks), threads)


@THREADS
def test_extension_is_rejected(sealed_files: dict[int, bytes], threads: int) -> None:
    check_rejected(sealed_files[threads] + b"\x00", threads)


def test_rewrap_moves_the_file_key_to_new_recipients() -> None:
    old, new = X25519Identity.generate(), HybridIdentity.generate()
    out = io.BytesIO()
    with Encryptor([old.recipient()], out, detached=True) as encryptor:
        encryptor.write(b"the payload is never touched")
    header = rewrap_header(encryptor.header, [old], [new.recipient()])
    assert decrypt([new], header + out.getvalue()) == b"the payload is never touched"
    with pytest.raises(DecryptionError):
        decrypt([old], header + out.getvalue())


def abandon_upload(out: io.BytesIO) -> None:
    with Encryptor([CLASSIC.recipient()], out) as encryptor:
        encryptor.write(payload(CHUNK + 10))
        raise RuntimeError("client went away")


def test_encryptor_abandoned_by_exception_leaves_an_invalid_file() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        abandon_upload(out)
    with pytest.raises(DecryptionError):
        decrypt([CLASSIC], out.getvalue())
