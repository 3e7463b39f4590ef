"""Codenames, designations and passphrases."""

from __future__ import annotations

import itertools

import pytest

from tipbox.codenames import (
    CODENAME_WORDS,
    Codename,
    designation,
    normalise,
    passphrase,
    wordlist,
)
from tipbox.errors import InvalidInput


def test_wordlist_is_the_eff_large_list() -> None:
    words = wordlist()
    assert len(words) == len(set(words)) == 7776
    assert words[0] == "abacus"
    assert all(word == word.lower() and " " not in word for word in words)


def test_generated_codenames_have_seven_listed_words() -> None:
    codename = Codename.generate()
    assert len(codename.words) == CODENAME_WORDS
    assert set(codename.words) <= set(wordlist())
    assert Codename.generate() != codename


def test_randomness_is_a_parameter() -> None:
    counter = itertools.count()
    codename = Codename.generate(lambda n: next(counter) % n)
    assert codename.words == wordlist()[:7]
    assert designation(lambda n: 0) == "abacus abacus"


def test_parse_forgives_case_spacing_and_width() -> None:
    codename = Codename.generate()
    messy = "\t " + "  ".join(word.upper() for word in codename.words) + " \n"
    assert Codename.parse(messy) == codename
    assert str(Codename.parse(messy)) == " ".join(codename.words)
    assert normalise("ＡＢＡＣＵＳ  Abdomen") == "abacus abdomen"  # fullwidth (NFKC)


@pytest.mark.parametrize(
    "text",
    ["", "abacus", "abacus " * 6, "abacus " * 8, "abacus " * 6 + "notaword", "a/b c d e f g"],
)
def test_parse_rejects_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Codename.parse(text)
    assert "notaword" not in str(caught.value)


def test_codename_repr_hides_the_words() -> None:
    codename = Codename.generate()
    assert all(word not in repr(codename) for word in codename.words)


def test_designation_and_passphrase() -> None:
    assert len(designation().split(" ")) == 2
    assert len(passphrase().split(" ")) == 7
    assert len(passphrase(words=3).split(" ")) == 3
    with pytest.raises(InvalidInput):
        passphrase(words=0)
