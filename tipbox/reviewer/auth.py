"""Login, enrolment, password change and logout: parse the form, call one service, render.

A failed login shows the same page and message whatever was wrong (unknown
user, wrong password, wrong or replayed code); a locked username says when
to try again; a malformed form says which field is wrong.
"""

from __future__ import annotations

import math

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import AuthenticationFailed, InvalidInput
from tipbox.reviewer import forms
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

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "That username, password and code did not work together."


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
        code = forms.text(request.form, "code", label="code", max_chars=32)
    except InvalidInput as error:
        return _page("login.html", 400, error=str(error))
    try:
        result = services().logins.login(username, password, code)
    except AccountLocked as locked:
        minutes = max(1, math.ceil(locked.retry_after / 60))
        return _page("login.html", 429, error=f"Too many failed attempts. Try again in "
                     f"{minutes} minute{'s' if minutes > 1 else ''}.")
    except AuthenticationFailed:
        return _page("login.html", 403, error=LOGIN_FAILED)
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
        code = forms.required(request.form, "code", label="code", max_chars=32)
        result = services().logins.complete_enrolment(token(), new_password, code)
    except NoSession:
        end_session()
        return redirect(url_for("auth.login_form"), code=303)
    except InvalidInput as error:
        return _enrol_page(400, str(error))
    except AuthenticationFailed:
        return _enrol_page(403, "That code did not work. Wait for the next one and try again.")
    return _after_login(result)


def _new_password() -> str:
    new = forms.password(request.form, "new_password", label="new password")
    confirm = forms.password(request.form, "confirm_password", label="password confirmation")
    if new != confirm:
        raise InvalidInput("the two new passwords are not the same")
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
        old = forms.password(request.form, "old_password", label="current password")
        result = services().logins.change_password(current_session(), old, _new_password())
    except InvalidInput as error:
        return _page("password.html", 400, error=str(error), **context)
    except AccountLocked:
        return _page("password.html", 429, error="Too many failed attempts; wait a while.",
                     **context)
    except AuthenticationFailed:
        return _page("password.html", 403, error="The current password is not right.",
                     **context)
    start_session(result.token)
    return _page("password.html", message="Your password was changed.", **context)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Delete the server-side session, clear the cookie and the browser's site data."""
    services().logins.logout(token())
    end_session()
    response = redirect(url_for("auth.login_form"), code=303)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response
