"""Classic age keys: ``age1...`` recipients and ``AGE-SECRET-KEY-1...`` identities.

A stanza is ``-> X25519 <ephemeral share>`` with the file key sealed under
HKDF-SHA256 of the X25519 shared secret, salted with the share and the
recipient. A share that is a low-order point (all-zero secret) is a
:class:`HeaderError`. Private key material never appears in ``repr``.
"""

from __future__ import annotations

import os

from tipbox.crypto import bech32
from tipbox.crypto.errors import HeaderError, KeyFormatError
from tipbox.crypto.file_key import check_body, open_file_key, seal_file_key, stanza_args
from tipbox.crypto.header import Stanza, b64decode, b64encode
from tipbox.crypto.primitives import (
    hkdf_sha256,
    x25519_generate,
    x25519_private,
    x25519_public,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import ClassVar

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = ["X25519Identity", "X25519Recipient", "exchange"]

_LABEL = b"age-encryption.org/v1/X25519"


def _wrap_key(secret: bytes, share: bytes, public: bytes) -> bytes:
    return hkdf_sha256(secret, salt=share + public, info=_LABEL)


def exchange(private: X25519PrivateKey, share: bytes) -> bytes:
    """X25519 that refuses low-order points (all-zero shared secret)."""
    try:
        return private.exchange(x25519_public(share))
    except ValueError:
        raise HeaderError("X25519 share is a low-order point") from None


class X25519Recipient:
    """A classic ``age1...`` recipient."""

    kind: ClassVar[str] = "classic"

    def __init__(self, public: bytes) -> None:
        if len(public) != 32:
            raise KeyFormatError("X25519 recipient must be 32 bytes")
        self.public = public

    def wrap(self, file_key: bytes) -> list[Stanza]:
        ephemeral = x25519_generate()
        share = ephemeral.public_key().public_bytes_raw()
        secret = exchange(ephemeral, self.public)
        body = seal_file_key(_wrap_key(secret, share, self.public), file_key)
        return [Stanza("X25519", (b64encode(share).decode(),), body)]

    def __str__(self) -> str:
        return bech32.encode("age", self.public)

    def __repr__(self) -> str:
        return f"X25519Recipient({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other.public == self.public

    def __hash__(self) -> int:
        return hash(self.public)


class X25519Identity:
    """A classic ``AGE-SECRET-KEY-1...`` identity."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise KeyFormatError("X25519 identity must be 32 bytes")
        self._secret = secret
        self._key = x25519_private(secret)

    @classmethod
    def generate(cls) -> X25519Identity:
        return cls(os.urandom(32))

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._key.public_key().public_bytes_raw())

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        public = self._key.public_key().public_bytes_raw()
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            share = b64decode(stanza_args(stanza)[0])
            if len(share) != 32:
                raise HeaderError("X25519 share has the wrong length")
            check_body(stanza)
            secret = exchange(self._key, share)
            file_key = open_file_key(_wrap_key(secret, share, public), stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __str__(self) -> str:
        return bech32.encode("age-secret-key-", self._secret).upper()

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient()})"
