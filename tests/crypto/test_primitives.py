"""The primitives under the age core are cryptography's, or checked against them.

:mod:`tipbox.crypto.primitives` takes ChaCha20-Poly1305 and X25519 from
``cryptography``'s bindings (a faster start) and computes HKDF and HMAC
with the standard library: the first must be the public classes
themselves, the others must give what ``cryptography`` gives.
"""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers import aead
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbox.crypto import primitives


def test_the_aead_and_x25519_are_cryptographys_own() -> None:
    assert primitives.ChaCha20Poly1305 is aead.ChaCha20Poly1305
    assert isinstance(primitives.x25519_generate(), x25519.X25519PrivateKey)
    secret = os.urandom(32)
    ours = primitives.x25519_private(secret)
    theirs = x25519.X25519PrivateKey.from_private_bytes(secret)
    assert ours.public_key() == theirs.public_key()
    public = theirs.public_key().public_bytes_raw()
    assert primitives.x25519_public(public) == x25519.X25519PublicKey.from_public_bytes(public)
    assert primitives.InvalidTag is InvalidTag


@settings(max_examples=200, deadline=None)
@given(secret=st.binary(max_size=80), salt=st.none() | st.binary(max_size=80),
       info=st.binary(max_size=40), length=st.integers(1, 100))
def test_hkdf_gives_what_cryptography_gives(
    secret: bytes, salt: bytes | None, info: bytes, length: int
) -> None:
    expected = HKDF(hashes.SHA256(), length, salt=salt, info=info).derive(secret)
    assert primitives.hkdf_sha256(secret, salt=salt, info=info, length=length) == expected


@pytest.mark.parametrize("length", [0, 255 * 32 + 1])
def test_hkdf_refuses_lengths_out_of_range(length: int) -> None:
    with pytest.raises(ValueError, match="length"):
        primitives.hkdf_sha256(b"secret", salt=None, info=b"", length=length)


@given(key=st.binary(max_size=100), message=st.binary(max_size=300))
def test_hmac_gives_what_cryptography_gives(key: bytes, message: bytes) -> None:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    assert primitives.hmac_sha256(key, message) == mac.finalize()


@settings(max_examples=300, deadline=None)
@given(plaintext=st.binary(max_size=100), associated=st.none() | st.binary(max_size=30),
       flip=st.integers(min_value=-1, max_value=200), cut=st.integers(0, 20))
def test_open_quietly_opens_exactly_what_decrypt_opens(
    plaintext: bytes, associated: bytes | None, flip: int, cut: int
) -> None:
    cipher = aead.ChaCha20Poly1305(bytes(range(32)))
    nonce = bytes(12)
    sealed = bytearray(cipher.encrypt(nonce, plaintext, associated))
    if 0 <= flip < len(sealed):
        sealed[flip] ^= 0x01
    del sealed[len(sealed) - cut :]
    try:
        expected: bytes | None = cipher.decrypt(nonce, bytes(sealed), associated)
    except InvalidTag:
        expected = None
    assert primitives.open_quietly(cipher, nonce, bytes(sealed), associated) == expected
