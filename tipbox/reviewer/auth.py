"""Login, enrolment, password change and logout: parse the form, call one service, render.

A failed login shows the same page and message whatever was wrong (unknown
user, disabled account, wrong password, wrong, replayed or malformed code,
Unicode digits included); a locked username says when to try again; a form
that lacks a field or has one too long says which. Each of these answers is
the same whether the password was right or not: the form is read before
the password is checked, and every failure after it is one
``AuthenticationFailed`` (or ``AccountLocked``, raised before the password
is looked at). The status and the message of every refusal come from
:func:`tipbox.web.errors.explain`, by the error's code.

When an admin requires security keys, a code login of an account that has
one is refused the same way (it logs in with its key:
:mod:`tipbox.reviewer.security_keys`, whose pages this blueprint carries).
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import AuthenticationFailed, InvalidInput
from tipbox.reviewer import forms, security_keys
from tipbox.reviewer.guard import (
    current_session,
    end_session,
    forget_search,
    login_required,
    services,
    start_session,
    token,
)
from tipbox.services.accounts.rules import MIN_PASSWORD_CHARS, suggest_password
from tipbox.services.accounts.sessions import LoginResult, NoSession
from tipbox.services.accounts.totp import qr_svg
from tipbox.web.errors import explain
from tipbox.web.i18n import N_, gettext

bp = Blueprint("auth", __name__)
bp.register_blueprint(security_keys.bp)  # issue 17: /account/security-keys, /login/key


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
        services().security_keys.refuse_code_login(username, password)
        result = services().logins.login(username, password, code)
    except (InvalidInput, AuthenticationFailed) as error:
        status, message = explain(error)
        return _page("login.html", status, error=message)
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
    except (InvalidInput, AuthenticationFailed) as error:
        return _enrol_page(*explain(error))
    return _after_login(result)


def _new_password() -> str:
    new = forms.password(request.form, "new_password", label=N_("new password"))
    confirm = forms.password(request.form, "confirm_password",
                             label=N_("password confirmation"))
    if new != confirm:
        raise InvalidInput("the two new passwords are not the same", code="passwords_differ")
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
    except (InvalidInput, AuthenticationFailed) as error:
        status, message = explain(error)
        return _page("password.html", status, error=message, **context)
    start_session(result.token)
    return _page("password.html", message=gettext("Your password was changed."),
                 **context)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Delete the server-side session, clear the cookie and the browser's site data."""
    forget_search(token())
    services().logins.logout(token())
    end_session()
    response = redirect(url_for("auth.login_form"), code=303)
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response
