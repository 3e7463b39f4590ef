"""Unlocking a reviewer's own key: a factor yields a key, the key opens the identity.

Security contract (DESIGN 5, issue 4):

- A **factor** (:class:`Factor`) is what a reviewer presents; it yields a
  32-byte *key-encryption key* (KEK) or raises ``AuthenticationFailed``.
  The password is one (:class:`PasswordFactor`), a security key's PRF
  output another (:class:`PrfFactor`); a recovery share would be a third,
  beside them, with no change to what the KEK opens.
- **Password.** One Argon2id derivation (parameters and salt stored per
  account, :class:`StoredPassword`), split by HKDF into a *verifier*
  (stored, compared with :func:`hmac.compare_digest`) and the KEK (never
  stored).
- **Security key (PRF).** A WebAuthn authenticator with the PRF extension
  (CTAP ``hmac-secret``) returns 32 bytes that depend on a secret inside the
  authenticator, the credential and a salt the server sends (stored per
  credential, :func:`new_prf_salt`, not secret). HKDF-SHA256 of that output,
  salted with the credential's salt, under its own label, is the KEK. The
  output is never stored; without the authenticator the server cannot
  compute it. The caller proves first that the authenticator signed the
  ceremony (WebAuthn assertion): the PRF output itself is not signed.
- **What the KEK opens** (:func:`open_identity`): the reviewer's
  :class:`~tipbox.crypto.HybridIdentity` and TOTP secret, each stored only
  sealed under the KEK (:func:`tipbox.crypto.seal`: ChaCha20-Poly1305,
  random 96-bit nonce, associated data naming the purpose and the
  username, so neither value opens in place of the other or of another
  account). age's scrypt recipient is deliberately not used: it would add a
  second slow KDF with its own parameters to a key that is already the
  output of Argon2id. Without a factor, the database opens neither the
  identity nor the TOTP secret, and hence no grant.
- The stored format (:func:`seal_identity`) never changes: existing
  accounts keep opening.
- Every failure (wrong password, a sealed value that does not open, a
  stored identity that is malformed or not post-quantum) raises
  ``AuthenticationFailed``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto import HybridIdentity, KeyFormatError, SealError, parse_identity, seal, unseal
from tipbox.errors import AuthenticationFailed
from tipbox.passwords import Argon2Params, PasswordKeys, new_salt, password_keys

__all__ = [
    "Derive",
    "Factor",
    "OpenedIdentity",
    "PRF_OUTPUT_BYTES",
    "PRF_SALT_BYTES",
    "PasswordFactor",
    "PrfFactor",
    "SealedIdentity",
    "StoredPassword",
    "WRONG_FACTOR",
    "new_prf_salt",
    "new_stored_password",
    "open_identity",
    "seal_identity",
]

#: One Argon2id derivation: ``(password, salt, params) -> keys`` (the caller may cap them).
Derive = Callable[[str, bytes, Argon2Params], PasswordKeys]

#: The one message of every refused factor (it never says which part was wrong).
WRONG_FACTOR = "wrong username, password or code"

#: The size of a PRF salt (per credential) and of what the authenticator returns.
PRF_SALT_BYTES = 32
PRF_OUTPUT_BYTES = 32
_PRF_KEK_INFO = b"tipbox reviewer security key kek v1"


def _password_keys(password: str, salt: bytes, params: Argon2Params) -> PasswordKeys:
    return password_keys(password, salt=salt, params=params)


class Factor(Protocol):
    """Something a reviewer presents that yields a key-encryption key."""

    def kek(self) -> bytes:
        """The 32-byte KEK; raises ``AuthenticationFailed`` if the factor is wrong."""
        ...


@dataclass(frozen=True, slots=True)
class StoredPassword:
    """What is stored of a password: Argon2 parameters, salt and verifier (no secret)."""

    params: Argon2Params
    salt: bytes
    verifier: bytes


@dataclass(frozen=True, slots=True, repr=False)
class PasswordFactor:
    """A typed password, checked against its :class:`StoredPassword`."""

    password: str
    stored: StoredPassword
    derive: Derive = _password_keys

    def matches(self) -> bool:
        """True if the password is the stored one (one derivation)."""
        return hmac.compare_digest(self._keys().verifier, self.stored.verifier)

    def kek(self) -> bytes:
        """The KEK of the password (one derivation); ``AuthenticationFailed`` if wrong."""
        keys = self._keys()
        if not hmac.compare_digest(keys.verifier, self.stored.verifier):
            raise AuthenticationFailed(WRONG_FACTOR)
        return keys.kek

    def _keys(self) -> PasswordKeys:
        return self.derive(self.password, self.stored.salt, self.stored.params)

    def __repr__(self) -> str:
        return "PasswordFactor(<secret>)"


def new_stored_password(
    password: str, params: Argon2Params, *, derive: Derive = _password_keys
) -> tuple[StoredPassword, bytes]:
    """What to store of a new ``password`` (fresh salt), and its KEK (never to be stored)."""
    salt = new_salt()
    keys = derive(password, salt, params)
    return StoredPassword(params, salt, keys.verifier), keys.kek


def new_prf_salt() -> bytes:
    """A fresh random salt for one credential's PRF (sent to the authenticator, stored)."""
    return secrets.token_bytes(PRF_SALT_BYTES)


