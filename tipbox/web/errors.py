"""Every failure a web app can show, mapped to a status and a page in one place.

:func:`install_error_pages` registers one handler for ``tipbox.errors``
classes, one for Werkzeug's :class:`HTTPException` and one for anything else.
Each looks the exception up in :data:`PAGES` (most specific class first) and
renders ``errors/<page>.html``.

Security contract: pages never show exception messages, request data or
tracebacks. An unexpected exception is logged with its type and stack frames
only (no message, no request line, no client address), since a message could
echo submitted content; the client gets the generic 500 page.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug import exceptions as http

from tipbox import errors

log = logging.getLogger("tipbox.web")


class MalformedUpload(errors.InvalidInput):
    """The request body is not a form tipbox can read (HTTP 400)."""


class BadFileName(errors.InvalidInput):
    """A file name that no browser sends: a path, control bytes, too long (HTTP 400)."""


class TooManyFiles(errors.TooLarge):
    """More files in one submission than the instance accepts (HTTP 413)."""


class EmptySubmission(errors.InvalidInput):
    """Neither a message nor a file was sent (HTTP 400)."""


@dataclass(frozen=True)
class Page:
    """The status and template (``errors/<template>.html``) for an error class."""

    status: int
    template: str


#: Ordered from most to least specific; the first ``isinstance`` match wins.
PAGES: tuple[tuple[type[BaseException], Page], ...] = (
    (CSRFError, Page(400, "csrf")),
    (TooManyFiles, Page(413, "too_many_files")),
    (MalformedUpload, Page(400, "malformed")),
    (BadFileName, Page(400, "bad_file_name")),
    (EmptySubmission, Page(400, "empty")),
    (errors.SessionEnded, Page(403, "session_ended")),
    (errors.AuthenticationFailed, Page(403, "login_failed")),
    (errors.TooLarge, Page(413, "too_large")),
    (http.RequestEntityTooLarge, Page(413, "too_large")),
    (errors.StorageFull, Page(507, "storage_full")),
    (errors.Busy, Page(503, "busy")),
    (errors.StorageUnavailable, Page(503, "unavailable")),
    (errors.NotInitialised, Page(503, "unavailable")),
    (http.ServiceUnavailable, Page(503, "unavailable")),
    (errors.InvalidInput, Page(400, "bad_request")),
    (http.BadRequest, Page(400, "bad_request")),
    (errors.Forbidden, Page(403, "forbidden")),
    (http.Forbidden, Page(403, "forbidden")),
    (errors.NotFound, Page(404, "not_found")),
    (http.NotFound, Page(404, "not_found")),
    (http.MethodNotAllowed, Page(405, "method_not_allowed")),
)

SERVER_ERROR = Page(500, "server_error")


def page_for(error: BaseException) -> Page:
    """The page for ``error``; other HTTP errors keep their code, the rest is a 500."""
    for cls, page in PAGES:
        if isinstance(error, cls):
            return page
    if isinstance(error, http.HTTPException) and error.code is not None and error.code < 500:
        return Page(error.code, "bad_request")
    return SERVER_ERROR


def render_error(error: BaseException) -> Response:
    """Render the friendly page for ``error`` (keeping e.g. a 405's ``Allow`` header)."""
    page = page_for(error)
    if page is SERVER_ERROR:
        _log_unexpected(error)
    response = Response(render_template(f"errors/{page.template}.html"), status=page.status)
    if isinstance(error, http.HTTPException):
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    return response


def _log_unexpected(error: BaseException) -> None:
    """Log type and frames only: a message may contain submitted content."""
    frames = traceback.extract_tb(error.__traceback__)
    where = "".join(traceback.format_list(frames))
    log.error("unexpected %s\n%s", type(error).__qualname__, where)


def install_error_pages(app: Flask) -> None:
    """Route every exception raised while handling a request to :func:`render_error`."""
    app.register_error_handler(errors.TipboxError, render_error)
    app.register_error_handler(http.HTTPException, render_error)
    app.register_error_handler(Exception, render_error)
