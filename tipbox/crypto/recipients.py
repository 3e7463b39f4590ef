"""The recipient and identity types: X25519, mlkem768x25519 and scrypt.

A recipient wraps a 16-byte file key into stanzas; an identity unwraps it.
``unwrap`` returns ``None`` when no stanza is addressed to the identity and
raises :class:`HeaderError` when a stanza of its own type is malformed, as
the spec requires. Private key material never appears in ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tipbox.crypto import bech32
from tipbox.crypto.errors import HeaderError, KeyFormatError
from tipbox.crypto.header import Stanza, b64decode, b64encode

FILE_KEY_SIZE = 16
_WRAPPED_SIZE = FILE_KEY_SIZE + 16
_ZERO_NONCE = bytes(12)


class Recipient(Protocol):
    """Something a file key can be wrapped to. ``str()`` gives its encoding."""

    kind: ClassVar[str]  # "classic", "pq" or "scrypt": decides what may be mixed

    def wrap(self, file_key: bytes) -> list[Stanza]: ...


class Identity(Protocol):
    """Something that can unwrap a file key from a header's stanzas."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def _seal(key: bytes, file_key: bytes) -> bytes:
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def _open(key: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


def _check_body(stanza: Stanza) -> None:
    if len(stanza.body) != _WRAPPED_SIZE:
        raise HeaderError(f"{stanza.type} stanza body has the wrong length")


def _single_arg(stanza: Stanza, count: int = 1) -> tuple[str, ...]:
    if len(stanza.args) != count:
        raise HeaderError(f"{stanza.type} stanza has the wrong number of arguments")
    return stanza.args


# --- X25519 ---------------------------------------------------------------

_X25519_LABEL = b"age-encryption.org/v1/X25519"


def _x25519_wrap_key(secret: bytes, share: bytes, public: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=share + public, info=_X25519_LABEL).derive(secret)


def _x25519_exchange(private: X25519PrivateKey, share: bytes) -> bytes:
    """X25519 that refuses low-order points (all-zero shared secret)."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(share))
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
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        secret = _x25519_exchange(ephemeral, self.public)
        body = _seal(_x25519_wrap_key(secret, share, self.public), file_key)
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
        self._key = X25519PrivateKey.from_private_bytes(secret)

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
            share = b64decode(_single_arg(stanza)[0])
            if len(share) != 32:
                raise HeaderError("X25519 share has the wrong length")
            _check_body(stanza)
            secret = _x25519_exchange(self._key, share)
            file_key = _open(_x25519_wrap_key(secret, share, public), stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __str__(self) -> str:
        return bech32.encode("age-secret-key-", self._secret).upper()

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient()})"


# --- mlkem768x25519 (age v1.3 hybrid, post-quantum) -----------------------

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
                X25519PublicKey.from_public_bytes(public[_MLKEM_PUBLIC_SIZE:]),
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
    """A post-quantum ``AGE-SECRET-KEY-PQ-1...`` identity: a 32-byte seed.

    The seed is expanded with SHAKE256 into the ML-KEM-768 seed (64 bytes)
    and the X25519 scalar (32 bytes), as the MLKEM768-X25519 KEM specifies.
    """

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise KeyFormatError("mlkem768x25519 identity must be a 32-byte seed")
        self._seed = seed
        expanded = _digest(hashes.SHAKE256(96), seed)
        self._x25519 = X25519PrivateKey.from_private_bytes(expanded[64:])
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
            enc = b64decode(_single_arg(stanza)[0])
            if len(enc) != _ENC_SIZE:
                raise HeaderError("mlkem768x25519 enc has the wrong length")
            _check_body(stanza)
            _x25519_exchange(self._x25519, enc[_MLKEM_CIPHERTEXT_SIZE:])
            try:
                return _HPKE.decrypt(enc + stanza.body, self._key, info=_HPKE_INFO)
            except (InvalidTag, ValueError):
                continue
        return None

    def __str__(self) -> str:
        return bech32.encode("age-secret-key-pq-", self._seed).upper()

    def __repr__(self) -> str:
        return "HybridIdentity(...)"


# --- scrypt (passphrase) --------------------------------------------------

_SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
_WORK_FACTOR = re.compile(r"[1-9][0-9]?")
DEFAULT_WORK_FACTOR = 18
MAX_WORK_FACTOR = 22


def _scrypt_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


class ScryptRecipient:
    """A passphrase. It must be the only recipient of a file."""

    kind: ClassVar[str] = "scrypt"

    def __init__(self, passphrase: str | bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        if not 1 <= work_factor <= 30:
            raise ValueError("scrypt work factor out of range")
        self._passphrase = _passphrase_bytes(passphrase)
        self.work_factor = work_factor

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(16)
        body = _seal(_scrypt_key(self._passphrase, salt, self.work_factor), file_key)
        return [Stanza("scrypt", (b64encode(salt).decode(), str(self.work_factor)), body)]

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"


class ScryptIdentity:
    """A passphrase for decryption; refuses work factors above ``max_work_factor``.

    The ceiling matters: a hostile file could otherwise ask for gigabytes of
    memory and minutes of CPU (2^23 needs 8 GiB).
    """

    def __init__(self, passphrase: str | bytes, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self.max_work_factor = max_work_factor

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "scrypt":
                continue
            salt_text, factor_text = _single_arg(stanza, 2)
            salt = b64decode(salt_text)
            if len(salt) != 16:
                raise HeaderError("scrypt salt has the wrong length")
            if not _WORK_FACTOR.fullmatch(factor_text):
                raise HeaderError("invalid scrypt work factor")
            work_factor = int(factor_text)
            if work_factor > self.max_work_factor:
                raise HeaderError("scrypt work factor too high")
            _check_body(stanza)
            file_key = _open(_scrypt_key(self._passphrase, salt, work_factor), stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __repr__(self) -> str:
        return "ScryptIdentity(...)"


# --- parsing --------------------------------------------------------------


def parse_recipient(text: str) -> X25519Recipient | HybridRecipient:
    """Parse ``age1...`` or ``age1pq1...``; raise :class:`KeyFormatError`."""
    text = text.strip()
    if text != text.lower():
        raise KeyFormatError("recipients are lower case")
    hrp, data = bech32.decode(text)
    if hrp == "age":
        return X25519Recipient(data)
    if hrp == "age1pq":
        return HybridRecipient(data)
    raise KeyFormatError(f"unknown recipient type {hrp!r}")


def parse_identity(text: str) -> X25519Identity | HybridIdentity:
    """Parse ``AGE-SECRET-KEY-1...`` or ``AGE-SECRET-KEY-PQ-1...``."""
    text = text.strip()
    if text != text.upper():
        raise KeyFormatError("identities are upper case")
    hrp, data = bech32.decode(text)
    if hrp == "age-secret-key-":
        return X25519Identity(data)
    if hrp == "age-secret-key-pq-":
        return HybridIdentity(data)
    raise KeyFormatError("unknown identity type")


def parse_identity_file(text: str) -> list[X25519Identity | HybridIdentity]:
    """Parse an identity file: one identity a line, ``#`` comments, blank lines."""
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(parse_identity(line))
        except KeyFormatError as error:
            raise KeyFormatError(f"line {number}: {error}") from None
    if not identities:
        raise KeyFormatError("no identities found")
    return identities


def fingerprint(recipient: object) -> str:
    """A short human-comparable fingerprint (128 bits of SHA-256) of a recipient."""
    digest = _digest(hashes.SHA256(), str(recipient).encode("ascii")).hex()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()
