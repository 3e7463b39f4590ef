"""Every failure a web app can show, mapped to a status, a page and a message in one place.

A :class:`~tipbox.errors.TipboxError` is looked up by its ``code`` in
:data:`CODES`: the status, the error page (``errors/<page>.html``) and the
wording of its message, translated with the error's ``params`` by
:func:`explain`. A refusal's page also learns which limit was hit
(:func:`refusal_context`) and shows its value. Views that re-render a form
with the error inline take the status and message from :func:`explain` too;
no view picks either itself.
Werkzeug's :class:`HTTPException` and CSRF failures are looked up by class in
:data:`PAGES`; anything else is a 500.

Security contract: pages never show exception messages, request data or
tracebacks, and :func:`explain` never reads ``str(error)``: a message is the
translation of its code's wording filled with ``params``, which hold numbers
and fixed names only. An unexpected exception is logged with its type and
stack frames only (no message, no request line, no client address), since a
message could echo submitted content; the client gets the generic 500 page.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug import exceptions as http

from tipbox import errors
from tipbox.errors import Param
from tipbox.web.i18n import N_, gettext, ngettext

log = logging.getLogger("tipbox.web")


class MalformedUpload(errors.InvalidInput):
    """The request body is not a form tipbox can read (HTTP 400)."""

    code = "malformed_upload"


class BadFileName(errors.InvalidInput):
    """A file name that no browser sends: a path, control bytes, too long (HTTP 400)."""

    code = "bad_file_name"


class TooManyFiles(errors.TooLarge):
    """More files in one submission than the instance accepts (HTTP 413)."""

    code = "too_many_files"


class EmptySubmission(errors.InvalidInput):
    """Neither a message nor a file was sent (HTTP 400)."""

    code = "empty_submission"


@dataclass(frozen=True)
class Page:
    """The status and template (``errors/<template>.html``) for an error class."""

    status: int
    template: str


#: A message in the request's language from an error's ``params``.
Wording = Callable[[Mapping[str, Param]], str]


def _fixed(message: str) -> Wording:
    """The wording of ``message`` (marked with ``N_``), its ``%(name)s`` filled from params."""
    return lambda params: gettext(message, **params)


def _counted(wording: Callable[[int, Mapping[str, Param]], str], name: str = "num") -> Wording:
    """A plural wording, chosen by the number ``params[name]``."""
    return lambda params: wording(int(params[name]), params)


@dataclass(frozen=True)
class Outcome:
    """What a code means to a visitor: status, error page and message wording."""

    status: int
    template: str
    wording: Wording


def _entry(status: int, template: str, message: str | Wording) -> Outcome:
    return Outcome(status, template, _fixed(message) if isinstance(message, str) else message)


LOGIN_FAILED = N_("That username, password and code did not work together.")

#: Every code a :class:`~tipbox.errors.TipboxError` may carry.
CODES: dict[str, Outcome] = {
    # -- the classes' own codes
    "internal": _entry(500, "server_error", N_("Something went wrong on our side")),
    "already_initialised": _entry(500, "server_error", N_("Something went wrong on our side")),
    "invalid_input": _entry(400, "bad_request", N_("This request could not be handled")),
    "config_error": _entry(400, "bad_request", N_("This request could not be handled")),
    "not_a_number": _entry(400, "bad_request", N_("This request could not be handled")),
    "file_name_refused": _entry(400, "bad_request", N_("A file name could not be accepted")),
    "malformed_upload": _entry(400, "malformed", N_("Your submission could not be read")),
    "bad_file_name": _entry(400, "bad_file_name", N_("A file name could not be accepted")),
    "empty_submission": _entry(400, "empty", N_("Nothing was sent")),
    "not_found": _entry(404, "not_found", N_("Page not found")),
    "too_large": _entry(413, "too_large", N_("What you sent is too large")),
    "too_many_files": _entry(413, "too_many_files", N_("Too many files")),
    "storage_full": _entry(507, "storage_full", N_("We cannot accept uploads right now")),
    "storage_unavailable": _entry(503, "unavailable", N_("This service is briefly unavailable")),
    "not_initialised": _entry(503, "unavailable", N_("This service is briefly unavailable")),
    "busy": _entry(503, "busy", N_("The server is busy")),
    "login_failed": _entry(403, "login_failed", LOGIN_FAILED),
    "no_session": _entry(403, "login_failed", LOGIN_FAILED),
    "session_ended": _entry(403, "session_ended", N_("Your session has ended")),
    "forbidden": _entry(403, "forbidden", N_("Not allowed")),
    # -- an item that does not decrypt (tipbox.services.custody.keyring.undecryptable_reason)
    "item_key_destroyed": _entry(403, "item_key_destroyed", N_(
        "The key this item was encrypted to has been destroyed: nobody can decrypt it any"
        " more.")),
    "item_key_not_granted": _entry(403, "item_key_not_granted", N_(
        "You do not hold the key this item was encrypted to. Ask an admin to log in (an"
        " admin's login grants every key you lack) or to grant you access again.")),
    "item_damaged": _entry(403, "item_damaged", N_(
        "You hold the key of this item, but the item is damaged and does not decrypt. Ask an"
        " admin to restore it from a backup.")),
    "item_for_source_only": _entry(403, "item_for_source_only", N_(
        "This reply was encrypted for its source only: no newsroom key can open it.")),
    "notify_failed": _entry(500, "server_error", N_("Something went wrong on our side")),
    # -- moving to PostgreSQL (command line only: a page never sees them)
    "migration_failed": _entry(500, "server_error", N_("Something went wrong on our side")),
    "migration_refused": _entry(500, "server_error", N_("Something went wrong on our side")),
    "verification_failed": _entry(500, "server_error", N_("Something went wrong on our side")),
    "account_locked": _entry(429, "login_failed", _counted(lambda n, p: ngettext(
        "Too many failed attempts. Try again in %(num)d minute.",
        "Too many failed attempts. Try again in %(num)d minutes.", n))),
    # -- reviewer forms (tipbox.reviewer.forms; ``label`` is translated)
    "field_missing": _entry(400, "bad_request", N_("the form has no %(label)s field")),
    "field_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "the %(label)s is longer than %(num)d character",
        "the %(label)s is longer than %(num)d characters", n, label=p["label"]))),
    "field_blank": _entry(400, "bad_request", N_("please enter the %(label)s")),
    "choice_invalid": _entry(400, "bad_request",
                             N_("the %(label)s choice is missing or not understood")),
    "item_number_invalid": _entry(400, "bad_request", N_("an item number is not valid")),
    "nothing_selected": _entry(400, "bad_request", N_("select at least one item")),
    "too_many_selected": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "select at most %(num)d item", "select at most %(num)d items", n))),
    "order_unknown": _entry(400, "bad_request",
                            N_("the list can be sorted by starred or newest only")),
    # -- accounts
    "enrol_code_failed": _entry(403, "login_failed", N_(
        "That code did not work. Wait for the next one and try again.")),
    "password_change_locked": _entry(429, "login_failed",
                                     N_("Too many failed attempts; wait a while.")),
    "current_password_wrong": _entry(403, "login_failed",
                                     N_("The current password is not right.")),
    "passwords_differ": _entry(400, "bad_request", N_("the two new passwords are not the same")),
    "totp_code_format": _entry(400, "bad_request",
                               N_("the code from the authenticator app is 6 digits")),
    "username_format": _entry(400, "bad_request", N_(
        "a username is 2 to 32 lower-case letters, digits, '.', '_' or '-'")),
    "password_too_short": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a password has at least %(num)d character",
        "a password has at least %(num)d characters", n))),
    "password_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a password has at most %(num)d character",
        "a password has at most %(num)d characters", n))),
    "password_guessable": _entry(400, "bad_request", N_(
        "this password is too easy to guess: use a longer passphrase of several unrelated"
        " words, such as the suggestion, not your username or the organisation's name")),
    "password_one_time_reused": _entry(400, "bad_request", N_(
        "the new password cannot be the one-time password you were given: choose your own,"
        " such as the suggestion")),
    "password_same_as_current": _entry(400, "bad_request", N_(
        "the new password must be different from the current one")),
    "number_not_digits": _entry(400, "bad_request", N_(
        "%(label)s must be a whole number written with the digits 0-9")),
    "number_out_of_range": _entry(400, "bad_request",
                                  N_("%(label)s must be between %(low)d and %(high)d")),
    # -- security keys (issue 17, tipbox.services.accounts.security_keys)
    "security_key_login_failed": _entry(403, "login_failed", N_(
        "That username, password and security key did not work together.")),
    "security_key_refused": _entry(403, "login_failed", N_(
        "The security key was not accepted. Please try again.")),
    "security_keys_required": _entry(403, "forbidden", N_(
        "This organisation requires a security key: log in with one in the browser.")),
    # -- shared recovery (issue 17, tipbox.services.custody.shares; the command line)
    "invalid_share": _entry(400, "bad_request", N_(
        "those recovery shares do not give the recovery identity")),
    # -- administration
    "username_taken": _entry(400, "bad_request", N_("that username is taken")),
    "last_admin": _entry(400, "forbidden", N_(
        "this is the last admin: make another account an admin first")),
    "confirm_delete_account": _entry(400, "bad_request",
                                     N_("Tick the box to confirm deleting the account.")),
    "confirm_destroy_key": _entry(400, "bad_request",
                                  N_("Tick the box to confirm destroying the key.")),
    "confirm_delete_source": _entry(400, "bad_request",
                                    N_("Tick the box to confirm deleting everything.")),
    "key_in_use": _entry(400, "bad_request", N_("This request could not be handled")),
    "key_rotated_meanwhile": _entry(409, "bad_request", N_("This request could not be handled")),
    "key_active": _entry(400, "bad_request",
                         N_("the active key cannot be destroyed: rotate first")),
    "key_destroyed": _entry(400, "bad_request", N_("that key is already destroyed")),
    "key_retired_recently": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "key %(key)s was retired less than %(num)d hour ago: uploads that started before"
        " the rotation may still use it; try again later",
        "key %(key)s was retired less than %(num)d hours ago: uploads that started before"
        " the rotation may still use it; try again later", n, key=p["key"]), "hours")),
    "key_protects_items": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "key %(key)s still protects %(num)d stored item: re-wrap first",
        "key %(key)s still protects %(num)d stored items: re-wrap first", n, key=p["key"]))),
    "organisation_name": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "the organisation name has 1 to %(num)d printable character",
        "the organisation name has 1 to %(num)d printable characters", n))),
    "landing_text_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "the landing text has at most %(num)d character",
        "the landing text has at most %(num)d characters", n))),
    "landing_text_control": _entry(400, "bad_request", N_(
        "the landing text must not contain control characters")),
    "unknown_setting": _entry(400, "bad_request", N_("This request could not be handled")),
    "logo_too_large": _entry(413, "too_large", N_(
        "the logo file is larger than %(num)d KB: choose a smaller one")),
    "logo_not_an_image": _entry(400, "bad_request", N_(
        "the logo must be a PNG or JPEG image that can be read")),
    "logo_too_many_pixels": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "the logo has more than %(num)d million pixel: choose a smaller image",
        "the logo has more than %(num)d million pixels: choose a smaller image", n))),
    "idle_over_absolute": _entry(400, "bad_request", N_(
        "the idle timeout cannot be longer than the absolute one")),
    # -- the JSON API (tipbox.reviewer.api), worded with messages the catalogs have
    "token_refused": _entry(401, "login_failed", N_("Your session has ended")),
    "enrol_in_browser": _entry(403, "forbidden", N_("Set up your account")),
    "json_expected": _entry(415, "bad_request", N_("This request could not be handled")),
    "json_malformed": _entry(400, "bad_request", N_("This request could not be handled")),
    "unknown_field": _entry(400, "bad_request", N_("This request could not be handled")),
    "unknown_parameter": _entry(400, "bad_request", N_("This request could not be handled")),
    "method_not_allowed": _entry(405, "method_not_allowed",
                                 N_("This page cannot be used that way")),
    # -- replies
    "reply_empty": _entry(400, "bad_request", N_("a reply cannot be empty")),
    "reply_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a reply has at most %(num)d character", "a reply has at most %(num)d characters", n))),
    "reply_invalid_characters": _entry(400, "bad_request",
                                       N_("the reply contains invalid characters")),
    "source_without_codename": _entry(400, "bad_request", N_(
        "this source left without a codename and cannot be replied to")),
    # -- notes and triage
    "note_empty": _entry(400, "bad_request", N_("a note cannot be empty")),
    "note_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a note has at most %(num)d character", "a note has at most %(num)d characters", n))),
    "note_invalid_characters": _entry(400, "bad_request",
                                      N_("the note contains invalid characters")),
    "unknown_status": _entry(400, "bad_request", N_("unknown status")),
    "label_empty": _entry(400, "bad_request", N_("a label needs a name")),
    "label_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a label has at most %(num)d character", "a label has at most %(num)d characters", n))),
    "label_invalid": _entry(400, "bad_request", N_(
        "a label cannot contain control characters or unusual spaces")),
    "unknown_label": _entry(404, "not_found", N_("no such label")),
    "unknown_reviewer": _entry(404, "not_found", N_("no such reviewer")),
    "no_selection": _entry(400, "bad_request", N_("no source was selected")),
    "filter_invalid": _entry(400, "bad_request", N_("a filter is not understood")),
    "action_unknown": _entry(400, "bad_request", N_("unknown action")),
    "email_address_invalid": _entry(400, "bad_request", N_(
        "that is not an e-mail address (it looks like name@example.org)")),
    "search_empty": _entry(400, "bad_request", N_("a search needs a word")),
    "search_too_long": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a search has at most %(num)d character", "a search has at most %(num)d characters",
        n))),
    "date_invalid": _entry(400, "bad_request", N_(
        "a date is not understood (use YYYY-MM-DD HH:00)")),
    # -- desks (issue 15): the source's choice and answers, then the admin pages
    "choose_desk": _entry(400, "refused", N_(
        "Please choose the team your information is for.")),
    "no_such_desk": _entry(404, "refused", N_(
        "That team does not exist or no longer accepts new sources. Please choose another.")),
    "answer_required": _entry(400, "refused", N_(
        "Please answer the question \u201c%(question)s\u201d.")),
    "answer_not_a_choice": _entry(400, "refused", N_(
        "Please choose one of the options of the question \u201c%(question)s\u201d.")),
    "answer_one_line": _entry(400, "refused", N_(
        "The answer to \u201c%(question)s\u201d must fit on one line.")),
    "answer_too_long": _entry(400, "refused", _counted(lambda n, p: ngettext(
        "The answer to \u201c%(question)s\u201d has at most %(num)d character.",
        "The answer to \u201c%(question)s\u201d has at most %(num)d characters.", n,
        question=p["question"]))),
    "desk_name": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a desk's name has 1 to %(num)d printable character",
        "a desk's name has 1 to %(num)d printable characters", n))),
    "desk_description": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a desk's description has at most %(num)d character",
        "a desk's description has at most %(num)d characters", n))),
    "desk_slug": _entry(400, "bad_request", N_(
        "a desk's short name has 1 to 40 letters a-z, digits and hyphens")),
    "desk_slug_taken": _entry(400, "bad_request", N_("a desk with that short name exists")),
    "not_a_member": _entry(400, "bad_request", N_(
        "%(name)s is not a member of this source's desk and could not read it")),
    "question_kind": _entry(400, "bad_request", N_("unknown kind of question")),
    "question_text": _entry(400, "bad_request", N_(
        "a question needs a label of at most 200 printable characters")),
    "question_choices": _entry(400, "bad_request", N_(
        "a choice has 2 to 20 options, as many in every language")),
    "too_many_questions": _entry(400, "bad_request", _counted(lambda n, p: ngettext(
        "a desk has at most %(num)d question", "a desk has at most %(num)d questions", n))),
    "same_desk": _entry(400, "bad_request", N_("the source is already on that desk")),
    "source_changed": _entry(409, "bad_request", N_(
        "the source changed meanwhile: try again")),
    "move_needs_keys": _entry(400, "bad_request", N_(
        "you do not hold the key of every item of this source: move it as a member of its"
        " desk, or on the command line with the recovery identity")),
}

#: Only these params name something in English (a field, marked with ``N_``) to translate.
TRANSLATED_PARAMS = frozenset({"label"})


def outcome_of(error: errors.TipboxError) -> Outcome:
    """The entry of ``error.code``; an unknown code is an internal error."""
    return CODES.get(error.code, CODES["internal"])


def explain(error: errors.TipboxError) -> tuple[int, str]:
    """The status and the message, in the request's language, for ``error``.

    Built from ``error.code`` and ``error.params`` only, never from ``str(error)``.
    """
    outcome = outcome_of(error)
    params = {name: gettext(str(value)) if name in TRANSLATED_PARAMS else value
              for name, value in error.params.items()}
    return outcome.status, outcome.wording(params)


#: Errors that are not tipbox's own, by class, most specific first.
PAGES: tuple[tuple[type[BaseException], Page], ...] = (
    (CSRFError, Page(400, "csrf")),
    (http.RequestEntityTooLarge, Page(413, "too_large")),
    (http.ServiceUnavailable, Page(503, "unavailable")),
    (http.BadRequest, Page(400, "bad_request")),
    (http.Forbidden, Page(403, "forbidden")),
    (http.NotFound, Page(404, "not_found")),
    (http.MethodNotAllowed, Page(405, "method_not_allowed")),
)

SERVER_ERROR = Page(500, "server_error")

#: Werkzeug's errors by class, as the code of the same meaning (for JSON answers).
HTTP_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (http.RequestEntityTooLarge, "too_large"),
    (http.ServiceUnavailable, "storage_unavailable"),
    (http.BadRequest, "invalid_input"),
    (http.Forbidden, "forbidden"),
    (http.NotFound, "not_found"),
    (http.MethodNotAllowed, "method_not_allowed"),
)

#: Requests under this path are answered with JSON errors, never pages.
JSON_PREFIX = "/api/"


def page_for(error: BaseException) -> Page:
    """The page for ``error``: by code for tipbox's errors, else by class; the rest is a 500."""
    if isinstance(error, errors.TipboxError):
        outcome = outcome_of(error)
        return SERVER_ERROR if outcome.status == 500 else Page(outcome.status, outcome.template)
    for cls, page in PAGES:
        if isinstance(error, cls):
            return page
    if isinstance(error, http.HTTPException) and error.code is not None and error.code < 500:
        return Page(error.code, "bad_request")
    return SERVER_ERROR


