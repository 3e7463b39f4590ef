"""Sealing a short secret under a symmetric key (ChaCha20-Poly1305).

Contract:

- :func:`seal` takes a 32-byte key, the plaintext and a *context* (bytes
  naming what the value is for, e.g. ``b"tipbox reviewer identity|alice"``).
  The context is authenticated but not stored, so a sealed value opens only
  where it was meant to be used.
- Output: a version byte (``0x01``), a random 96-bit nonce, the ciphertext
  and the 16-byte tag. This is an on-disk format: it never changes.
- :func:`unseal` releases nothing unverified. Every failure (wrong key,
  wrong context, truncated, altered, unknown version) is one
  :class:`SealError`, a :class:`~tipbox.crypto.DecryptionError`.
"""

from __future__ import annotations

import os

from tipbox.crypto import primitives
from tipbox.crypto.errors import DecryptionError

__all__ = ["SealError", "seal", "unseal"]

_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SealError(DecryptionError):
    """A sealed value did not open: wrong key, wrong context, malformed or tampered."""


def seal(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under the 32-byte ``key``, bound to ``context``."""
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + primitives.ChaCha20Poly1305(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, *, context: bytes) -> bytes:
    """Open :func:`seal`'s output; raises :class:`SealError` on any mismatch."""
    if len(sealed) < 1 + _NONCE_BYTES + _TAG_BYTES or sealed[:1] != _VERSION:
        raise SealError("malformed sealed value")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return primitives.ChaCha20Poly1305(key).decrypt(nonce, body, context)
    except primitives.InvalidTag:
        raise SealError("sealed value did not open") from None
