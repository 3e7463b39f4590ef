"""Which of an admin's texts (a desk's name, a question) a visitor reads: theirs, else English."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["FALLBACK_LANGUAGE", "in_language"]

#: The language admins' texts fall back to when the visitor's has none.
FALLBACK_LANGUAGE = "en"

T = TypeVar("T")


def in_language(texts: Mapping[str, T], language: str) -> T | None:
    """The text in ``language``, else in English, else the first given; ``None`` for none."""
    for code in (language, FALLBACK_LANGUAGE):
        if code in texts:
            return texts[code]
    return next(iter(texts.values()), None)
