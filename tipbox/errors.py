"""The error hierarchy of tipbox's services and core.

Every error a caller is expected to handle derives from :class:`TipboxError`.
Each carries a stable ``code`` (snake_case; the class's by default, or a more
precise one given where it is raised) and ``params``, the safe values its
message needs (numbers, names of limits or fields; never submitted content,
codenames, passwords or key material). The web layer turns ``code`` and
``params`` into a status and a translated message in one place
(``tipbox/web/errors.py``); nothing parses the English text. The command
line prints ``str(error)`` on one line.
"""

from __future__ import annotations

from collections.abc import Mapping

#: A value an error message may show: a number or a short fixed name.
Param = str | int


class TipboxError(Exception):
    """Base of every expected tipbox failure.

    ``TipboxError("english text", code="reply_too_long", params={"num": 4})``:
    the positional arguments make ``str(error)`` as for any exception; ``code``
    overrides the class's :attr:`code`; ``params`` fill the placeholders of
    the code's translated message.
    """

    code: str = "internal"

    def __init__(
        self, *args: object, code: str | None = None, params: Mapping[str, Param] | None = None
    ) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code
        self.params: dict[str, Param] = dict(params or {})


class InvalidInput(TipboxError):
    """The caller's input is malformed or out of bounds (HTTP 400)."""

    code = "invalid_input"


class NotFound(TipboxError):
    """The requested object does not exist or is not visible (HTTP 404)."""

    code = "not_found"


class TooLarge(TipboxError):
    """A body, file or message exceeds a configured limit (HTTP 413)."""

    code = "too_large"


class StorageFull(TipboxError):
    """Not enough free disk to accept more data (HTTP 507)."""

    code = "storage_full"


class StorageUnavailable(TipboxError):
    """The database is locked, read-only or otherwise unusable (HTTP 503)."""

    code = "storage_unavailable"


class Busy(TipboxError):
    """Too many requests of one costly kind at once: try again in a minute (HTTP 503)."""

    code = "busy"


class NotInitialised(TipboxError):
    """The instance has not been set up with ``python -m tipbox init``."""

    code = "not_initialised"


class AlreadyInitialised(TipboxError):
    """``init`` was asked to overwrite an existing instance."""

    code = "already_initialised"


class AuthenticationFailed(TipboxError):
    """Credentials were wrong; deliberately says nothing about which one."""

    code = "login_failed"


class SessionEnded(AuthenticationFailed):
    """A source's login no longer holds: logged out, expired, or the source is gone."""

    code = "session_ended"


class Forbidden(TipboxError):
    """The authenticated user may not do this (HTTP 403)."""

    code = "forbidden"


class ConfigError(InvalidInput):
    """A ``TIPBOX_*`` setting is malformed or out of range."""

    code = "config_error"
