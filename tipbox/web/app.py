"""What every tipbox web app shares: cookies, CSRF, body limits, headers, errors.

:func:`init_web` is called by each app factory right after creating the
:class:`~flask.Flask` object. Contract:

- The only cookie is Flask's signed session cookie: HttpOnly, SameSite=Strict,
  Secure unless ``settings.dev``, no ``Domain``, ending with the browser
  session (never ``permanent``); its signature is refused once older than
  ``settings.session_absolute_seconds``.
- Every POST (and PUT/PATCH/DELETE) needs a valid flask-wtf CSRF token. Its
  lifetime is :data:`CSRF_TIME_LIMIT` so that an upload over Tor that takes
  hours still succeeds. The referrer check for HTTPS is off because every
  page is sent with ``Referrer-Policy: no-referrer``; SameSite=Strict and the
  token do the work.
- Every request gets a body cap before anything reads its body (or opens a
  draft, or checks CSRF): an upload to the source app's ``POST /submit`` may
  be as large as :func:`body_limit`, every other body only :func:`form_limit`
  with at most :data:`MAX_FORM_FIELDS` fields. A longer ``Content-Length`` is
  refused with 413 at once, a body that announces no length while it is read
  (see :mod:`tipbox.web.uploads`).
- Pages speak the visitor's language (:mod:`tipbox.web.i18n`): picked in the
  session, else ``Accept-Language``, else English; limits are formatted in it.
"""

from __future__ import annotations

import hmac
import typing as t
from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha256

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from tipbox.services.desks.questions import MAX_LONG_CHARS, MAX_QUESTIONS, MAX_SHORT_CHARS
from tipbox.web.errors import install_error_pages
from tipbox.web.headers import install_security_headers
from tipbox.web.i18n import N_, format_number, gettext, install_i18n, ngettext
from tipbox.web.uploads import LIMITS_KEY, UploadLimits, UploadRequest

if t.TYPE_CHECKING:
    from tipbox.config import Settings

#: How long a form stays valid: a multi-GiB upload over Tor can take hours.
CSRF_TIME_LIMIT = timedelta(hours=8)

#: Room for the multipart framing, field names and the CSRF token.
FORM_OVERHEAD_BYTES = 1024 * 1024

#: A message is UTF-8: up to four bytes per character.
BYTES_PER_CHAR = 4

#: A URL-encoded form percent-encodes every byte of non-ASCII text as three.
PERCENT_ENCODED = 3

#: Room for a form's short fields besides its one long text: the CSRF token,
#: ids, the admin's settings (the landing text is at most 5000 characters).
FORM_FIELDS_BYTES = 64 * 1024

#: The most fields any form has (the admin settings have 9), with room to grow.
MAX_FORM_FIELDS = 16


@dataclass(frozen=True)
class LimitsText:
    """The limits as shown on pages (forms and error pages), in the request's language."""

    max_files: int
    max_upload: str
    max_message_chars: str
    #: The unformatted count, for choosing the plural form of "characters".
    message_chars: int
    short_answer: int = MAX_SHORT_CHARS
    long_answer: int = MAX_LONG_CHARS

    @classmethod
    def of(cls, settings: Settings) -> LimitsText:
        return cls(
            max_files=settings.max_files,
            max_upload=human_size(settings.max_upload_bytes),
            max_message_chars=format_number(settings.max_message_chars),
            message_chars=settings.max_message_chars,
        )


#: Binary units, named the way people say them (``N_``: translated when shown).
SIZE_UNITS = ((N_("%(num)s GB"), 1024**3), (N_("%(num)s MB"), 1024**2), (N_("%(num)s KB"), 1024))


def human_size(size: int) -> str:
    """``2147483648`` -> ``"2 GB"`` (``"2 ГБ"`` in Russian): three significant digits."""
    for unit, scale in SIZE_UNITS:
        if size >= scale:
            return gettext(unit, num=format_number(float(f"{size / scale:.3g}")))
    return ngettext("%(size)s byte", "%(size)s bytes", size, size=format_number(size))


