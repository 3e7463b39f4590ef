"""Shared recovery, service level (issue 17): the recovery identity <-> SLIP-39 shares.

No instance, no CLI: :mod:`tipbox.services.custody.shares` alone, with both
identity kinds, every M-subset in several orders, and every way a set of
shares can be wrong.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
from shamir_mnemonic import generate_mnemonics
from shamir_mnemonic.wordlist import WORDLIST

from tipbox.crypto import HybridIdentity, X25519Identity
from tipbox.services.custody.shares import (
    SHARE_WORDS,
    RecoveryShare,
    RecoveryShares,
    ShareError,
    check_split,
    combine_shares,
    decode_secret,
    encode_secret,
    read_share,
    split_identity,
)

KINDS = [X25519Identity, HybridIdentity]
Identity = X25519Identity | HybridIdentity


def parsed(mnemonics: list[str], name: str = "share") -> list[RecoveryShare]:
    return [read_share(text, f"{name} {n}") for n, text in enumerate(mnemonics, start=1)]


def combined(shares: list[RecoveryShare], passphrase: str = "") -> str:
    return str(combine_shares(shares, passphrase=passphrase))


def replace_word(mnemonic: str, position: int, word: str) -> str:
    words = mnemonic.split()
    words[position] = word
    return " ".join(words)


def another_word(word: str) -> str:
    return WORDLIST[(WORDLIST.index(word) + 1) % len(WORDLIST)]


# -- the encoding of the secret -------------------------------------------------------


@pytest.mark.parametrize(("cls", "kind", "prefix"), [
    (X25519Identity, 1, "AGE-SECRET-KEY-1"),
    (HybridIdentity, 2, "AGE-SECRET-KEY-PQ-1"),
])
def test_the_secret_is_format_kind_and_the_identitys_32_bytes(
    cls: type[Identity], kind: int, prefix: str
) -> None:
    identity = cls(bytes(range(32)))
    secret = encode_secret(identity)
    assert secret == bytes([1, kind]) + bytes(range(32))
    back = decode_secret(secret)
    assert type(back) is cls
    assert str(back) == str(identity)
    assert str(back).startswith(prefix)


@pytest.mark.parametrize("secret", [
    bytes([1, 3]) + bytes(32),  # an unknown kind
    bytes([2, 1]) + bytes(32),  # another format
    bytes([1, 1]) + bytes(30),  # too short
    bytes([1, 1]) + bytes(34),  # too long
])
def test_a_secret_of_another_layout_is_refused(secret: bytes) -> None:
    with pytest.raises(ShareError, match="do not hold a tipbox recovery identity"):
        decode_secret(secret)


# -- splitting and combining ----------------------------------------------------------


@pytest.mark.parametrize("cls", KINDS, ids=["x25519", "pq"])
def test_2_of_3_every_pair_in_every_order(cls: type[Identity]) -> None:
    identity = cls.generate()
    shares = parsed(split_identity(identity, threshold=2, count=3))
    assert len(shares) == 3
    for pair in itertools.permutations(shares, 2):
        assert combined(list(pair)) == str(identity)


@pytest.mark.parametrize("cls", KINDS, ids=["x25519", "pq"])
def test_3_of_5_every_triple_in_several_orders(cls: type[Identity]) -> None:
    identity = cls.generate()
    mnemonics = split_identity(identity, threshold=3, count=5)
    assert all(len(text.split()) == SHARE_WORDS for text in mnemonics)
    shares = parsed(mnemonics)
    shuffle = random.Random(17).shuffle
    for triple in itertools.combinations(shares, 3):
        for order in (list(triple), list(reversed(triple))):
            shuffle(order)
            assert combined(order) == str(identity)
    for order in itertools.permutations(shares[1:4]):
        assert combined(list(order)) == str(identity)
    assert combined(shares) == str(identity)  # all five: the extra ones must fit too


def test_each_split_is_new_and_shares_are_16_at_most() -> None:
    identity = HybridIdentity.generate()
    first = split_identity(identity, threshold=2, count=2)
    second = split_identity(identity, threshold=2, count=2)
    assert set(first).isdisjoint(second)
    assert len(split_identity(identity, threshold=16, count=16)) == 16


@pytest.mark.parametrize(("threshold", "count"), [(1, 3), (1, 1), (4, 3), (2, 17), (0, 2)])
def test_a_split_slip39_cannot_make_is_refused(threshold: int, count: int) -> None:
    with pytest.raises(ShareError, match=r"2 <= threshold <= shares <= 16"):
        check_split(threshold, count)
    with pytest.raises(ShareError):
        split_identity(HybridIdentity.generate(), threshold=threshold, count=count)


def test_words_are_read_in_any_case_and_spacing() -> None:
    identity = X25519Identity.generate()
    first, second = split_identity(identity, threshold=2, count=2)
    shares = [read_share(first.upper(), "a"), read_share("  " + "\t ".join(second.split()), "b")]
    assert combined(shares) == str(identity)


# -- shares that do not yield the identity --------------------------------------------


def test_fewer_than_the_threshold_is_a_clear_error() -> None:
    shares = parsed(split_identity(HybridIdentity.generate(), threshold=3, count=5))
    with pytest.raises(ShareError, match=r"^too few shares: 2 given .*this split needs 3$"):
        combine_shares(shares[:2])
    with pytest.raises(ShareError, match=r"too few shares: 2 given \(each counted once\)"):
        combine_shares([shares[0], shares[4], shares[0]])
    with pytest.raises(ShareError, match="no shares given"):
        combine_shares([])


def test_a_corrupted_word_fails_the_checksum_and_names_the_share() -> None:
    mnemonics = split_identity(HybridIdentity.generate(), threshold=2, count=3)
    for position in (0, 5, 20, SHARE_WORDS - 1):
        word = mnemonics[1].split()[position]
        corrupted = replace_word(mnemonics[1], position, another_word(word))
        with pytest.raises(ShareError) as caught:
            read_share(corrupted, "holder B")
        assert str(caught.value) == "holder B: its checksum fails: a word is wrong"


def test_two_swapped_words_fail_the_checksum() -> None:
    words = split_identity(X25519Identity.generate(), threshold=2, count=2)[0].split()
    words[10], words[11] = words[11], words[10]
    assert words[10] != words[11]
    with pytest.raises(ShareError, match="checksum fails"):
        read_share(" ".join(words), "s")


def test_a_word_not_in_the_list_is_named_by_position_not_by_value() -> None:
    mnemonic = split_identity(X25519Identity.generate(), threshold=2, count=2)[0]
    typo = mnemonic.split()[12][:-1] + "q"
    with pytest.raises(ShareError) as caught:
        read_share(replace_word(mnemonic, 12, typo), "line 4")
    assert str(caught.value) == "line 4: word 13 is not a SLIP-39 word"
    assert typo not in str(caught.value)


def test_a_missing_or_extra_word_is_counted() -> None:
    words = split_identity(X25519Identity.generate(), threshold=2, count=2)[0].split()
    with pytest.raises(ShareError, match=r"^s: 34 words, but a share .* has 35$"):
        read_share(" ".join(words[:-1]), "s")
    with pytest.raises(ShareError, match=r"^s: 36 words"):
        read_share(" ".join([*words, words[0]]), "s")


def test_shares_of_two_splits_do_not_mix_even_of_the_same_identity() -> None:
    identity = HybridIdentity.generate()
    first = parsed(split_identity(identity, threshold=2, count=3), "first")
    second = parsed(split_identity(identity, threshold=2, count=3), "second")
    with pytest.raises(ShareError) as caught:
        combine_shares([first[0], second[1]])
    assert str(caught.value) == (
        "first 1 and second 2 come from different splits (their first words differ)"
    )
    with pytest.raises(ShareError, match="different splits"):
        combine_shares([*first[:2], second[0]])  # enough of one split, one stray


def forged(share: RecoveryShare, where: str) -> RecoveryShare:
    """The same share number of the same split, another value, a valid checksum."""
    value = bytes(b ^ 0x5A for b in share.share.value)
    mnemonic = dataclasses.replace(share.share, value=value).mnemonic()
    return read_share(mnemonic, where)


def test_a_wrong_share_with_a_valid_checksum_does_not_fit() -> None:
    identity = X25519Identity.generate()
    shares = parsed(split_identity(identity, threshold=2, count=3))
    wrong = forged(shares[1], "the wrong one")
    with pytest.raises(ShareError, match="the shares do not fit together: one of them is wrong"):
        combine_shares([shares[0], wrong])
    with pytest.raises(ShareError) as caught:
        combine_shares([shares[0], shares[2], wrong])
    assert str(caught.value) == "the wrong one does not fit the other shares: it is wrong"
    with pytest.raises(ShareError, match="same share number but differ"):
        combine_shares([shares[0], shares[1], wrong])


def test_slip39_shares_of_other_secrets_are_refused() -> None:
    short = generate_mnemonics(1, [(2, 2)], bytes(16))[0]
    with pytest.raises(ShareError, match="20 words, but a share of a recovery identity has 35"):
        read_share(short[0], "s")
    other = parsed(generate_mnemonics(1, [(2, 2)], bytes(range(34)))[0])
    with pytest.raises(ShareError, match="do not hold a tipbox recovery identity"):
        combine_shares(other)
    grouped = generate_mnemonics(2, [(2, 2), (2, 2)], encode_secret(X25519Identity.generate()))
    with pytest.raises(ShareError, match="a share with groups"):
        read_share(grouped[0][0], "s")


# -- the passphrase -------------------------------------------------------------------

#: Fixed, so that what a wrong passphrase decrypts to is fixed too (SLIP-39's
#: extendable shares encrypt without a random salt): the test cannot flake.
FIXED = HybridIdentity(bytes.fromhex("8f" * 32))


def test_a_passphrase_is_needed_and_checked() -> None:
    shares = parsed(split_identity(FIXED, threshold=2, count=3, passphrase="correct horse"))
    assert combined(shares[1:], "correct horse") == str(FIXED)
    for wrong in ("", "correct hors", "Correct horse"):
        with pytest.raises(ShareError, match="a wrong or missing passphrase"):
            combine_shares(shares[:2], passphrase=wrong)


def test_a_passphrase_is_printable_ascii() -> None:
    with pytest.raises(ShareError, match="printable ASCII"):
        split_identity(FIXED, threshold=2, count=2, passphrase="café")
    shares = parsed(split_identity(FIXED, threshold=2, count=2))
    with pytest.raises(ShareError, match="printable ASCII"):
        combine_shares(shares, passphrase="tab\there")


# -- the factor -----------------------------------------------------------------------


def test_recovery_shares_are_a_factor_that_yields_the_identity_and_shows_no_word() -> None:
    identity = X25519Identity.generate()
    mnemonics = split_identity(identity, threshold=2, count=3, passphrase="pw")
    factor = RecoveryShares(parsed(mnemonics[:2]), "pw")
    assert str(factor.identity()) == str(identity)
    shown = repr(factor) + repr(parsed(mnemonics)[0])
    assert not any(word in shown.split() for word in mnemonics[0].split())
    assert "pw" not in repr(factor)
