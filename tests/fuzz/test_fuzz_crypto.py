"""Fuzzing the parsers that read hostile bytes: age header, armor, keys.

A fixed-seed hypothesis run (derandomized, so CI is reproducible) of a few
thousand cases. The contract: whatever the input, only the documented
error types escape, never an IndexError, UnicodeError or the like.
"""

from __future__ import annotations

import contextlib
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.crypto import (
    DecryptionError,
    KeyFormatError,
    X25519Identity,
    decrypt,
    decrypt_detached,
    encrypt,
    parse_header_bytes,
    parse_identity,
    parse_recipient,
)

FUZZ = settings(
    max_examples=1500, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
IDENTITY = X25519Identity.generate()
VALID = encrypt([IDENTITY.recipient()], b"fuzz target payload" * 10)
VALID_ARMORED = encrypt([IDENTITY.recipient()], b"fuzz", armor=True)
HEADER_ALPHABET = st.sampled_from(
    [b"age-encryption.org/v1\n", b"-> ", b"X25519 ", b"scrypt ", b"mlkem768x25519 ",
     b"--- ", b"\n", b"\r\n", b"AAAA", b"=", b" ", b"-", b"\x00", b"\xff", b"YWdl"]
)


def mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """Inputs close to a valid file: spliced, overwritten, cut or extended."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(data)))
            insert = draw(st.binary(max_size=8))
            cut = draw(st.integers(0, 8))
            data[position : position + cut] = insert
        return bytes(data)

    return mutate()


def expect_only_decryption_errors(data: bytes) -> None:
    with contextlib.suppress(DecryptionError):
        decrypt([IDENTITY], data)


@FUZZ
@given(data=st.one_of(st.binary(max_size=400), mutations(VALID)))
def test_decrypt_raises_only_decryption_errors(data: bytes) -> None:
    expect_only_decryption_errors(data)


@FUZZ
@given(data=mutations(VALID_ARMORED))
def test_armor_decoder_raises_only_decryption_errors(data: bytes) -> None:
    expect_only_decryption_errors(data)


@FUZZ
@given(parts=st.lists(HEADER_ALPHABET, max_size=30))
def test_header_parser_raises_only_decryption_errors(parts: list[bytes]) -> None:
    header = b"".join(parts)
    try:
        parse_header_bytes(header)
        list(decrypt_detached([IDENTITY], header, io.BytesIO(b"")))
    except DecryptionError:
        pass


@settings(max_examples=500, derandomize=True, deadline=None)
@given(text=st.text(max_size=120))
def test_key_parsers_raise_only_key_format_errors(text: str) -> None:
    for parse in (parse_recipient, parse_identity):
        with contextlib.suppress(KeyFormatError):
            parse(text)
