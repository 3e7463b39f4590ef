"""Argon2id + HKDF derivation of codename and password subkeys."""

from __future__ import annotations

import pytest

from tipbox.errors import InvalidInput
from tipbox.passwords import (
    Argon2Params,
    codename_keys,
    derive_subkeys,
    new_salt,
    password_keys,
    secrets_equal,
)

CHEAP = Argon2Params(time_cost=1, memory_kib=8, parallelism=1)
SALT = b"0123456789abcdef"


def test_derivation_is_deterministic_and_subkeys_are_independent() -> None:
    first = codename_keys("alpha beta", salt=SALT, params=CHEAP)
    again = codename_keys("alpha beta", salt=SALT, params=CHEAP)
    assert first == again
    assert len(first.lookup_id) == len(first.identity_seed) == 32
    assert first.lookup_id != first.identity_seed


def test_salt_secret_and_params_all_change_the_result() -> None:
    base = codename_keys("alpha beta", salt=SALT, params=CHEAP)
    assert codename_keys("alpha betb", salt=SALT, params=CHEAP) != base
    assert codename_keys("alpha beta", salt=b"fedcba9876543210", params=CHEAP) != base
    assert codename_keys("alpha beta", salt=SALT, params=Argon2Params(2, 8, 1)) != base


def test_password_and_codename_labels_are_separate_domains() -> None:
    code = codename_keys("same secret", salt=SALT, params=CHEAP)
    word = password_keys("same secret", salt=SALT, params=CHEAP)
    assert {code.lookup_id, code.identity_seed}.isdisjoint({word.verifier, word.kek})
    assert word.verifier != word.kek


def test_subkeys_are_hkdf_of_the_argon2id_output() -> None:
    from argon2.low_level import Type, hash_secret_raw
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    master = hash_secret_raw(b"pw", SALT, 1, 8, 1, 32, Type.ID)
    keys = derive_subkeys(b"pw", salt=SALT, params=CHEAP, labels=("a", "b"))
    for label in ("a", "b"):
        hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"tipbox v1 " + label.encode())
        assert keys[label] == hkdf.derive(master)
    assert master not in keys.values()


def test_short_salt_is_refused() -> None:
    with pytest.raises(InvalidInput, match="salt"):
        derive_subkeys(b"x", salt=b"short", params=CHEAP, labels=("a",))


def test_params_encode_and_decode() -> None:
    params = Argon2Params(time_cost=3, memory_kib=65536, parallelism=4)
    assert params.encode() == "argon2id$t=3$m=65536$p=4"
    assert Argon2Params.decode(params.encode()) == params
    with pytest.raises(InvalidInput):
        Argon2Params.decode("argon2i$t=3$m=65536$p=4")


@pytest.mark.parametrize(("t", "m", "p"), [(0, 8, 1), (1, 7, 1), (1, 8, 0), (1, 15, 2)])
def test_invalid_params_are_refused(t: int, m: int, p: int) -> None:
    with pytest.raises(InvalidInput):
        Argon2Params(time_cost=t, memory_kib=m, parallelism=p)


def test_secrets_never_appear_in_repr() -> None:
    keys = password_keys("hunter2 hunter2", salt=SALT, params=CHEAP)
    assert keys.kek.hex() not in repr(keys)
    assert "secret" in repr(keys)
    assert keys.verifier.hex() not in repr(codename_keys("x", salt=SALT, params=CHEAP))


def test_secrets_equal_and_salts() -> None:
    assert secrets_equal(b"abc", b"abc")
    assert not secrets_equal(b"abc", b"abd")
    assert len(new_salt()) == 16
    assert new_salt() != new_salt()
