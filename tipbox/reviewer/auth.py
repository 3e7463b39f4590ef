"""Login, enrolment, password change and logout: parse the form, call one service, render.

A failed login shows the same page and message whatever was wrong (unknown
user, disabled account, wrong password, wrong, replayed or malformed code,
Unicode digits included); a locked username says when to try again; a form
that lacks a field or has one too long says which. Each of these answers is
the same whether the password was right or not: the form is read before
the password is checked, and every failure after it is one
``AuthenticationFailed`` (or ``AccountLocked``, raised before the password
is looked at).
"""

from __future__ import annotations

import math

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import AuthenticationFailed, InvalidInput
from tipbox.reviewer import forms
from tipbox.reviewer.error_messages import error_message
from tipbox.reviewer.guard import (
    current_session,
    end_session,
    login_required,
    services,
    start_session,
    token,
)
from tipbox.services.reviewers import (
    MIN_PASSWORD_CHARS,
    AccountLocked,
    qr_svg,
    suggest_password,
)
from tipbox.services.sessions import LoginResult, NoSession
from tipbox.web.i18n import N_, gettext, ngettext

bp = Blueprint("auth", __name__)

LOGIN_FAILED = N_("That username, password and code did not work together.")


def _page(template: str, status: int = 200, /, **context: object) -> tuple[str, int]:
    """Render ``reviewer/<template>`` with ``status``."""
    return render_template(f"reviewer/{template}", **context), status


def _after_login(result: LoginResult) -> BaseResponse:
    start_session(result.token)
    target = "auth.enrol_form" if result.kind == "enrol" else "inbox.index"
    return redirect(url_for(target), code=303)


@bp.get("/login")
def login_form() -> tuple[str, int]:
    return _page("login.html")


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int]:
    """Same response for every wrong credential; a fresh session on success."""
    try:
        username = forms.username(request.form)
        password = forms.password(request.form)
        code = forms.text(request.form, "code", label=N_("code"), max_chars=32)
    except InvalidInput as error:
        return _page("login.html", 400, error=error_message(error))
    try:
        result = services().logins.login(username, password, code)
    except AccountLocked as locked:
        minutes = max(1, math.ceil(locked.retry_after / 60))
        return _page("login.html", 429, error=ngettext(
            "Too many failed attempts. Try again in %(num)d minute.",
            "Too many failed attempts. Try again in %(num)d minutes.", minutes))
    except AuthenticationFailed:
        return _page("login.html", 403, error=gettext(LOGIN_FAILED))
    return _after_login(result)


def _enrol_page(status: int = 200, error: str | None = None) -> BaseResponse | tuple[str, int]:
    try:
        enrolment = services().logins.enrolment(token())
    except NoSession:  # enrolled already, or not logged in: the inbox decides
        return redirect(url_for("inbox.index"), code=303)
    return _page("enrol.html", status, error=error, secret=enrolment.secret_text,
                 qr=qr_svg(enrolment.uri), suggestion=suggest_password(),
                 min_chars=MIN_PASSWORD_CHARS)


@bp.get("/enrol")
def enrol_form() -> BaseResponse | tuple[str, int]:
    return _enrol_page()


@bp.post("/enrol")
def enrol() -> BaseResponse | tuple[str, int]:
    """First code + new password: the account becomes active and a session opens."""
    try:
        new_password = _new_password()
        code = forms.required(request.form, "code", label=N_("code"), max_chars=32)
        result = services().logins.complete_enrolment(token(), new_password, code)
    except NoSession:
        end_session()
        return redirect(url_for("auth.login_form"), code=303)
    except InvalidInput as error:
        return _enrol_page(400, error_message(error))
    except AuthenticationFailed:
        return _enrol_page(403, gettext(
            "That code did not work. Wait for the next one and try again."))
    return _after_login(result)


def _new_password() -> str:
    new = forms.password(request.form, "new_password", label=N_("new password"))
    confirm = forms.password(request.form, "confirm_password",
                             label=N_("password confirmation"))
    if new != confirm:
        raise InvalidInput(gettext("the two new passwords are not the same"))
    return new


@bp.get("/account/password")
@login_required
def password_form() -> tuple[str, int]:
    return _page("password.html", suggestion=suggest_password(), min_chars=MIN_PASSWORD_CHARS)


@bp.post("/account/password")
@login_required
def change_password() -> BaseResponse | tuple[str, int]:
    """Re-wrap the reviewer key under the new password; other sessions end."""
    context: dict[str, object] = {"suggestion": suggest_password(),
                                  "min_chars": MIN_PASSWORD_CHARS}
    try:
        old = forms.password(request.form, "old_password", label=N_("current password"))
        result = services().logins.change_password(current_session(), old, _new_password())
    except InvalidInput as error:
        return _page("password.html", 400, error=error_message(error), **context)
    except AccountLocked:
        return _page("password.html", 429, error=gettext("Too many failed attempts; wait a while."),
                     **context)
    except AuthenticationFailed:
        return _page("password.html", 403, error=gettext("The current password is not right."),
                     **context)
    start_session(result.token)
    return _page("password.html", message=gettext("Your password was changed."),
                 **context)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Delete the server-side session, clear the cookie and the browser's site data."""
    services().logins.logout(token())
    end_session()
    response = redirect(url_for("auth.login_form"), code=303)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response
