"""The primitives under the age core, loaded for as little start-up as they cost.

``ChaCha20Poly1305`` and the X25519 functions are ``cryptography``'s own
classes and functions, taken from its compiled bindings
(``cryptography.hazmat.bindings._rust``), which its public modules only
re-export: going through those first imports ``cryptography.utils`` (with
``typing``, ``enum`` and ``re``) and, for X25519, its OpenSSL backend
module, about 15 ms that every run of the offline tool would pay before
its first byte. ``tests/crypto/test_primitives.py`` checks that they are
the very objects the public modules give (``cryptography`` is pinned: a
version that moved them would fail there, and at import).

HKDF-SHA256 and HMAC-SHA256 come from the standard library (``hmac`` over
OpenSSL's SHA-256); ``tests/crypto/test_primitives.py`` checks HKDF against
``cryptography``'s. ``InvalidTag`` (what a failed AEAD open raises) is
imported on first use: ``except primitives.InvalidTag:`` looks it up only
when an exception is on its way. Raising it makes ``cryptography`` import
its exceptions module, and ``typing`` with it (8 ms), so the checks that
fail in the normal course of things (is this the padding trailer? is this
stanza ours?) use :func:`open_quietly` instead.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.bindings._rust import openssl as _openssl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.exceptions import InvalidTag

__all__ = [
    "ChaCha20Poly1305",
    "InvalidTag",
    "hkdf_sha256",
    "hmac_sha256",
    "macs_equal",
    "open_quietly",
    "x25519_generate",
    "x25519_private",
    "x25519_public",
]

ChaCha20Poly1305 = _openssl.aead.ChaCha20Poly1305
x25519_generate = _openssl.x25519.generate_key
x25519_private = _openssl.x25519.from_private_bytes
x25519_public = _openssl.x25519.from_public_bytes

_HASH_SIZE = 32
_TAG_SIZE = 16


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def macs_equal(expected: bytes, given: bytes) -> bool:
    """Compare two MACs in constant time."""
    return hmac.compare_digest(expected, given)


def hkdf_sha256(secret: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """HKDF with SHA-256 (RFC 5869); no salt is a salt of zeros, as the RFC says."""
    if not 0 < length <= 255 * _HASH_SIZE:
        raise ValueError("HKDF output length out of range")
    key = hmac_sha256(salt or bytes(_HASH_SIZE), secret)
    output, block = b"", b""
    for counter in range(1, -(-length // _HASH_SIZE) + 1):
        block = hmac_sha256(key, block + info + bytes((counter,)))
        output += block
    return output[:length]


def open_quietly(aead: ChaCha20Poly1305, nonce: bytes, sealed: bytes,
                 associated: bytes | None) -> bytes | None:
    """``aead.decrypt(nonce, sealed, associated)``, or ``None`` where it would raise InvalidTag.

    The check ``decrypt`` makes, without an exception: the plaintext is the
    ciphertext XOR the keystream (which encrypting zeros gives), and it is
    genuine exactly when sealing it again gives the same tag (compared in
    constant time). Two encryptions of a short value: for file keys and
    trailers, not payloads.
    """
    size = len(sealed) - _TAG_SIZE
    if size < 0:
        return None
    keystream = aead.encrypt(nonce, bytes(size), associated)[:size]
    plaintext = (int.from_bytes(sealed[:size]) ^ int.from_bytes(keystream)).to_bytes(size)
    resealed = aead.encrypt(nonce, plaintext, associated)
    return plaintext if macs_equal(resealed[size:], bytes(sealed[size:])) else None


def __getattr__(name: str) -> object:
    if name == "InvalidTag":
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - see the docstring

        return InvalidTag
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
