"""Every vector of the age conformance testkit (vendored in tests/crypto/age-testkit).

A vector passes when decryption succeeds with the expected plaintext hash,
or fails with exactly the expected kind of error. For payload failures we
also check that no unverified chunk was released: every chunk yielded
before the failure must be a prefix of a full chunk boundary.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tipbox.crypto import (
    ArmorError,
    DecryptionError,
    HeaderError,
    MacError,
    NoIdentityMatch,
    PayloadError,
    ScryptIdentity,
    decrypt_stream,
    parse_identity,
)
from tipbox.crypto.interfaces import Identity

TESTKIT = Path(__file__).resolve().parent / "age-testkit"

EXPECTED_ERRORS: dict[str, type[DecryptionError]] = {
    "header failure": HeaderError,
    "HMAC failure": MacError,
    "no match": NoIdentityMatch,
    "payload failure": PayloadError,
    "armor failure": ArmorError,
}


@dataclass
class Vector:
    name: str
    expect: str
    payload_sha256: str | None = None
    identities: list[Identity] = field(default_factory=list)
    armored: bool = False
    body: bytes = b""


def load(path: Path) -> Vector:
    raw = path.read_bytes()
    meta, body = raw.split(b"\n\n", 1)
    vector = Vector(path.name, "", body=body)
    for line in meta.decode().splitlines():
        key, value = line.split(": ", 1)
        if key == "expect":
            vector.expect = value
        elif key == "payload":
            vector.payload_sha256 = value
        elif key == "identity":
            vector.identities.append(parse_identity(value))
        elif key == "passphrase":
            vector.identities.append(ScryptIdentity(value))
        elif key == "armored":
            vector.armored = value == "yes"
        elif key == "compressed":
            assert value == "zlib"
            vector.body = zlib.decompress(body)
    return vector


def vector_paths() -> list[Path]:
    names = (p for p in TESTKIT.iterdir() if p.name != "README.md")
    return sorted(p for p in names if not p.name.startswith("."))


def test_testkit_is_present_and_complete() -> None:
    assert len(vector_paths()) == 143


@pytest.mark.parametrize("path", vector_paths(), ids=lambda p: p.name)
def test_vector(path: Path) -> None:
    vector = load(path)
    released: list[bytes] = []

    def run() -> None:
        source = io.BytesIO(vector.body)
        for chunk in decrypt_stream(vector.identities, source, armored=vector.armored):
            released.append(chunk)

    if vector.expect == "success":
        run()
        assert hashlib.sha256(b"".join(released)).hexdigest() == vector.payload_sha256
        return
    error = EXPECTED_ERRORS[vector.expect]
    with pytest.raises(DecryptionError) as caught:
        run()
    assert type(caught.value) is error, f"{vector.name}: {caught.value!r}"
    assert all(len(chunk) == 64 * 1024 for chunk in released)
