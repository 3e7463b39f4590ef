"""Reading the reviewer app's forms and query strings: bounded, typed, specific errors.

Every reader raises :class:`~tipbox.errors.InvalidInput` with a message that
says what is wrong without echoing the input (it may be a password), in the
language of the request. A ``label`` names the field in English, marked with
``N_`` by the caller; it is translated here.
"""

from __future__ import annotations

from collections.abc import Sequence

from werkzeug.datastructures import MultiDict

from tipbox.digits import MAX_SQL_INT, NotANumber, parse_number
from tipbox.errors import InvalidInput
from tipbox.services.reviewers import MAX_PASSWORD_CHARS
from tipbox.web.i18n import N_, gettext, ngettext

MAX_ID = MAX_SQL_INT
MAX_SELECTED = 1000


def text(form: MultiDict[str, str], name: str, *, label: str, max_chars: int) -> str:
    """One text field, which must be present; may be empty."""
    value = form.get(name)
    if value is None:
        raise InvalidInput(gettext("the form has no %(label)s field", label=gettext(label)))
    if len(value) > max_chars:
        raise InvalidInput(ngettext("the %(label)s is longer than %(num)d character",
                                     "the %(label)s is longer than %(num)d characters",
                                     max_chars, label=gettext(label)))
    return value


def required(form: MultiDict[str, str], name: str, *, label: str, max_chars: int) -> str:
    """A text field that must not be blank."""
    value = text(form, name, label=label, max_chars=max_chars)
    if not value.strip():
        raise InvalidInput(gettext("please enter the %(label)s", label=gettext(label)))
    return value


def password(form: MultiDict[str, str], name: str = "password", *, label: str = N_("password")
             ) -> str:
    """A password field (not stripped: spaces count)."""
    return required(form, name, label=label, max_chars=MAX_PASSWORD_CHARS)


def username(form: MultiDict[str, str]) -> str:
    """The username, trimmed and lower-cased."""
    return required(form, "username", label=N_("username"), max_chars=64).strip().lower()


def flag(form: MultiDict[str, str], name: str, *, label: str) -> bool:
    """A ``1``/``0`` field."""
    value = form.get(name)
    if value not in {"0", "1"}:
        raise InvalidInput(gettext("the %(label)s choice is missing or not understood",
                                   label=gettext(label)))
    return value == "1"


def item_id(value: str) -> int:
    """A positive database id given as ASCII decimal digits (:mod:`tipbox.digits`)."""
    try:
        return parse_number(value, low=1, high=MAX_ID)
    except NotANumber:
        raise InvalidInput(gettext("an item number is not valid")) from None


def item_ids(values: Sequence[str]) -> list[int]:
    """Selected item ids (at least one, at most :data:`MAX_SELECTED`)."""
    if not values:
        raise InvalidInput(gettext("select at least one item"))
    if len(values) > MAX_SELECTED:
        raise InvalidInput(ngettext("select at most %(num)d item", "select at most %(num)d items",
                                     MAX_SELECTED))
    return [item_id(value) for value in values]


def order(value: str | None) -> str:
    """The sources list order: ``starred`` (default) or ``newest``."""
    if value in (None, ""):
        return "starred"
    if value not in {"starred", "newest"}:
        raise InvalidInput(gettext("the list can be sorted by starred or newest only"))
    return value
