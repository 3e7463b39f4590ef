"""PADMÉ padding after an age payload (issue 17): sizes that don't identify documents.

The padded file hides the payload's size in a PADMÉ bucket; cut where its
trailer says, it is the standard file Debian's ``age`` and npm's
``age-encryption`` decrypt.
"""

from __future__ import annotations

import io
import math
import random
import zlib
from pathlib import Path

import pytest
from test_interop import debian_age, node, node_script, run  # noqa: F401 - fixtures

from tipbox.crypto import (
    DecryptionError,
    Encryptor,
    HybridIdentity,
    X25519Identity,
    decrypt_detached,
    decrypt_stream,
    padded_payload_size,
)
from tipbox.crypto.padding import TRAILER_SIZE, padded_size, padme, payload_size

SIZES = [0, 1, 100, 65535, 65536, 65537, 200_000, 3 * 65536]


def padded(identity: X25519Identity | HybridIdentity, data: bytes) -> tuple[bytes, bytes, int]:
    """(header, stored payload, payload size) of ``data`` written padded."""
    out = io.BytesIO()
    encryptor = Encryptor([identity.recipient()], out, detached=True)
    encryptor.write(data)
    size = encryptor.close_padded()
    return encryptor.header, out.getvalue(), size


def test_padme_rounds_up_and_costs_at_most_12_percent() -> None:
    assert [padme(n) for n in (0, 1, 2, 3, 9, 100, 1000, 65536 + 17)] == [
        0, 1, 2, 3, 10, 104, 1024, 67584]
    for length in [*range(2, 5000), *random.Random(7).sample(range(5000, 1 << 32), 3000)]:
        rounded = padme(length)
        assert length <= rounded <= length * 1.12, length
        assert padme(rounded) == rounded  # a bucket is its own bucket


def test_padme_leaks_about_log_log_bits() -> None:
    """Between 2**k and 2**(k+1) there are only about 2**(log2 k + 1) buckets."""
    for k in (16, 20, 30):
        buckets = {padme(n) for n in range(2**k, 2**(k + 1), max(1, 2**k // 50_000))}
        assert len(buckets) <= 2 ** (math.floor(math.log2(k)) + 1) + 1


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["x25519", "pq"])
def test_a_padded_payload_round_trips_at_its_bucket_size(size: int, kind: str) -> None:
    identity = HybridIdentity.generate() if kind == "pq" else X25519Identity.generate()
    data = random.Random(size).randbytes(size)
    header, stored, payload = padded(identity, data)
    assert payload == payload_size(size)
    assert len(stored) == padded_size(payload) == padme(payload + TRAILER_SIZE)
    assert b"".join(decrypt_detached([identity], header, io.BytesIO(stored))) == data
    assert b"".join(decrypt_stream([identity], io.BytesIO(header + stored))) == data
    assert padded_payload_size([identity], header, io.BytesIO(stored)) == payload


def test_two_sizes_in_one_bucket_are_alike_on_disk() -> None:
    identity = X25519Identity.generate()
    _, first, _ = padded(identity, b"a" * 70_000)
    _, second, _ = padded(identity, b"b" * 71_000)
    assert len(first) == len(second)
    for stored in (first, second):  # fill and ciphertext alike: nothing compresses
        assert len(zlib.compress(stored, 9)) >= len(stored)
        tail = stored[-4096:]
        assert max(tail.count(bytes([b])) for b in range(256)) < 64  # no run of zeros or marks


def test_a_tampered_trailer_is_no_silent_truncation() -> None:
    identity = X25519Identity.generate()
    header, stored, _ = padded(identity, b"the whole document" * 100)
    broken = stored[:-1] + bytes([stored[-1] ^ 1])
    assert padded_payload_size([identity], header, io.BytesIO(broken)) is None
    with pytest.raises(DecryptionError):  # read as unpadded: the fill fails authentication
        b"".join(decrypt_detached([identity], header, io.BytesIO(broken)))


def test_an_unpadded_payload_still_reads() -> None:
    identity = X25519Identity.generate()
    out = io.BytesIO()
    with Encryptor([identity.recipient()], out, detached=True) as encryptor:
        encryptor.write(b"written before padding existed")
    assert padded_payload_size([identity], encryptor.header, io.BytesIO(out.getvalue())) is None
    assert b"".join(decrypt_detached([identity], encryptor.header,
                                     io.BytesIO(out.getvalue()))) == (
        b"written before padding existed")


@pytest.mark.interop
@pytest.mark.parametrize("size", [0, 65536, 200_000])
def test_the_cut_file_decrypts_with_debian_age(debian_age: str, tmp_path: Path,  # noqa: F811
                                               size: int) -> None:
    identity = X25519Identity.generate()
    data = random.Random(size).randbytes(size)
    header, stored, payload = padded(identity, data)
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n")
    assert run([debian_age, "-d", "-i", str(key)], header + stored[:payload]) == data


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["x25519", "pq"])
def test_the_cut_file_decrypts_with_npm_age_encryption(node: str, kind: str) -> None:  # noqa: F811
    identity = HybridIdentity.generate() if kind == "pq" else X25519Identity.generate()
    data = random.Random(3).randbytes(70_000)
    header, stored, payload = padded(identity, data)
    out = run(node_script(node, "decrypt.mjs", "-i", str(identity)), header + stored[:payload])
    assert out == data
