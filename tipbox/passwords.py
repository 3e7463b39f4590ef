"""Argon2id key derivation for secrets people type: codenames and passwords.

One Argon2id derivation turns a secret and a salt into 32 bytes of input key
material, which HKDF-SHA256 splits into independent, named 32-byte subkeys.
The expensive part happens exactly once per attempt; every subkey costs the
same to an attacker as the whole derivation.

- Codenames (DESIGN 6): ``lookup_id`` (stored, indexes the source) and
  ``identity_seed`` (the seed of the source's age identity, never stored).
- Reviewer passwords (DESIGN 5): ``verifier`` (stored, compared with
  :func:`secrets_equal`) and ``kek`` (wraps the reviewer's identity, never
  stored).

Knowing one subkey reveals nothing about another (HKDF with distinct
``info`` labels). Parameters are always explicit so that they can be stored
next to what they protect and raised later.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.errors import InvalidInput

__all__ = [
    "Argon2Params",
    "CodenameKeys",
    "PasswordKeys",
    "SALT_BYTES",
    "codename_keys",
    "derive_subkeys",
    "new_salt",
    "password_keys",
    "secrets_equal",
]

SALT_BYTES = 16
SUBKEY_BYTES = 32
_LABEL_PREFIX = b"tipbox v1 "
_ENCODED = re.compile(r"argon2id\$t=(\d{1,9})\$m=(\d{1,12})\$p=(\d{1,4})")


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """Cost parameters of one Argon2id derivation.

    ``memory_kib`` is in KiB, as Argon2 counts it. The defaults follow the
    RFC 9106 low-memory profile (t=3, 64 MiB, p=4). Raises
    :class:`~tipbox.errors.InvalidInput` for values Argon2 would refuse.
    """

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 1:
            raise InvalidInput("Argon2 time cost must be at least 1")
        if not 1 <= self.parallelism <= 255:
            raise InvalidInput("Argon2 parallelism must be between 1 and 255")
        if self.memory_kib < 8 * self.parallelism:
            raise InvalidInput("Argon2 memory must be at least 8 KiB per lane")

    def encode(self) -> str:
        """Return a storable form, e.g. ``argon2id$t=3$m=65536$p=4``."""
        return f"argon2id$t={self.time_cost}$m={self.memory_kib}$p={self.parallelism}"

    @classmethod
    def decode(cls, text: str) -> Argon2Params:
        """Parse :meth:`encode`'s output; raises ``InvalidInput`` otherwise."""
        match = _ENCODED.fullmatch(text)
        if match is None:
            raise InvalidInput("malformed Argon2 parameters")
        time_cost, memory_kib, parallelism = (int(group) for group in match.groups())
        return cls(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)


@dataclass(frozen=True, slots=True, repr=False)
class CodenameKeys:
    """What a codename derives to. ``identity_seed`` must never be stored."""

    lookup_id: bytes
    identity_seed: bytes

    def __repr__(self) -> str:
        return "CodenameKeys(<secret>)"


@dataclass(frozen=True, slots=True, repr=False)
class PasswordKeys:
    """What a password derives to. ``kek`` must never be stored."""

    verifier: bytes
    kek: bytes

    def __repr__(self) -> str:
        return "PasswordKeys(<secret>)"


def new_salt() -> bytes:
    """Return a fresh random salt of :data:`SALT_BYTES` bytes."""
    return secrets.token_bytes(SALT_BYTES)


def derive_subkeys(
    secret: bytes, *, salt: bytes, params: Argon2Params, labels: Sequence[str]
) -> dict[str, bytes]:
    """Run Argon2id once on ``secret`` and split the result into named subkeys.

    Each label gives an independent 32-byte key (HKDF-SHA256, ``info`` =
    ``b"tipbox v1 " + label``). The salt must be at least 8 bytes. The
    secret is not copied anywhere beyond the Argon2 call.
    """
    if len(salt) < 8:
        raise InvalidInput("salt must be at least 8 bytes")
    master = hash_secret_raw(
        secret=secret,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=SUBKEY_BYTES,
        type=Type.ID,
    )
    return {label: _expand(master, label) for label in labels}


def _expand(master: bytes, label: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=SUBKEY_BYTES,
        salt=None,
        info=_LABEL_PREFIX + label.encode("ascii"),
    )
    return hkdf.derive(master)


def codename_keys(normalised: str, *, salt: bytes, params: Argon2Params) -> CodenameKeys:
    """Derive a source's lookup id and identity seed from its codename.

    ``normalised`` is the canonical text of the codename (see
    :meth:`tipbox.codenames.Codename.parse`); the same text always gives the
    same keys for a given instance salt and parameters.
    """
    keys = derive_subkeys(
        normalised.encode("utf-8", "surrogatepass"),
        salt=salt,
        params=params,
        labels=("codename lookup-id", "codename identity-seed"),
    )
    return CodenameKeys(
        lookup_id=keys["codename lookup-id"], identity_seed=keys["codename identity-seed"]
    )


def password_keys(password: str, *, salt: bytes, params: Argon2Params) -> PasswordKeys:
    """Derive a reviewer's password verifier and key-encryption key.

    The password is used exactly as given (UTF-8); callers decide on any
    normalisation before calling.
    """
    keys = derive_subkeys(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        params=params,
        labels=("password verifier", "password kek"),
    )
    return PasswordKeys(verifier=keys["password verifier"], kek=keys["password kek"])


def secrets_equal(a: bytes, b: bytes) -> bool:
    """Compare two secrets in time independent of where they differ."""
    return hmac.compare_digest(a, b)
