"""Security keys (issue 17): the account page, the key login, and the requirement's gate.

Parse the form, call :class:`~tipbox.services.accounts.security_keys.SecurityKeys`,
render. Contract:

- These pages, and only these, run the app's one script
  (``static/security-keys.js``, :func:`tipbox.web.headers.allow_own_script`):
  WebAuthn has no form-only path. The options ride in the page; the
  browser's answer comes back in an ordinary CSRF-checked form post.
- The relying party is the page's own origin (``request.scheme`` and
  ``Host``); the service refuses an answer made for another origin or RP ID.
- **Key login** takes two pages: the username (no script), then the
  password and the key. Every failure gives the same page, message and
  status (:class:`~tipbox.services.accounts.security_keys.KeyLoginFailed`),
  with a fresh challenge; the challenge is bound to a nonce kept in the
  signed cookie, replaced at every new page.
- **The requirement's gate** (:func:`require_a_key`, before every request of
  the app): when security keys are required, a ``full`` session (cookie or
  bearer token) of an account without a key reaches only the key pages,
  logout and static files (pages: a redirect to the account page; the API:
  403 ``security_keys_required``), and the API's code login is refused.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import AuthenticationFailed, Forbidden, InvalidInput
from tipbox.reviewer import forms
from tipbox.reviewer.api import bearer_token
from tipbox.reviewer.guard import (
    admin_required,
    current_session,
    login_required,
    services,
    start_session,
    token,
)
from tipbox.services.accounts.security_keys import (
    MAX_NAME_CHARS,
    MAX_RESPONSE_CHARS,
    RelyingParty,
    SecurityKeys,
)
from tipbox.web.errors import explain
from tipbox.web.headers import allow_own_script
from tipbox.web.i18n import N_, gettext

__all__ = ["bp"]

bp = Blueprint("security_keys", __name__)

Page = tuple[str, int]
_NONCE = "key_login_nonce"
_HERE = "auth.security_keys."
#: What a session that must add a key may still reach (endpoint names).
_OPEN = frozenset({
    "static", "auth.login_form", "auth.login", "auth.enrol_form", "auth.enrol", "auth.logout",
    *(_HERE + name for name in ("account", "register", "require", "login_form",
                                "login_options", "login")),
})


def keys() -> SecurityKeys:
    """The security-key service of the current app."""
    return services().security_keys


def _rp() -> RelyingParty:
    return RelyingParty.of(request.scheme, request.host)


# -- the gate of the requirement ---------------------------------------------------------------


@bp.before_app_request
def require_a_key() -> BaseResponse | None:
    """Under the requirement, confine a session without a key to the key pages."""
    if request.endpoint in _OPEN or request.endpoint is None:
        return None
    in_api = request.blueprint == "api"
    if in_api and request.endpoint == "api.create_token" and keys().required():
        raise Forbidden("security keys are required", code="security_keys_required")
    if not keys().needs_key(bearer_token() if in_api else token()):
        return None
    if in_api:
        raise Forbidden("add a security key first", code="security_keys_required")
    return redirect(url_for(_HERE + "account"), code=303)


# -- the account page -------------------------------------------------------------------------


def _account_page(status: int = 200, error: str | None = None, /, **context: object) -> Page:
    allow_own_script()
    me = current_session()
    service = keys()
    return render_template(
        "reviewer/security_keys.html",
        keys=service.keys_of(me.reviewer_id),
        options=service.registration_options(me, _rp()),
        required=service.required(),
        without=service.accounts_without_keys() if me.is_admin else [],
        max_name_chars=MAX_NAME_CHARS,
        error=error,
        **context,
    ), status


@bp.get("/account/security-keys")
@login_required
def account() -> Page:
    return _account_page()


@bp.post("/account/security-keys")
@login_required
def register() -> Page:
    """Add the key the browser just made (current password needed)."""
    try:
        name = forms.required(request.form, "name", label=N_("name of the key"),
                              max_chars=MAX_NAME_CHARS)
        password = forms.password(request.form, "password", label=N_("current password"))
        response = forms.required(request.form, "credential", label=N_("security key"),
                                  max_chars=MAX_RESPONSE_CHARS)
        follow_up = request.form.get("follow_up", "")[:MAX_RESPONSE_CHARS + 1]
        key = keys().register(current_session(), _rp(), password=password, name=name,
                              response=response, follow_up=follow_up or None)
    except (InvalidInput, AuthenticationFailed) as error:
        return _account_page(*explain(error))
    if key.unlocks:
        text = gettext("The security key %(name)s was added. It can also unlock your"
                       " reviewer key.", name=key.name)
    else:
        text = gettext("The security key %(name)s was added.", name=key.name)
    return _account_page(message=text)


@bp.post("/account/security-keys/<id:key_id>/remove")
@login_required
def remove(key_id: int) -> Page:
    """Remove one of the reviewer's own keys (current password needed)."""
    try:
        password = forms.password(request.form, "password", label=N_("current password"))
        name = keys().remove(current_session(), key_id, password)
    except (InvalidInput, AuthenticationFailed) as error:
        return _account_page(*explain(error))
    return _account_page(message=gettext("The security key %(name)s was removed.", name=name))


@bp.post("/account/security-keys/require")
@admin_required
def require() -> Page:
    """Require security keys of every account, or stop requiring them."""
    try:
        required = forms.flag(request.form, "required", label=N_("security keys"))
    except InvalidInput as error:
        return _account_page(*explain(error))
    me = current_session()
    keys().set_required(required, keep=me.id_hash, by=me.username)
    if required:
        text = gettext("Every account now logs in with a security key. Everyone else was"
                       " logged out.")
    else:
        text = gettext("Security keys are no longer required.")
    return _account_page(message=text)


# -- the key login ------------------------------------------------------------------------------


def _login_page(username: str | None, status: int = 200, error: str | None = None, /) -> Page:
    """Step 1 (``username`` is ``None``): the name; step 2: password and key."""
    options = None
    if username is not None:
        allow_own_script()
        nonce = secrets.token_bytes(32)
        session[_NONCE] = base64.urlsafe_b64encode(nonce).decode("ascii")
        options = keys().login_options(username, _rp(), nonce=nonce)
    return render_template("reviewer/login_key.html", username=username, options=options,
                           required=keys().required(), error=error), status


def _nonce() -> bytes:
    value = session.pop(_NONCE, None)
    try:
        return base64.urlsafe_b64decode(value) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        return b""


@bp.get("/login/key")
def login_form() -> Page:
    return _login_page(None)


@bp.post("/login/key")
def login_options() -> Page:
    """The username -> the page that asks for the password and the key."""
    try:
        username = forms.username(request.form)
    except InvalidInput as error:
        return _login_page(None, *explain(error))
    return _login_page(username)


@bp.post("/login/key/finish")
def login() -> BaseResponse | Page:
    """Password + the key's answer -> a fresh session; one answer for every failure."""
    nonce = _nonce()
    try:
        username = forms.username(request.form)
    except InvalidInput as error:
        return _login_page(None, *explain(error))
    try:
        password = forms.password(request.form)
        response = forms.text(request.form, "assertion", label=N_("security key"),
                              max_chars=MAX_RESPONSE_CHARS)
        result = keys().login(username, password, response, _rp(), nonce=nonce)
    except (InvalidInput, AuthenticationFailed) as error:
        return _login_page(username, *explain(error))
    start_session(result.token)
    return redirect(url_for("inbox.index"), code=303)
