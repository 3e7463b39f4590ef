"""The admin routes: parse the form, call one admin service, render.

Every route is behind :func:`~tipbox.reviewer.guard.admin_required`. Pages
that follow a POST are rendered directly (status 200, or 4xx with the
error), so that what must be said once (a one-time password, "rotate the
key now") is said in that response. A refused change shows the status and
message :func:`tipbox.web.errors.explain` gives for the error's code.
"""

from __future__ import annotations

import time

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import Busy, Forbidden, InvalidInput, NotFound
from tipbox.reviewer import forms
from tipbox.reviewer.admin import pages
from tipbox.reviewer.admin.access import admin_services
from tipbox.reviewer.admin.logo_upload import uploaded_logo
from tipbox.reviewer.guard import admin_required, current_session
from tipbox.services.accounts.totp import qr_svg
from tipbox.services.custody.rotation import RotatedMeanwhile
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.web.errors import explain
from tipbox.web.i18n import N_, gettext, ngettext

bp = Blueprint("admin", __name__, url_prefix="/admin")

Page = tuple[str, int]


_DISABLED = N_("%(name)s is disabled: their sessions and keys are deleted.")
_DELETED = N_("%(name)s is deleted with their sessions and keys.")


def _me() -> str:
    return current_session().username


def _rotate() -> str:
    return gettext(
        "Rotate the newsroom key now, so that nothing submitted from now on can be read"
        " with a copy they may have kept."
    )


@bp.get("/")
@admin_required
def index() -> BaseResponse:
    return redirect(url_for("admin.reviewers"), code=303)


# -- reviewers ---------------------------------------------------------------------------


@bp.get("/reviewers")
@admin_required
def reviewers() -> Page:
    return pages.reviewers()


@bp.post("/reviewers")
@admin_required
def add_reviewer() -> Page:
    """Create an account; its one-time password and TOTP secret are shown once."""
    try:
        username = forms.username(request.form)
        is_admin = request.form.get("is_admin") == "1"
        _, enrolment = admin_services().accounts.add(
            username, is_admin=is_admin, identities=current_session().identities(),
            desks=_chosen_desks(), by=_me()
        )
    except InvalidInput as error:
        status, message = explain(error)
        return pages.reviewers(status, error=message)
    return pages.enrolment(enrolment, qr_svg(enrolment.uri), gettext("New account"))


def _chosen_desks() -> list[int] | None:
    """The desks ticked for a new account; ``None`` (the only desk) on a one-desk instance."""
    if len(admin_services().instance.desks.all()) == 1:
        return None
    ticked = request.form.getlist("desk")
    return forms.item_ids(ticked) if ticked else []  # an account may wait for its desks


@bp.post("/reviewers/<id:reviewer_id>/<action>")
@admin_required
def change_reviewer(reviewer_id: int, action: str) -> Page:
    """disable, enable, delete, reset (password or 2FA), admin (grant or revoke)."""
    handler = _REVIEWER_ACTIONS.get(action)
    if handler is None:
        raise NotFound("no such action")
    try:
        return handler(reviewer_id)
    except (InvalidInput, Forbidden) as error:
        status, message = explain(error)
        return pages.reviewers(status, error=message)


def _disable(reviewer_id: int) -> Page:
    removed = admin_services().accounts.disable(reviewer_id, by=_me())
    return pages.reviewers(message=gettext(_DISABLED, name=removed.username) + " " + _rotate())


def _enable(reviewer_id: int) -> Page:
    services = admin_services()
    services.accounts.enable(reviewer_id, current_session().identities(), by=_me())
    username = services.accounts.get(reviewer_id).username
    return pages.reviewers(message=gettext("%(name)s is enabled again.", name=username))


def _delete(reviewer_id: int) -> Page:
    forms.confirmed(request.form, code="confirm_delete_account")
    removed = admin_services().accounts.delete(reviewer_id, by=_me())
    return pages.reviewers(message=gettext(_DELETED, name=removed.username) + " " + _rotate())


def _reset(reviewer_id: int) -> Page:
    """New credentials; a disabled account stays disabled (the page says so)."""
    services = admin_services()
    disabled = services.accounts.get(reviewer_id).disabled  # and stays so: see reset()
    enrolment = services.accounts.reset(reviewer_id, current_session().identities(), by=_me())
    return pages.enrolment(enrolment, qr_svg(enrolment.uri), gettext("Account reset"),
                           disabled=disabled)


def _set_admin(reviewer_id: int) -> Page:
    is_admin = forms.flag(request.form, "admin", label="admin")
    services = admin_services()
    services.accounts.set_admin(reviewer_id, is_admin=is_admin, by=_me())
    username = services.accounts.get(reviewer_id).username
    text = (gettext("%(name)s is now an admin.", name=username) if is_admin
            else gettext("%(name)s is no longer an admin.", name=username))
    return pages.reviewers(message=text)


