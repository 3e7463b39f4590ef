"""Reading the reviewer app's forms and query strings: bounded, typed, specific errors.

Every reader raises :class:`~tipbox.errors.InvalidInput` with a code and
params that say what is wrong without echoing the input (it may be a
password); :func:`tipbox.web.errors.explain` words it in the language of the
request. A ``label`` names the field in English, marked with ``N_`` by the
caller; it is a param, translated where the message is worded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from werkzeug.datastructures import MultiDict

from tipbox.digits import MAX_SQL_INT, NotANumber, parse_number
from tipbox.errors import InvalidInput
from tipbox.services.accounts.rules import MAX_PASSWORD_CHARS
from tipbox.services.inbox.triage import STATUSES, Filters
from tipbox.web.i18n import N_

MAX_ID = MAX_SQL_INT
MAX_SELECTED = 1000


def text(form: MultiDict[str, str], name: str, *, label: str, max_chars: int) -> str:
    """One text field, which must be present; may be empty."""
    value = form.get(name)
    if value is None:
        raise InvalidInput(f"the form has no {label} field", code="field_missing",
                           params={"label": label})
    if len(value) > max_chars:
        raise InvalidInput(f"the {label} is longer than {max_chars} characters",
                           code="field_too_long", params={"label": label, "num": max_chars})
    return value


def required(form: MultiDict[str, str], name: str, *, label: str, max_chars: int) -> str:
    """A text field that must not be blank."""
    value = text(form, name, label=label, max_chars=max_chars)
    if not value.strip():
        raise InvalidInput(f"please enter the {label}", code="field_blank",
                           params={"label": label})
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
        raise InvalidInput(f"the {label} choice is missing or not understood",
                           code="choice_invalid", params={"label": label})
    return value == "1"


def confirmed(form: MultiDict[str, str], *, code: str) -> None:
    """The confirmation box (``confirm=yes``) of a destructive action; else ``code``."""
    if form.get("confirm") != "yes":
        raise InvalidInput("the confirmation box is not ticked", code=code)


def item_id(value: str) -> int:
    """A positive database id given as ASCII decimal digits (:mod:`tipbox.digits`)."""
    try:
        return parse_number(value, low=1, high=MAX_ID)
    except NotANumber:
        raise InvalidInput("an item number is not valid", code="item_number_invalid") from None


def item_ids(values: Sequence[str]) -> list[int]:
    """Selected item ids (at least one, at most :data:`MAX_SELECTED`)."""
    if not values:
        raise InvalidInput("select at least one item", code="nothing_selected")
    if len(values) > MAX_SELECTED:
        raise InvalidInput(f"select at most {MAX_SELECTED} items", code="too_many_selected",
                           params={"num": MAX_SELECTED})
    return [item_id(value) for value in values]


def order(value: str | None) -> str:
    """The sources list order: ``starred`` (default) or ``newest``."""
    if value in (None, ""):
        return "starred"
    if value not in {"starred", "newest"}:
        raise InvalidInput("the list can be sorted by starred or newest only",
                           code="order_unknown")
    return value


def source_ids(values: Sequence[str]) -> list[int]:
    """Selected sources (at least one, at most :data:`MAX_SELECTED`)."""
    if not values:
        raise InvalidInput("select at least one source", code="no_selection")
    if len(values) > MAX_SELECTED:
        raise InvalidInput(f"select at most {MAX_SELECTED} sources", code="too_many_selected",
                           params={"num": MAX_SELECTED})
    return list(dict.fromkeys(item_id(value) for value in values))


#: The query parameters of the sources list, and nothing else.
LIST_PARAMETERS = frozenset(
    {"order", "after", "q", "status", "label", "assignee", "starred", "unread", "files",
     "from", "to"}
)


def filters(args: Mapping[str, str], *, me: str) -> Filters:
    """The filters of the sources list; ``assignee=me`` is the caller."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInput("unknown status", code="unknown_status")
    assignee = args.get("assignee") or None
    return Filters(
        status=status,
        label=_bounded(args.get("label") or None, 200),
        assignee=me if assignee == "me" else _bounded(assignee, 64),
        starred=_yes_no(args.get("starred")),
        unread=_yes_no(args.get("unread")),
        has_files=_yes_no(args.get("files")),
        from_hour=hour_of(args.get("from")),
        to_hour=hour_of(args.get("to")),
    )


def _bounded(value: str | None, max_chars: int) -> str | None:
    if value is not None and len(value) > max_chars:
        raise InvalidInput("a filter is too long", code="filter_invalid")
    return value


def _yes_no(value: str | None) -> bool | None:
    """``1`` yes, ``0`` no, empty or absent: any."""
    if value in (None, ""):
        return None
    if value not in {"0", "1"}:
        raise InvalidInput("a filter is not understood", code="filter_invalid")
    return value == "1"


def hour_of(value: str | None) -> int | None:
    """A UTC date and time (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH[:MM]``) as its hour; None if empty."""
    if value in (None, ""):
        return None
    for shape in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(value, shape).replace(tzinfo=UTC)
        except ValueError:
            continue
        seconds = int(moment.timestamp())
        return seconds - seconds % 3600
    raise InvalidInput("a date is not understood (use YYYY-MM-DD HH:00)", code="date_invalid")
