"""What a username and a password must be.

Contract (DESIGN 5, issue 4):

- A **username** is 2 to 32 of ``a-z 0-9 . _ -``, starting with a letter or
  digit (:func:`check_username`).
- A **password** has :data:`MIN_PASSWORD_CHARS` to
  :data:`MAX_PASSWORD_CHARS` characters (:func:`check_password`).
- A **new password** (enrolment, password change) must also score at least
  :data:`MIN_PASSWORD_SCORE` of 4 with the zxcvbn strength estimator, which
  is given the username and the instance's words (organisation name) as
  things an attacker knows (:func:`check_new_password`). Refusing the
  admin-known one-time password at enrolment, or the current password at a
  change, is the account service's part; the messages are here.
- Every refusal is a :class:`WeakPassword` (or ``InvalidInput`` for a
  username) with a stable code.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, cast

from tipbox.codenames import passphrase
from tipbox.errors import InvalidInput

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "MIN_PASSWORD_SCORE",
    "ONE_TIME_REUSED",
    "SAME_AS_CURRENT",
    "SCORED_PASSWORD_CHARS",
    "TOO_GUESSABLE",
    "WeakPassword",
    "check_new_password",
    "check_password",
    "check_username",
    "password_score",
    "suggest_password",
]

MIN_PASSWORD_CHARS = 14
MAX_PASSWORD_CHARS = 1024
#: zxcvbn's score runs 0 (too guessable) to 4 (very unguessable); 3 means
#: "safely unguessable" (at least 10**8 guesses), each an Argon2id derivation.
MIN_PASSWORD_SCORE = 3
#: zxcvbn's own cap; a longer password is scored by this prefix (a lower bound).
SCORED_PASSWORD_CHARS = 72
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
_SEPARATORS = re.compile(r"[\W_]+")

#: Messages of refused new passwords (translated on the reviewer pages).
TOO_GUESSABLE = (
    "this password is too easy to guess: use a longer passphrase of several unrelated words,"
    " such as the suggestion, not your username or the organisation's name"
)
ONE_TIME_REUSED = (
    "the new password cannot be the one-time password you were given: choose your own,"
    " such as the suggestion"
)
SAME_AS_CURRENT = "the new password must be different from the current one"


class WeakPassword(InvalidInput):
    """A new password is too short (or absurdly long), too guessable, or reused.

    Reused: the one-time password at enrolment, the current one at a change.
    """


def check_username(username: str) -> str:
    """Return ``username`` if it is 2-32 of ``a-z 0-9 . _ -`` (starting alnum)."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput("a username is 2 to 32 lower-case letters, digits, '.', '_' or '-'",
                           code="username_format")
    return username


def check_password(password: str) -> str:
    """Return ``password`` if it is long enough for a new password."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_CHARS} characters",
                           code="password_too_short", params={"num": MIN_PASSWORD_CHARS})
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_CHARS} characters",
                           code="password_too_long", params={"num": MAX_PASSWORD_CHARS})
    return password


#: zxcvbn keeps the user inputs of a call in a module-level dictionary, so two
#: threads estimating at once would see each other's words: one at a time.
_ZXCVBN_LOCK = threading.Lock()


def _words(texts: Sequence[str]) -> list[str]:
    """``texts``, each of their words and each glued together, lower-cased.

    zxcvbn matches whole dictionary entries: "The Daily Planet" must also
    be found as ``daily`` and as ``thedailyplanet``.
    """
    words = set()
    for text in (text.lower() for text in texts if text):
        parts = [part for part in _SEPARATORS.split(text) if part]
        words.update([text, "".join(parts), *parts])
    return sorted(word for word in words if word)


def _score(password: str, user_inputs: list[str]) -> int:
    if not password:
        return 0  # zxcvbn fails on the empty string
    # Imported here: its word lists take 13 MiB, which only a password
    # change needs (not the source app, which imports the same wiring).
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # ships no type hints

    with _ZXCVBN_LOCK:
        result = cast(dict[str, Any], zxcvbn(password, user_inputs=user_inputs))
    return int(result["score"])


def password_score(password: str, user_inputs: Sequence[str] = ()) -> int:
    """zxcvbn's score, 0 to 4, of ``password`` for an attacker who knows ``user_inputs``.

    The lower of two estimates: as typed, and with separators (spaces,
    punctuation) removed, since zxcvbn counts each separator as brute force
    and so rates ``tipbox-admin-2024`` far above ``tipboxadmin2024``. Only the
    first :data:`SCORED_PASSWORD_CHARS` characters are scored (zxcvbn refuses
    longer input, and its cost grows with the length): for a longer
    password the score is a lower bound.
    """
    known = _words(user_inputs)
    typed = password[:SCORED_PASSWORD_CHARS]
    glued = _SEPARATORS.sub("", password)[:SCORED_PASSWORD_CHARS]
    return min(_score(text, known) for text in {typed, glued or typed})


def check_new_password(password: str, *, user_inputs: Sequence[str] = ()) -> str:
    """Return ``password`` if it may become a reviewer's own password.

    Long enough (:func:`check_password`) and scoring at least
    :data:`MIN_PASSWORD_SCORE` when the attacker knows ``user_inputs`` (the
    username, the organisation name...). Raises :class:`WeakPassword`.
    """
    check_password(password)
    if password_score(password, user_inputs) < MIN_PASSWORD_SCORE:
        raise WeakPassword(TOO_GUESSABLE, code="password_guessable")
    return password


def suggest_password() -> str:
    """A generated 7-word passphrase (about 90 bits) offered to the reviewer."""
    return passphrase(7)
