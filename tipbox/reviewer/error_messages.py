"""Service errors as reviewers read them: in the language of the page.

The services raise :class:`~tipbox.errors.TipboxError` with English messages
(they serve the command line too, and must not import Flask). The reviewer
views show ``error_message(error)`` instead of ``str(error)``: a message
listed here is translated; any other message (including those of
:mod:`tipbox.reviewer.forms`, which are translated already) is shown as is.
Messages never contain submitted content, so showing them leaks nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tipbox.errors import TipboxError
from tipbox.web.i18n import N_, gettext, ngettext

#: Messages of ``tipbox.services`` that reach reviewer pages, exactly as raised.
FIXED = frozenset(
    (
        N_("a reply cannot be empty"),
        N_("the reply contains invalid characters"),
        N_("this source left without a codename and cannot be replied to"),
        N_("the code from the authenticator app is 6 digits"),
        N_("a username is 2 to 32 lower-case letters, digits, '.', '_' or '-'"),
        # tipbox.services.reviewers: TOO_GUESSABLE, ONE_TIME_REUSED, SAME_AS_CURRENT
        N_("this password is too easy to guess: use a longer passphrase of several unrelated"
           " words, such as the suggestion, not your username or the organisation's name"),
        N_("the new password cannot be the one-time password you were given: choose your own,"
           " such as the suggestion"),
        N_("the new password must be different from the current one"),
    )
)

Counted = Callable[[int], str]

#: Messages with a number in them: the pattern of the English text, and its wording.
COUNTED: tuple[tuple[re.Pattern[str], Counted], ...] = (
    (
        re.compile(r"a reply has at most ([0-9]+) characters"),
        lambda n: ngettext("a reply has at most %(num)d character",
                           "a reply has at most %(num)d characters", n),
    ),
    (
        re.compile(r"a password has at least ([0-9]+) characters"),
        lambda n: ngettext("a password has at least %(num)d character",
                           "a password has at least %(num)d characters", n),
    ),
    (
        re.compile(r"a password has at most ([0-9]+) characters"),
        lambda n: ngettext("a password has at most %(num)d character",
                           "a password has at most %(num)d characters", n),
    ),
)


def error_message(error: TipboxError) -> str:
    """The text of ``error`` for a reviewer page, in the request's language."""
    text = str(error)
    if text in FIXED:
        return gettext(text)
    for pattern, wording in COUNTED:
        match = pattern.fullmatch(text)
        if match is not None:
            return wording(int(match.group(1)))
    return text
