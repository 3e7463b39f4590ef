"""The admin pages of desks (issue 15): create, name, open or close, members, questions.

Routes under ``/admin/desks``, each behind
:func:`~tipbox.reviewer.guard.admin_required`; POSTs need the CSRF token.
A desk's key is created with the desk; the acting admin's session receives
it when the admin is one of the first members. Moving a source lives on the
source's page (``POST /admin/sources/<id>/move``): the admin must be a member
of its desk, since the move re-wraps with the keys the admin's session holds.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from tipbox.errors import InvalidInput, NotFound, TooLarge
from tipbox.reviewer import forms
from tipbox.reviewer.admin import pages
from tipbox.reviewer.admin.access import admin_services
from tipbox.reviewer.guard import admin_required, current_session, services
from tipbox.services.desks.desks import Desk, parse_texts
from tipbox.services.desks.questions import KINDS, parse_question_texts
from tipbox.services.instance_settings import LANDING_LANGUAGES
from tipbox.web.errors import explain
from tipbox.web.i18n import gettext, language_name

__all__ = ["bp"]

bp = Blueprint("desks", __name__, url_prefix="/admin")

Page = tuple[str, int]


def _me() -> str:
    return current_session().username


def _languages() -> list[tuple[str, str]]:
    return [(code, language_name(code)) for code in ("en", *LANDING_LANGUAGES)]


def _texts(prefix: str) -> dict[str, tuple[str, str]]:
    """``{language: (first, second)}`` from the fields ``<prefix>_<field>_<language>``."""
    first, second = {"desk": ("name", "description"), "q": ("label", "choices")}[prefix]
    return {code: (request.form.get(f"{prefix}_{first}_{code}", ""),
                   request.form.get(f"{prefix}_{second}_{code}", ""))
            for code in ("en", *LANDING_LANGUAGES)}


def _desk_page(desk: Desk, status: int = 200, **context: object) -> Page:
    instance = admin_services().instance
    members = instance.desks.members(desk.id)
    member_ids = {member[0] for member in members}
    others = [a for a in admin_services().accounts.accounts() if a.id not in member_ids]
    return pages.render("desk.html", status, desk=desk, members=members, others=others,
                        questions=instance.questions.of_desk(desk.id), kinds=KINDS,
                        desk_languages=_languages(), **context)


def _desks_page(status: int = 200, **context: object) -> Page:
    instance = admin_services().instance
    keys = instance.keyring.active_keys()
    rows = [(desk, keys.get(desk.id), len(instance.desks.members(desk.id)))
            for desk in instance.desks.all()]
    return pages.render("desks.html", status, rows=rows, desk_languages=_languages(),
                        accounts=admin_services().accounts.accounts(), **context)


@bp.get("/desks")
@admin_required
def desks() -> Page:
    return _desks_page()


@bp.post("/desks")
@admin_required
def create_desk() -> Page:
    """A new desk with its own key, granted to the chosen members and the recovery key."""
    try:
        ticked = request.form.getlist("member")
        members = forms.item_ids(ticked) if ticked else []  # a desk may start without members
        texts = parse_texts(_texts("desk"))
        created = admin_services().instance.desks.create(
            request.form.get("slug", ""), texts, members=members, by=_me())
    except (InvalidInput, NotFound) as error:
        status, message = explain(error)
        return _desks_page(status, error=message)
    if current_session().reviewer_id in members:
        pages.add_to_session([created.identity])
    return _desk_page(created.desk, message=gettext(
        "The desk %(name)s is ready. Its key's fingerprint is %(key)s: publish it.",
        name=created.desk.text("en").name, key=created.key.fingerprint))


def _desk(desk_id: int) -> Desk:
    return admin_services().instance.desks.get(desk_id)


@bp.get("/desks/<id:desk_id>")
@admin_required
def desk(desk_id: int) -> Page:
    return _desk_page(_desk(desk_id))


@bp.post("/desks/<id:desk_id>/texts")
@admin_required
def rename_desk(desk_id: int) -> Page:
    desks_ = admin_services().instance.desks
    try:
        desks_.rename(desk_id, parse_texts(_texts("desk")), by=_me())
    except InvalidInput as error:
        status, message = explain(error)
        return _desk_page(_desk(desk_id), status, error=message)
    return _desk_page(_desk(desk_id), message=gettext("Saved."))


@bp.post("/desks/<id:desk_id>/open")
@admin_required
def open_desk(desk_id: int) -> Page:
    is_open = forms.flag(request.form, "open", label="open")
    admin_services().instance.desks.set_open(desk_id, is_open=is_open, by=_me())
    text = (gettext("New sources can choose this desk.") if is_open else
            gettext("This desk is closed to new sources; its sources can still write."))
    return _desk_page(_desk(desk_id), message=text)


@bp.post("/desks/<id:desk_id>/members")
@admin_required
def add_member(desk_id: int) -> Page:
    """Add a member; it receives the desk's keys this admin holds."""
    reviewer_id = forms.item_id(request.form.get("reviewer", ""))
    account = services().reviewers.get(reviewer_id)
    granted = admin_services().instance.desks.add_member(
        desk_id, reviewer_id, current_session().identities(), recipient=account.recipient,
        by=_me())
    text = (gettext("%(name)s is a member and holds the desk's keys.", name=account.username)
            if granted else gettext(
                "%(name)s is a member; the desk's keys reach them at the next login of an admin"
                " who holds them.", name=account.username))
    return _desk_page(_desk(desk_id), message=text)


@bp.post("/desks/<id:desk_id>/members/<id:reviewer_id>/remove")
@admin_required
def remove_member(desk_id: int, reviewer_id: int) -> Page:
    services = admin_services()
    account = services.accounts.get(reviewer_id)
    services.instance.desks.remove_member(desk_id, reviewer_id, by=_me())
    return _desk_page(_desk(desk_id), message=gettext(
        "%(name)s is no longer a member: their keys of this desk and their sessions are"
        " deleted. Rotate the desk's key now, so that nothing sent from now on can be read"
        " with a copy they may have kept.", name=account.username))


@bp.post("/desks/<id:desk_id>/questions")
@admin_required
def add_question(desk_id: int) -> Page:
    kind = request.form.get("kind", "")
    try:
        texts = parse_question_texts(kind, _texts("q"))
        admin_services().instance.questions.add(
            desk_id, kind, texts, required=request.form.get("required") == "1", by=_me())
    except (InvalidInput, TooLarge) as error:
        status, message = explain(error)
        return _desk_page(_desk(desk_id), status, error=message)
    return _desk_page(_desk(desk_id), message=gettext("The question is on the form."))


@bp.post("/desks/<id:desk_id>/questions/<id:question_id>/remove")
@admin_required
def remove_question(desk_id: int, question_id: int) -> Page:
    admin_services().instance.questions.remove(desk_id, question_id, by=_me())
    return _desk_page(_desk(desk_id), message=gettext("The question is off the form."))


@bp.post("/sources/<id:source_id>/move")
@admin_required
def move_source(source_id: int) -> str | Page:
    """Move a source to another desk: re-wrapped for that desk's key only."""
    services = admin_services()
    try:
        target = services.instance.desks.get(forms.item_id(request.form.get("desk", "")))
        moved = services.moves.move(source_id, target.id, current_session().identities(),
                                    by=_me())
    except (InvalidInput, NotFound) as error:
        status, message = explain(error)
        return render_template("reviewer/moved.html", error=message), status
    return render_template("reviewer/moved.html", moved=moved, desk=target)

