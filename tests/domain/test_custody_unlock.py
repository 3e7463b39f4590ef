"""A factor yields a key, the key opens the identity (:mod:`tipbox.services.custody.unlock`)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tipbox.crypto import HybridIdentity, X25519Identity, seal, unseal
from tipbox.errors import AuthenticationFailed
from tipbox.passwords import Argon2Params, PasswordKeys, password_keys
from tipbox.services.custody.unlock import (
    OpenedIdentity,
    PasswordFactor,
    SealedIdentity,
    new_stored_password,
    open_identity,
    seal_identity,
)

CHEAP = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
PASSWORD = "correct horse battery staple"
OPENED = OpenedIdentity(HybridIdentity.generate(), bytes(range(20)))


class CountingDerive:
    """Argon2id at cheap parameters, counting the derivations."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, password: str, salt: bytes, params: Argon2Params) -> PasswordKeys:
        self.calls += 1
        return password_keys(password, salt=salt, params=params)


@dataclass(frozen=True)
class FixedKeyFactor:
    """A stand-in for another factor (a security key's PRF output): a key as such."""

    key: bytes

    def kek(self) -> bytes:
        return self.key


def test_a_password_opens_what_it_sealed() -> None:
    stored, kek = new_stored_password(PASSWORD, CHEAP)
    sealed = seal_identity(kek, OPENED, username="alice")
    factor = PasswordFactor(PASSWORD, stored)
    opened = open_identity(factor.kek(), sealed, username="alice")
    assert str(opened.identity) == str(OPENED.identity)
    assert opened.totp_secret == OPENED.totp_secret
    assert stored.params == CHEAP
    assert kek not in (stored.salt, stored.verifier)


def test_a_wrong_password_yields_no_key() -> None:
    stored, _ = new_stored_password(PASSWORD, CHEAP)
    factor = PasswordFactor("not the password", stored)
    assert not factor.matches()
    with pytest.raises(AuthenticationFailed):
        factor.kek()
    assert PasswordFactor(PASSWORD, stored).matches()


def test_one_derivation_per_use_through_the_given_derive() -> None:
    derive = CountingDerive()
    stored, _ = new_stored_password(PASSWORD, CHEAP, derive=derive)
    factor = PasswordFactor(PASSWORD, stored, derive=derive)
    factor.kek()
    factor.matches()
    assert derive.calls == 3
    assert "horse" not in repr(factor)


def test_another_factor_plugs_in_beside_the_password() -> None:
    factor = FixedKeyFactor(bytes(range(32)))
    sealed = seal_identity(factor.kek(), OPENED, username="alice")
    assert open_identity(factor.kek(), sealed, username="alice").totp_secret == OPENED.totp_secret
    with pytest.raises(AuthenticationFailed):
        open_identity(bytes(32), sealed, username="alice")


def test_sealed_secrets_are_bound_to_their_account_and_purpose() -> None:
    kek = bytes(range(32))
    sealed = seal_identity(kek, OPENED, username="alice")
    with pytest.raises(AuthenticationFailed):
        open_identity(kek, sealed, username="bob")
    swapped = SealedIdentity(identity=sealed.totp_secret, totp_secret=sealed.identity)
    with pytest.raises(AuthenticationFailed):
        open_identity(kek, swapped, username="alice")


def test_a_tampered_value_does_not_open() -> None:
    kek = bytes(range(32))
    sealed = seal_identity(kek, OPENED, username="alice")
    damaged = SealedIdentity(sealed.identity[:-1] + bytes([sealed.identity[-1] ^ 1]),
                             sealed.totp_secret)
    with pytest.raises(AuthenticationFailed):
        open_identity(kek, damaged, username="alice")
    with pytest.raises(AuthenticationFailed):
        open_identity(kek, SealedIdentity(b"", sealed.totp_secret), username="alice")


def test_a_stored_identity_must_be_post_quantum_and_well_formed() -> None:
    kek = bytes(range(32))
    totp = seal(kek, b"secret", context=b"tipbox reviewer totp|alice")
    for text in (str(X25519Identity.generate()), "AGE-SECRET-KEY-garbage"):
        identity = seal(kek, text.encode("ascii"), context=b"tipbox reviewer identity|alice")
        with pytest.raises(AuthenticationFailed):
            open_identity(kek, SealedIdentity(identity, totp), username="alice")


def test_the_stored_format_is_the_seal_under_named_contexts() -> None:
    """Existing accounts must keep opening: the contexts and the seal never change."""
    kek = bytes(range(32))
    sealed = seal_identity(kek, OPENED, username="alice")
    assert unseal(kek, sealed.identity, context=b"tipbox reviewer identity|alice") == (
        str(OPENED.identity).encode("ascii")
    )
    assert unseal(kek, sealed.totp_secret, context=b"tipbox reviewer totp|alice") == (
        OPENED.totp_secret
    )
    identity = seal(kek, str(OPENED.identity).encode("ascii"),
                    context=b"tipbox reviewer identity|alice")
    totp = seal(kek, OPENED.totp_secret, context=b"tipbox reviewer totp|alice")
    opened = open_identity(kek, SealedIdentity(identity, totp), username="alice")
    assert str(opened.identity) == str(OPENED.identity)
