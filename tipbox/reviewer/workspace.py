"""The workspace routes: triage (status, labels, assignment), notes and bulk actions.

Every route is behind :func:`~tipbox.reviewer.guard.login_required` and
takes a POST with the CSRF token. A route acts on one source (from its
page) or on the sources ticked in the list (``/bulk``); a refused change
re-renders the page it came from with the error next to the form, and
changes nothing. Deleting several sources needs a confirmation page that
names them.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import InvalidInput, NotFound, TooLarge
from tipbox.reviewer import forms
from tipbox.reviewer.downloads import attachment
from tipbox.reviewer.guard import (
    current_session,
    login_required,
    refuse_other_desks_among,
    services,
)
from tipbox.reviewer.views import EMPTY_PAGE, conversation_page, list_page
from tipbox.web.errors import explain
from tipbox.web.i18n import N_

bp = Blueprint("workspace", __name__)

Refusal = InvalidInput | NotFound | TooLarge


def _me() -> str:
    return current_session().username


def _on_source(source_id: int, change: Callable[[], object]) -> BaseResponse | tuple[str, int]:
    """Run ``change``; back to the source page, or that page with the error."""
    try:
        change()
    except (InvalidInput, TooLarge) as error:
        return conversation_page(source_id, *explain(error))
    return redirect(url_for("inbox.source", source_id=source_id), code=303)


def _field(name: str, label: str, max_chars: int = 200) -> str:
    return forms.required(request.form, name, label=label, max_chars=max_chars)


@bp.post("/sources/<id:source_id>/status")
@login_required
def status(source_id: int) -> BaseResponse | tuple[str, int]:
    return _on_source(source_id, lambda: services().triage.set_status(
        [source_id], _field("status", N_("status")), by=_me()))


@bp.post("/sources/<id:source_id>/labels")
@login_required
def add_label(source_id: int) -> BaseResponse | tuple[str, int]:
    return _on_source(source_id, lambda: services().triage.add_label(
        [source_id], _field("label", N_("label")), by=_me()))


@bp.post("/sources/<id:source_id>/labels/remove")
@login_required
def remove_label(source_id: int) -> BaseResponse | tuple[str, int]:
    return _on_source(source_id, lambda: services().triage.remove_label(
        [source_id], _field("label", N_("label")), by=_me()))


@bp.post("/sources/<id:source_id>/assignees")
@login_required
def assign(source_id: int) -> BaseResponse | tuple[str, int]:
    return _on_source(source_id, lambda: services().triage.assign(
        [source_id], _field("reviewer", N_("reviewer"), 64), by=_me()))


@bp.post("/sources/<id:source_id>/assignees/remove")
@login_required
def unassign(source_id: int) -> BaseResponse | tuple[str, int]:
    return _on_source(source_id, lambda: services().triage.unassign(
        [source_id], _field("reviewer", N_("reviewer"), 64), by=_me()))


@bp.post("/sources/<id:source_id>/notes")
@login_required
def note(source_id: int) -> BaseResponse | tuple[str, int]:
    """Encrypt an internal note to the newsroom key."""
    return _on_source(source_id, lambda: services().notes.add(
        source_id, forms.text(request.form, "note", label=N_("note"), max_chars=10**7),
        author=_me()))


# -- bulk ----------------------------------------------------------------------------

#: Bulk action -> whether it takes a value (a status, a label or a username).
BULK_ACTIONS = {
    "status": True, "label": True, "unlabel": True, "assign": True, "unassign": True,
    "read": False, "unread": False, "star": False, "unstar": False, "delete": False,
    "zip": False,
}


@bp.post("/bulk")
@login_required
def bulk() -> BaseResponse | tuple[str, int]:
    """One action on every source ticked in the list."""
    try:
        chosen = forms.source_ids(request.form.getlist("source"))
        refuse_other_desks_among(chosen)
        action = request.form.get("action", "")
        if action not in BULK_ACTIONS:
            raise InvalidInput("unknown action", code="action_unknown")
        value = _field("value", N_("value")) if BULK_ACTIONS[action] else ""
        if action == "delete" and request.form.get("confirm") != "yes":
            return _confirm_delete(chosen)
        if action == "zip":
            return _zip(chosen)
        _apply(action, chosen, value)
    except (InvalidInput, NotFound, TooLarge) as error:
        return list_page(EMPTY_PAGE, "starred", *explain(error))
    return _back_to_list()


def _apply(action: str, chosen: list[int], value: str) -> None:
    triage, inbox, me = services().triage, services().inbox, _me()
    if action in {"read", "unread"}:
        for source_id in chosen:
            inbox.set_seen(source_id, None, seen=action == "read")
    elif action in {"star", "unstar"}:
        for source_id in chosen:
            inbox.set_starred(source_id, starred=action == "star")
    elif action == "delete":
        for source_id in chosen:
            inbox.delete_source(source_id, reviewer=me)
    else:
        change = {"status": triage.set_status, "label": triage.add_label,
                  "unlabel": triage.remove_label, "assign": triage.assign,
                  "unassign": triage.unassign}[action]
        change(chosen, value, by=me)


def _zip(chosen: list[int]) -> BaseResponse:
    """Every message and file of the selected sources, decrypted, as one zip."""
    chunks = services().inbox.zip_sources(chosen, current_session().identities(), reviewer=_me())
    return attachment(chunks, "sources.zip")


def _confirm_delete(chosen: list[int]) -> tuple[str, int]:
    """The page that names what a bulk delete would destroy, before it does."""
    inbox = services().inbox
    doomed = [inbox.source(source_id) for source_id in chosen]
    return render_template("reviewer/confirm_delete.html", doomed=doomed), 200


def _back_to_list() -> BaseResponse:
    """To the list the bulk form was sent from (``back``: a path of this app only)."""
    target = request.form.get("back", "")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return redirect(target if local else url_for("inbox.index"), code=303)