def render_error(error: BaseException) -> Response:
    """Render the friendly page for ``error`` (keeping e.g. a 405's ``Allow`` header).

    Under :data:`JSON_PREFIX` the answer is :func:`render_json_error`'s instead.
    """
    if request.path.startswith(JSON_PREFIX):
        return render_json_error(error)
    page = page_for(error)
    if page is SERVER_ERROR:
        _log_unexpected(error)
    page_html = render_template(f"errors/{page.template}.html", **refusal_context(error))
    return _with_headers_of(error, Response(page_html, status=page.status))


def refusal_context(error: BaseException) -> dict[str, str | None]:
    """What an error page may show of ``error``: the name of the limit it hit, if any.

    ``refused_limit`` is a setting's fixed name (``max_message_chars``,
    ``max_upload_bytes``...) from ``params["limit"]``; the page words it and
    shows the limit's value in the request's language. ``refusal`` is the
    code's wording (:func:`explain`): made from the table and the error's
    params, never from submitted text.
    """
    limit = error.params.get("limit") if isinstance(error, errors.TipboxError) else None
    wording = explain(error)[1] if isinstance(error, errors.TipboxError) else None
    return {"refused_limit": limit if isinstance(limit, str) else None, "refusal": wording}


def _with_headers_of(error: BaseException, response: Response) -> Response:
    """Keep the headers an HTTP error carries (``Allow``, ``Retry-After``), not its type."""
    if isinstance(error, http.HTTPException):
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
    return response


def json_error_of(error: BaseException) -> tuple[int, str, str]:
    """``(status, code, message)`` of ``error`` for a JSON answer, from :data:`CODES`.

    The status is the page's (:func:`page_for`); an HTTP error without a code
    of its own is ``invalid_input`` with its status; anything unexpected is
    ``internal`` (500).
    """
    status = page_for(error).status
    if status == SERVER_ERROR.status:
        return status, "internal", explain(errors.TipboxError())[1]
    if isinstance(error, errors.TipboxError):
        return status, error.code, explain(error)[1]
    code = next((code for cls, code in HTTP_CODES if isinstance(error, cls)), "invalid_input")
    return status, code, explain(errors.TipboxError(code=code))[1]


def render_json_error(error: BaseException) -> Response:
    """``{"error": code, "message": text}`` with the status of ``error``'s code.

    The same table, wording and logging as the pages; a 401 names the
    ``Bearer`` scheme (``WWW-Authenticate``).
    """
    status, code, message = json_error_of(error)
    if status == SERVER_ERROR.status:
        _log_unexpected(error)
    response = jsonify(error=code, message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return _with_headers_of(error, response)


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
