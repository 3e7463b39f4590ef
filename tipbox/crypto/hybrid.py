"""Post-quantum age keys: mlkem768x25519 (age v1.3), ``age1pq1...`` and ``AGE-SECRET-KEY-PQ-1...``.

The file key is sealed with HPKE (ML-KEM-768 + X25519 KEM, HKDF-SHA256,
ChaCha20-Poly1305) under the info string ``age-encryption.org/mlkem768x25519``;
the stanza is ``-> mlkem768x25519 <enc>`` and the sealed key. The identity
is a 32-byte seed, expanded with SHAKE256 into the ML-KEM-768 seed (64
bytes) and the X25519 scalar (32 bytes), as the MLKEM768-X25519 KEM
specifies. Loaded only where such a key is used (ML-KEM and HPKE cost the
offline tool's start-up several milliseconds). Private key material never
appears in ``repr``.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem

from tipbox.crypto import bech32, primitives
from tipbox.crypto.errors import HeaderError, KeyFormatError
from tipbox.crypto.file_key import check_body, stanza_args
from tipbox.crypto.header import Stanza, b64decode, b64encode
from tipbox.crypto.x25519 import exchange

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import ClassVar

__all__ = ["HybridIdentity", "HybridRecipient"]

_HPKE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_HPKE_INFO = b"age-encryption.org/mlkem768x25519"
_MLKEM_PUBLIC_SIZE = 1184
_MLKEM_CIPHERTEXT_SIZE = 1088
_ENC_SIZE = _MLKEM_CIPHERTEXT_SIZE + 32


class HybridRecipient:
    """A post-quantum ``age1pq1...`` recipient (ML-KEM-768 + X25519)."""

    kind: ClassVar[str] = "pq"

    def __init__(self, public: bytes) -> None:
        if len(public) != _MLKEM_PUBLIC_SIZE + 32:
            raise KeyFormatError("mlkem768x25519 recipient has the wrong length")
        self.public = public
        try:
            self._key = hpke.MLKEM768X25519PublicKey(
                mlkem.MLKEM768PublicKey.from_public_bytes(public[:_MLKEM_PUBLIC_SIZE]),
                primitives.x25519_public(public[_MLKEM_PUBLIC_SIZE:]),
            )
        except ValueError:
            raise KeyFormatError("invalid mlkem768x25519 public key") from None

    def wrap(self, file_key: bytes) -> list[Stanza]:
        sealed = _HPKE.encrypt(file_key, self._key, info=_HPKE_INFO)
        enc, body = sealed[:_ENC_SIZE], sealed[_ENC_SIZE:]
        return [Stanza("mlkem768x25519", (b64encode(enc).decode(),), body)]

    def __str__(self) -> str:
        return bech32.encode("age1pq", self.public)

    def __repr__(self) -> str:
        return f"HybridRecipient({str(self)[:20]}...)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HybridRecipient) and other.public == self.public

    def __hash__(self) -> int:
        return hash(self.public)


class HybridIdentity:
    """A post-quantum ``AGE-SECRET-KEY-PQ-1...`` identity: a 32-byte seed."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise KeyFormatError("mlkem768x25519 identity must be a 32-byte seed")
        self._seed = seed
        expanded = hashlib.shake_256(seed).digest(96)
        self._x25519 = primitives.x25519_private(expanded[64:])
        self._mlkem = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
        self._key = hpke.MLKEM768X25519PrivateKey(self._mlkem, self._x25519)

    @classmethod
    def generate(cls) -> HybridIdentity:
        return cls(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> HybridIdentity:
        """The identity of a 32-byte secret seed (e.g. one derived from a codename)."""
        return cls(seed)

    def recipient(self) -> HybridRecipient:
        mlkem_public = self._mlkem.public_key().public_bytes_raw()
        return HybridRecipient(mlkem_public + self._x25519.public_key().public_bytes_raw())

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "mlkem768x25519":
                continue
            enc = b64decode(stanza_args(stanza)[0])
            if len(enc) != _ENC_SIZE:
                raise HeaderError("mlkem768x25519 enc has the wrong length")
            check_body(stanza)
            exchange(self._x25519, enc[_MLKEM_CIPHERTEXT_SIZE:])
            try:
                return _HPKE.decrypt(enc + stanza.body, self._key, info=_HPKE_INFO)
            except (primitives.InvalidTag, ValueError):
                continue
        return None

    def __str__(self) -> str:
        return bech32.encode("age-secret-key-pq-", self._seed).upper()

    def __repr__(self) -> str:
        return "HybridIdentity(...)"