#: The most bytes the answers to a desk's questions may take (all long, all 4-byte characters).
ANSWERS_BYTES = MAX_QUESTIONS * MAX_LONG_CHARS * BYTES_PER_CHAR


def upload_limits(settings: Settings) -> UploadLimits:
    """The per-request parsing bounds derived from the settings."""
    max_field_bytes = settings.max_message_chars * BYTES_PER_CHAR + 1024
    return UploadLimits(
        max_files=settings.max_files,
        max_file_bytes=settings.max_upload_bytes,
        max_field_bytes=max_field_bytes,
        max_fields=MAX_FORM_FIELDS + MAX_QUESTIONS,
        max_text_bytes=max_field_bytes + FORM_FIELDS_BYTES + ANSWERS_BYTES,
        max_form_body=form_limit(settings),
        max_upload_body=body_limit(settings),
    )


def app_secret(instance_secret: bytes, app_name: str) -> bytes:
    """The signing key of one app, derived from the instance's Flask secret."""
    return hmac.new(instance_secret, b"tipbox app key: " + app_name.encode(), sha256).digest()


def body_limit(settings: Settings) -> int:
    """Largest upload body accepted: all files, the longest message and answers, framing."""
    return (
        settings.max_upload_bytes
        + settings.max_message_chars * BYTES_PER_CHAR
        + ANSWERS_BYTES
        + FORM_OVERHEAD_BYTES
    )


def form_limit(settings: Settings) -> int:
    """Largest body of any request but an upload: the longest text, percent-encoded.

    A message or reply of ``max_message_chars`` characters in any script
    still fits when a browser sends it URL-encoded (about 1.2 MB by default);
    a form bomb of many megabytes is refused from its ``Content-Length``.
    """
    return settings.max_message_chars * BYTES_PER_CHAR * PERCENT_ENCODED + FORM_FIELDS_BYTES


def init_web(
    app: Flask,
    settings: Settings,
    *,
    secret_key: bytes,
    cookie_name: str,
    live: t.Callable[[], Settings] | None = None,
) -> CSRFProtect:
    """Apply the shared web rules to ``app``; returns its CSRF protector.

    Each app signs its cookie with its own key derived from the instance
    secret, under its own cookie name: on one host (``make run`` serves both
    on 127.0.0.1) neither app overwrites or accepts the other's session.

    ``live`` gives the settings in force for each request (limits admins
    edit apply at once); ``settings`` bound ``MAX_CONTENT_LENGTH``, the
    ceiling that no edit can raise.
    """
    current = live or (lambda: settings)
    app.config.update(
        SECRET_KEY=app_secret(secret_key, cookie_name),
        SESSION_COOKIE_NAME=cookie_name,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=not settings.dev,
        SESSION_COOKIE_DOMAIN=None,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_absolute_seconds),
        MAX_CONTENT_LENGTH=body_limit(settings),
        # Werkzeug's own form parser is replaced by tipbox.web.uploads, which
        # enforces finer limits; these bound it should it ever run.
        MAX_FORM_MEMORY_SIZE=upload_limits(settings).max_field_bytes,
        MAX_FORM_PARTS=MAX_FORM_FIELDS + settings.max_files,
        WTF_CSRF_TIME_LIMIT=int(CSRF_TIME_LIMIT.total_seconds()),
        WTF_CSRF_SSL_STRICT=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.config[LIMITS_KEY] = lambda: upload_limits(current())
    # Registered before CSRFProtect's hook, so an oversized body is refused
    # before CSRF validation would start reading it.
    app.before_request(cap_request_body)
    csrf = CSRFProtect(app)
    install_security_headers(app)
    install_error_pages(app)
    install_i18n(app)
    app.context_processor(lambda: {"limits": LimitsText.of(current())})
    return csrf


def cap_request_body() -> None:
    """``before_request``, first of all: cap the body before anything reads it.

    Raises 413 when the announced ``Content-Length`` exceeds the cap
    (:meth:`~tipbox.web.uploads.UploadRequest.cap_body`). A request of
    another class keeps Flask's own ``MAX_CONTENT_LENGTH`` check.
    """
    if isinstance(request, UploadRequest):
        request.cap_body()
