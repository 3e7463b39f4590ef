"""The age core's API contracts beyond the testkit: keys, mixing rules, errors."""

from __future__ import annotations

from typing import Any

import pytest

from tipbox.crypto import (
    DecryptionError,
    HybridIdentity,
    KeyFormatError,
    NoIdentityMatch,
    RecipientError,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    encrypt,
    fingerprint,
    parse_identity,
    parse_identity_file,
    parse_recipient,
)
from tipbox.crypto.errors import HeaderError


def test_keys_round_trip_through_their_strings() -> None:
    for identity in (X25519Identity.generate(), HybridIdentity.generate()):
        text = str(identity)
        parsed = parse_identity(text)
        assert str(parsed) == text
        assert parse_recipient(str(identity.recipient())) == identity.recipient()


def test_post_quantum_strings_have_their_prefixes() -> None:
    identity = HybridIdentity.generate()
    assert str(identity).startswith("AGE-SECRET-KEY-PQ-1")
    assert str(identity.recipient()).startswith("age1pq1")
    assert len(str(identity.recipient())) > 90  # beyond BIP 173's limit


def test_seeded_identity_is_deterministic() -> None:
    seed = bytes(range(32))
    assert str(HybridIdentity.from_seed(seed).recipient()) == str(
        HybridIdentity.from_seed(seed).recipient()
    )


@pytest.mark.parametrize(
    "text",
    ["", "age1", "age1qqqq", "AGE1" + "Q" * 58, "age1pq1abc", "bogus", "age1" + "x" * 58],
)
def test_bad_recipient_strings_are_rejected(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_recipient(text)


def test_checksum_errors_are_caught() -> None:
    good = str(X25519Identity.generate().recipient())
    flipped = good[:-1] + ("q" if good[-1] != "q" else "p")
    with pytest.raises(KeyFormatError):
        parse_recipient(flipped)


def test_identity_file_with_comments() -> None:
    identity = HybridIdentity.generate()
    text = f"# created: now\n# public key: {identity.recipient()}\n\n{identity}\n"
    assert [str(i) for i in parse_identity_file(text)] == [str(identity)]
    with pytest.raises(KeyFormatError, match="line 2"):
        parse_identity_file(f"{identity}\nnot a key\n")


def test_mixing_post_quantum_and_classic_is_refused_but_reading_works() -> None:
    pq, classic = HybridIdentity.generate(), X25519Identity.generate()
    with pytest.raises(RecipientError):
        encrypt([pq.recipient(), classic.recipient()], b"x")
    assert decrypt([pq], encrypt([pq.recipient(), HybridIdentity.generate().recipient()], b"x"))


def test_passphrase_must_be_alone_and_work_factor_is_capped() -> None:
    with pytest.raises(RecipientError):
        encrypt([ScryptRecipient("pw", work_factor=10), X25519Identity.generate().recipient()], b"")
    sealed = encrypt([ScryptRecipient("pw", work_factor=12)], b"secret")
    assert decrypt([ScryptIdentity("pw")], sealed) == b"secret"
    with pytest.raises(HeaderError):
        decrypt([ScryptIdentity("pw", max_work_factor=11)], sealed)
    with pytest.raises(NoIdentityMatch):
        decrypt([ScryptIdentity("wrong")], sealed)


def test_wrong_identity_is_no_match() -> None:
    sealed = encrypt([HybridIdentity.generate().recipient()], b"x")
    with pytest.raises(NoIdentityMatch):
        decrypt([HybridIdentity.generate(), X25519Identity.generate()], sealed)


def test_fingerprint_is_stable_and_short() -> None:
    recipient = HybridIdentity.generate().recipient()
    assert fingerprint(recipient) == fingerprint(str(recipient))
    assert len(fingerprint(recipient).split()) == 8


def test_secrets_stay_out_of_repr() -> None:
    for identity in (X25519Identity.generate(), HybridIdentity.generate()):
        assert str(identity) not in repr(identity)


@pytest.mark.parametrize("padding", [b"\n" * 60, b" \r\n\t" * 200])
def test_armor_after_much_leading_whitespace_is_detected(padding: bytes) -> None:
    identity = X25519Identity.generate()
    armored = encrypt([identity.recipient()], b"hi", armor=True)
    assert decrypt([identity], padding + armored + b"\n  ") == b"hi"


def test_armor_spanning_many_reads_round_trips() -> None:
    identity = X25519Identity.generate()
    data = bytes(range(256)) * 2000 + b"tail"
    armored = encrypt([identity.recipient()], data, armor=True)
    assert decrypt([identity], armored) == data
    assert decrypt([identity], armored.replace(b"\n", b"\r\n")) == data


ARMOR_DATA = bytes(range(256)) * 2000


@pytest.fixture(scope="module")
def armored_file() -> tuple[X25519Identity, bytes]:
    identity = X25519Identity.generate()
    return identity, encrypt([identity.recipient()], ARMOR_DATA, armor=True)


@pytest.mark.parametrize(("line", "damage"), [
    (3000, lambda line: line[:10] + b"!" + line[11:]),  # outside the alphabet
    (3000, lambda line: line[:-1]),  # 63 columns
    (3000, lambda line: line + b"A"),  # 65 columns
    (3000, lambda line: line[:-2] + b"=="),  # padding inside
    (5, lambda line: line[:30] + b"\n" + line[30:]),  # a line cut in two
])
def test_damaged_armor_lines_deep_in_a_file_are_refused(
    armored_file: tuple[X25519Identity, bytes], line: int, damage: Any
) -> None:
    identity, armored = armored_file
    lines = armored.split(b"\n")
    lines[line] = damage(lines[line])
    with pytest.raises(DecryptionError):
        decrypt([identity], b"\n".join(lines))
