"""The symmetric seal (:mod:`tipbox.crypto.seal`): what opens and what does not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbox.crypto import DecryptionError, SealError, seal, unseal

KEY = bytes(range(32))
OTHER_KEY = bytes(31) + b"\x01"


def test_round_trip() -> None:
    sealed = seal(KEY, b"secret", context=b"a")
    assert unseal(KEY, sealed, context=b"a") == b"secret"


def test_seal_binds_key_and_context() -> None:
    key = bytes(32)
    sealed = seal(key, b"secret", context=b"a")
    assert unseal(key, sealed, context=b"a") == b"secret"
    with pytest.raises(SealError):
        unseal(key, sealed, context=b"b")
    with pytest.raises(SealError):
        unseal(bytes(31) + b"\x01", sealed, context=b"a")
    with pytest.raises(SealError):
        unseal(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), context=b"a")


def test_format_is_version_nonce_ciphertext_tag() -> None:
    sealed = seal(KEY, b"secret", context=b"a")
    assert sealed[:1] == b"\x01"
    assert len(sealed) == 1 + 12 + len(b"secret") + 16
    assert seal(KEY, b"secret", context=b"a") != sealed  # a fresh nonce each time


def test_wrong_key_does_not_open() -> None:
    with pytest.raises(SealError):
        unseal(OTHER_KEY, seal(KEY, b"secret", context=b"a"), context=b"a")


def test_wrong_context_does_not_open() -> None:
    with pytest.raises(SealError):
        unseal(KEY, seal(KEY, b"secret", context=b"a"), context=b"b")


@pytest.mark.parametrize("cut", [0, 1, 13, 28])
def test_truncated_input_does_not_open(cut: int) -> None:
    sealed = seal(KEY, b"", context=b"a")
    with pytest.raises(SealError):
        unseal(KEY, sealed[:cut], context=b"a")


def test_unknown_version_does_not_open() -> None:
    sealed = seal(KEY, b"secret", context=b"a")
    with pytest.raises(SealError):
        unseal(KEY, b"\x02" + sealed[1:], context=b"a")


def test_seal_error_is_a_decryption_error() -> None:
    assert issubclass(SealError, DecryptionError)


@settings(max_examples=100, deadline=None)
@given(plaintext=st.binary(max_size=200), context=st.binary(max_size=40), data=st.data())
def test_any_altered_byte_is_refused(plaintext: bytes, context: bytes, data: st.DataObject
                                     ) -> None:
    sealed = seal(KEY, plaintext, context=context)
    assert unseal(KEY, sealed, context=context) == plaintext
    position = data.draw(st.integers(0, len(sealed) - 1))
    flip = data.draw(st.integers(1, 255))
    altered = sealed[:position] + bytes([sealed[position] ^ flip]) + sealed[position + 1 :]
    with pytest.raises(SealError):
        unseal(KEY, altered, context=context)
