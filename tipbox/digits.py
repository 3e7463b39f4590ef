"""ASCII decimal numbers: the one reader behind every numeric field of tipbox.

Python's ``int()``, ``str.isdigit()`` and ``str.isdecimal()``, Werkzeug's
``int`` URL converter and the ``\\d`` of regular expressions all accept any
Unicode decimal digit (``١٢٣``, ``１２３``), and ``int()`` also takes a sign,
``_`` and surrounding whitespace. Every number that reaches tipbox as text
(a TOTP code, an id in a form or a URL, a page cursor, an admin setting) is
read here instead.

Contract: :func:`parse_number` accepts exactly the strings that match
``^[0-9]+$`` in ASCII and whose value lies within ``[low, high]``. Anything
else raises :class:`NotANumber`, an ``InvalidInput`` (HTTP 400), never
another exception; ``int()`` only ever sees a bounded number of ASCII digits.
The message names the field by ``label`` and never echoes the input.
"""

from __future__ import annotations

import re
from typing import TypeGuard

from tipbox.errors import InvalidInput

__all__ = ["MAX_SQL_INT", "NotANumber", "is_ascii_digits", "parse_number"]

#: The largest SQLite integer: the default upper bound of a parsed number.
MAX_SQL_INT = 2**63 - 1

#: In a ``str`` pattern ``[0-9]`` is the ten ASCII digits only (``\d`` is not).
_ASCII_DIGITS = re.compile(r"[0-9]+")


class NotANumber(InvalidInput):
    """Text that is not ASCII decimal digits, or a number out of bounds (HTTP 400)."""

    code = "not_a_number"


def is_ascii_digits(text: object) -> TypeGuard[str]:
    """True when ``text`` is a non-empty string of ASCII ``0``-``9`` and nothing else."""
    return isinstance(text, str) and _ASCII_DIGITS.fullmatch(text) is not None


def parse_number(
    text: object, *, low: int = 0, high: int = MAX_SQL_INT, label: str = "the number"
) -> int:
    """The value of ``text``, ASCII decimal digits within ``[low, high]``.

    Leading zeros are allowed. Raises :class:`NotANumber` for anything else:
    a non-string, an empty string, a sign, a space, ``_``, a non-ASCII digit,
    or a value outside the bounds.
    """
    if not is_ascii_digits(text):
        raise NotANumber(f"{label} must be a whole number written with the digits 0-9",
                         code="number_not_digits", params={"label": label})
    significant = text.lstrip("0")
    if len(significant) > len(str(high)) or not low <= int(significant or "0") <= high:
        raise NotANumber(f"{label} must be between {low} and {high}", code="number_out_of_range",
                         params={"label": label, "low": low, "high": high})
    return int(significant or "0")
