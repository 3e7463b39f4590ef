"""Numbers in URLs and forms, read with :func:`tipbox.digits.parse_number` (ASCII only).

- :class:`IdConverter` is the ``<id:...>`` URL converter: a database id of
  ASCII digits, 1 to 2**63 - 1. Werkzeug's own ``int`` converter matches
  ``\\d+``, which takes ``١٢`` or ``１２`` for 12; this one does not match
  them, so such a URL is a 404 like any other unknown path.
- :func:`id_field` reads a database id posted in a form. An id that does
  not parse names nothing, so it is :class:`~tipbox.errors.NotFound` (404),
  the same answer as a well-formed id of something that does not exist.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

from tipbox.digits import MAX_SQL_INT, NotANumber, parse_number
from tipbox.errors import NotFound

__all__ = ["IdConverter", "id_field", "install_id_converter"]


class IdConverter(BaseConverter):
    """A database id in a URL: ASCII digits only, 1 to 2**63 - 1."""

    regex = r"[0-9]+"
    weight = 50
    part_isolating = True

    def to_python(self, value: str) -> int:
        try:
            return parse_number(value, low=1, high=MAX_SQL_INT)
        except NotANumber:
            raise ValidationError() from None

    def to_url(self, value: int) -> str:
        return str(int(value))


def install_id_converter(app: Flask) -> None:
    """Make ``<id:name>`` available in ``app``'s routes."""
    app.url_map.converters["id"] = IdConverter


def id_field(value: str | None, *, what: str = "item") -> int:
    """A positive database id from a form field; :class:`NotFound` unless ASCII digits in range."""
    try:
        return parse_number(value, low=1, high=MAX_SQL_INT)
    except NotANumber:
        raise NotFound(f"no such {what}") from None
