"""Codenames, designations and passphrases from the EFF large word list.

- A **codename** is 7 words drawn uniformly with :mod:`secrets` from 7,776
  (about 90 bits). It is the only thing a source keeps; the server stores
  only what Argon2id derives from it (see :mod:`tipbox.passwords`). Its
  ``repr`` hides the words so that it never lands in a log by accident.
- A **designation** is two random words ("amber heron") naming a source to
  reviewers. It is not secret and carries no information about the source.
- A **passphrase** is a generated reviewer password (7 words by default).

Randomness is a parameter (``rand(n)`` returns an int in ``[0, n)``) so that
tests can control it; production uses :func:`secrets.randbelow`.
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from tipbox.errors import InvalidInput

__all__ = [
    "CODENAME_WORDS",
    "Codename",
    "Rand",
    "designation",
    "normalise",
    "passphrase",
    "wordlist",
]

CODENAME_WORDS = 7
WORDLIST_SIZE = 7776
Rand = Callable[[int], int]


@functools.cache
def wordlist() -> tuple[str, ...]:
    """Return the EFF large word list (7,776 lower-case words), checked once."""
    text = resources.files("tipbox").joinpath("wordlists", "eff_large.txt").read_text("utf-8")
    words = tuple(text.split())
    if len(words) != WORDLIST_SIZE or len(set(words)) != WORDLIST_SIZE:
        raise RuntimeError("tipbox/wordlists/eff_large.txt is damaged")
    return words


@functools.cache
def _word_set() -> frozenset[str]:
    return frozenset(wordlist())


def _pick(count: int, rand: Rand) -> tuple[str, ...]:
    words = wordlist()
    return tuple(words[rand(len(words))] for _ in range(count))


def normalise(text: str) -> str:
    """Canonical form of typed words: NFKC, case-folded, single spaces.

    Never raises: this is also applied to input that turns out to be
    invalid, so that a wrong codename costs the same work as a right one.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True, slots=True, repr=False)
class Codename:
    """A source's secret: exactly :data:`CODENAME_WORDS` words from the list."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.words) != CODENAME_WORDS:
            raise InvalidInput(f"a codename has exactly {CODENAME_WORDS} words")
        if not _word_set().issuperset(self.words):
            raise InvalidInput("a codename contains only words from the word list")

    @classmethod
    def generate(cls, rand: Rand = secrets.randbelow) -> Codename:
        """Draw a fresh codename uniformly at random."""
        return cls(_pick(CODENAME_WORDS, rand))

    @classmethod
    def parse(cls, text: str) -> Codename:
        """Read a typed codename, forgiving case and spacing.

        Raises :class:`~tipbox.errors.InvalidInput` (without echoing the
        input) if it is not 7 known words.
        """
        return cls(tuple(normalise(text).split(" ")))

    def __str__(self) -> str:
        """The canonical text: the words separated by single spaces."""
        return " ".join(self.words)

    def __repr__(self) -> str:
        return "Codename(<secret>)"


def designation(rand: Rand = secrets.randbelow) -> str:
    """Return a random two-word name for reviewers, e.g. ``"amber heron"``."""
    return " ".join(_pick(2, rand))


def passphrase(words: int = 7, rand: Rand = secrets.randbelow) -> str:
    """Return a random passphrase of ``words`` words (about 12.9 bits each)."""
    if words < 1:
        raise InvalidInput("a passphrase needs at least one word")
    return " ".join(_pick(words, rand))