@dataclass(frozen=True, slots=True, repr=False)
class PrfFactor:
    """A security key's PRF output for a credential's ``salt``.

    The caller must have verified the authenticator's assertion of the same
    ceremony: this class only turns the output into a KEK (a wrong output
    yields a KEK that opens nothing, which :func:`open_identity` reports).
    """

    output: bytes
    salt: bytes

    def kek(self) -> bytes:
        """HKDF-SHA256 of the output (salt: the credential's); ``AuthenticationFailed``
        for an output or salt of the wrong size."""
        if len(self.output) != PRF_OUTPUT_BYTES or len(self.salt) != PRF_SALT_BYTES:
            raise AuthenticationFailed(WRONG_FACTOR)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.salt, info=_PRF_KEK_INFO)
        return hkdf.derive(self.output)

    def __repr__(self) -> str:
        return "PrfFactor(<secret>)"


@dataclass(frozen=True, slots=True, repr=False)
class OpenedIdentity:
    """A reviewer's own identity and TOTP secret, in the clear (memory only)."""

    identity: HybridIdentity
    totp_secret: bytes

    def __repr__(self) -> str:
        return "OpenedIdentity(<secret>)"


@dataclass(frozen=True, slots=True)
class SealedIdentity:
    """The identity text and the TOTP secret, each sealed under the KEK (as stored)."""

    identity: bytes
    totp_secret: bytes


def _identity_context(username: str) -> bytes:
    return b"tipbox reviewer identity|" + username.encode("ascii")


def _totp_context(username: str) -> bytes:
    return b"tipbox reviewer totp|" + username.encode("ascii")


def seal_identity(kek: bytes, opened: OpenedIdentity, *, username: str) -> SealedIdentity:
    """Seal ``username``'s identity and TOTP secret under ``kek``."""
    return SealedIdentity(
        identity=seal(kek, str(opened.identity).encode("ascii"),
                      context=_identity_context(username)),
        totp_secret=seal(kek, opened.totp_secret, context=_totp_context(username)),
    )


def open_identity(kek: bytes, sealed: SealedIdentity, *, username: str) -> OpenedIdentity:
    """Open what :func:`seal_identity` sealed for ``username``; ``AuthenticationFailed`` if not."""
    try:
        identity_text = unseal(kek, sealed.identity, context=_identity_context(username))
        totp_secret = unseal(kek, sealed.totp_secret, context=_totp_context(username))
    except SealError as error:
        raise AuthenticationFailed(str(error)) from None
    return OpenedIdentity(_parse_hybrid(identity_text.decode("ascii")), totp_secret)


def _parse_hybrid(text: str) -> HybridIdentity:
    try:
        identity = parse_identity(text)
    except KeyFormatError:
        raise AuthenticationFailed("stored reviewer identity is malformed") from None
    if not isinstance(identity, HybridIdentity):
        raise AuthenticationFailed("stored reviewer identity is not post-quantum")
    return identity
