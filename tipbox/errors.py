"""The error hierarchy of tipbox's services and core.

Every error a caller is expected to handle derives from :class:`TipboxError`.
The web layer maps these classes to status codes and pages in one place
(``tipbox/web/errors.py``); the command line prints ``str(error)`` on one line.
Messages never contain submitted content, codenames or key material.
"""

from __future__ import annotations


class TipboxError(Exception):
    """Base of every expected tipbox failure."""


class InvalidInput(TipboxError):
    """The caller's input is malformed or out of bounds (HTTP 400)."""


class NotFound(TipboxError):
    """The requested object does not exist or is not visible (HTTP 404)."""


class TooLarge(TipboxError):
    """A body, file or message exceeds a configured limit (HTTP 413)."""


class StorageFull(TipboxError):
    """Not enough free disk to accept more data (HTTP 507)."""


class StorageUnavailable(TipboxError):
    """The database is locked, read-only or otherwise unusable (HTTP 503)."""


class Busy(TipboxError):
    """Too many requests of one costly kind at once: try again in a minute (HTTP 503)."""


class NotInitialised(TipboxError):
    """The instance has not been set up with ``python -m tipbox init``."""


class AlreadyInitialised(TipboxError):
    """``init`` was asked to overwrite an existing instance."""


class AuthenticationFailed(TipboxError):
    """Credentials were wrong; deliberately says nothing about which one."""


class SessionEnded(AuthenticationFailed):
    """A source's login no longer holds: logged out, expired, or the source is gone."""


class Forbidden(TipboxError):
    """The authenticated user may not do this (HTTP 403)."""


class ConfigError(InvalidInput):
    """A ``TIPBOX_*`` setting is malformed or out of range."""
