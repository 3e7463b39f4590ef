"""Property tests of the age core: round trips and tamper detection.

Keys are generated once per module (ML-KEM key generation is the slow
part); hypothesis varies sizes, write patterns and the position of faults.
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
    X25519Identity,
    decrypt,
    decrypt_detached,
    encrypt,
    rewrap_header,
)

CHUNK = 64 * 1024
PQ = HybridIdentity.generate()
CLASSIC = X25519Identity.generate()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Sizes clustered around the chunk boundaries, where off-by-one bugs live.
sizes = st.one_of(
    st.integers(0, 300),
    st.integers(-3, 3).map(lambda d: CHUNK + d),
    st.integers(-3, 3).map(lambda d: 2 * CHUNK + d),
    st.integers(0, 4 * CHUNK),
)


def payload(size: int) -> bytes:
    return bytes((i * 7 + size) & 0xFF for i in range(size))


@FAST
@given(size=sizes, cuts=st.lists(st.integers(1, 3 * CHUNK), max_size=8))
def test_round_trip_for_any_size_and_write_pattern(size: int, cuts: list[int]) -> None:
    data = payload(size)
    out = io.BytesIO()
    with Encryptor([PQ.recipient()], out) as encryptor:
        position = 0
        for cut in [*cuts, size]:
            encryptor.write(data[position : position + cut])
            position += cut
        encryptor.write(data[position:])
    assert decrypt([PQ], out.getvalue()) == data
    assert encryptor.plaintext_size == size


@FAST
@given(size=sizes)
def test_detached_header_plus_payload_is_a_standard_file(size: int) -> None:
    data = payload(size)
    out = io.BytesIO()
    with Encryptor([CLASSIC.recipient()], out, detached=True) as encryptor:
        encryptor.write(data)
    chunks = decrypt_detached([CLASSIC], encryptor.header, io.BytesIO(out.getvalue()))
    assert b"".join(chunks) == data
    assert decrypt([CLASSIC], encryptor.header + out.getvalue()) == data


@FAST
@given(size=st.integers(0, 3 * CHUNK), armor=st.booleans())
def test_armored_round_trip(size: int, armor: bool) -> None:
    data = payload(size)
    assert decrypt([CLASSIC], encrypt([CLASSIC.recipient()], data, armor=armor)) == data


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return encrypt([CLASSIC.recipient()], payload(2 * CHUNK + 100))


@FAST
@given(data=st.data())
def test_any_single_bit_flip_is_rejected(sealed: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(sealed)
    tampered[position] ^= 1 << bit
    with pytest.raises(DecryptionError):
        decrypt([CLASSIC], bytes(tampered))


@FAST
@given(data=st.data())
def test_any_truncation_is_rejected(sealed: bytes, data: st.DataObject) -> None:
    length = data.draw(st.integers(0, len(sealed) - 1))
    with pytest.raises(DecryptionError):
        decrypt([CLASSIC], sealed[:length])


def test_extension_is_rejected(sealed: bytes) -> None:
    with pytest.raises(DecryptionError):
        decrypt([CLASSIC], sealed + b"\x00")


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