_REVIEWER_ACTIONS = {
    "disable": _disable,
    "enable": _enable,
    "delete": _delete,
    "reset": _reset,
    "reset-2fa": _reset,
    "admin": _set_admin,
}


# -- keys --------------------------------------------------------------------------------


@bp.get("/keys")
@admin_required
def keys() -> Page:
    return pages.keys()


@bp.post("/keys/rotate")
@admin_required
def rotate() -> Page:
    """New active key; this admin's session receives it at once.

    Without ``confirm=yes`` nothing changes: the page says what a rotation
    means for the fingerprint that sources compare in print, and asks first.
    """
    services = admin_services()
    desk = services.instance.desks.get(forms.item_id(request.form.get("desk", str(DEFAULT_DESK))))
    if request.form.get("confirm") != "yes":
        return pages.render("confirm_rotate.html", desk=desk,
                            current=services.instance.keyring.active_key(desk.id))
    try:
        rotated = services.rotation.rotate(desk.id, replacing=_replacing(), by=_me())
    except Busy:
        return _maintenance_busy()
    except RotatedMeanwhile:
        return pages.keys(409, error=gettext(
            "Another admin rotated this desk's key meanwhile: nothing was changed."
            " Check the new key below before you rotate again."))
    pages.add_to_session([rotated.identity])
    return pages.keys(
        message=gettext("The new key %(key)s is active.", key=rotated.key.fingerprint),
        rotated=rotated.key,
    )


def _replacing() -> int | None:
    """The key the confirmation page showed as active (None from an older page)."""
    shown = request.form.get("replacing")
    return None if shown is None else forms.item_id(shown)


@bp.post("/keys/rewrap")
@admin_required
def rewrap() -> Page:
    """Re-wrap one slice of headers with this session's keys; the page shows progress."""
    services = admin_services()
    try:
        report = services.rotation.rewrap(
            current_session().identities(), limit=pages.REWRAP_SLICE, by=_me()
        )
    except Busy:
        return _maintenance_busy()
    return pages.keys(report=report)


def _maintenance_busy() -> Page:
    return pages.keys(503, error=gettext(
        "Another key rotation, re-wrap or destruction is running, perhaps on another host."
        " Nothing was changed: try again when it has finished."))


@bp.post("/keys/<id:key_id>/destroy")
@admin_required
def destroy(key_id: int) -> Page:
    services = admin_services()
    try:
        forms.confirmed(request.form, code="confirm_destroy_key")
        key = services.rotation.destroy(key_id, by=_me())
    except Busy:
        return _maintenance_busy()
    except InvalidInput as error:  # KeyInUse included
        status, message = explain(error)
        return pages.keys(status, error=message)
    return pages.keys(message=gettext("The key %(key)s is destroyed.", key=key.fingerprint))


# -- retention, settings, audit ------------------------------------------------------------


@bp.get("/retention")
@admin_required
def retention() -> Page:
    return pages.retention()


@bp.post("/retention/purge")
@admin_required
def purge() -> Page:
    services = admin_services()
    days = services.settings.current().retention_days
    plan = services.retention.purge(days, now=time.time(), by=_me())
    text = gettext(
        "Removed %(items)s and %(sources)s.",
        items=ngettext("%(num)s item", "%(num)s items", plan.items),
        sources=ngettext("%(num)s source", "%(num)s sources", len(plan.sources)),
    )
    return pages.retention(message=text)


@bp.get("/settings")
@admin_required
def settings() -> Page:
    return pages.settings()


@bp.post("/settings")
@admin_required
def save_settings() -> Page:
    services = admin_services()
    fields = {name: request.form[name] for name in pages.SETTING_FIELDS if name in request.form}
    try:
        services.settings.update(fields, by=_me())
    except InvalidInput as error:
        status, message = explain(error)
        return pages.settings(status, error=message)
    return pages.settings(message=gettext("Settings saved."))


@bp.post("/settings/logo")
@admin_required
def upload_logo() -> Page:
    """Replace the logo by the uploaded PNG or JPEG, re-encoded (:mod:`tipbox.services.logo`)."""
    try:
        admin_services().settings.set_logo(uploaded_logo(), by=_me())
    except InvalidInput as error:
        status, message = explain(error)
        return pages.settings(status, error=message)
    return pages.settings(message=gettext("The logo is saved."))


@bp.post("/settings/logo/remove")
@admin_required
def remove_logo() -> Page:
    admin_services().settings.remove_logo(by=_me())
    return pages.settings(message=gettext("The logo is removed."))


@bp.get("/audit")
@admin_required
def audit() -> Page:
    return pages.audit(request.args)
