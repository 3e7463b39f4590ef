"""The inbox routes: parse the request, call one service, render, redirect or stream.

Every route here is behind :func:`~tipbox.reviewer.guard.login_required`.
Decryption uses the newsroom identities of the caller's session only.
Item and source ids in URLs are bounded integers of ASCII digits
(``<id:...>``, :class:`tipbox.web.numbers.IdConverter`), so a hostile
number, a Unicode digit included, is a 404, never a database error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import InvalidInput, NotFound, TooLarge
from tipbox.reviewer import forms
from tipbox.reviewer.downloads import attachment
from tipbox.reviewer.guard import current_session, login_required, my_desks, services
from tipbox.services.inbox.conversations import SourcePage
from tipbox.services.inbox.triage import STATUSES
from tipbox.web.errors import CODES, explain
from tipbox.web.i18n import N_, format_number, gettext, ngettext

bp = Blueprint("inbox", __name__)


def _reviewer() -> str:
    return current_session().username


def _back(source_id: int) -> BaseResponse:
    return redirect(url_for("inbox.source", source_id=source_id), code=303)


@bp.get("/")
@login_required
def index() -> tuple[str, int]:
    """The sources list, filtered, one keyset page at a time."""
    try:
        order = forms.order(request.args.get("order"))
        chosen = services().triage.resolve(
            forms.filters(request.args, me=_reviewer()), ids=_found(request.args.get("q")),
            desks=my_desks(),
        )
        page = services().inbox.sources(
            order=order, cursor=request.args.get("after") or None, chosen=chosen
        )
    except InvalidInput as error:
        return list_page(EMPTY_PAGE, "starred", *explain(error))
    return list_page(page, order)


EMPTY_PAGE = SourcePage([], None)


def _found(query: str | None) -> list[int] | None:
    """The sources a search finds (``None``: no search asked)."""
    if not query:
        return None
    session = current_session()
    return services().search.sources(session.id_hash, session.identities(), query)


def list_page(page: SourcePage, order: str, status: int = 200, error: str | None = None
               ) -> tuple[str, int]:
    """The sources list with the filters as asked (echoed into the form), and the choices."""
    asked = {key: value for key, value in request.args.items() if key in forms.LIST_PARAMETERS}
    return render_template(
        "reviewer/index.html", page=page, order=order, asked=asked, error=error,
        statuses=STATUSES, labels=services().triage.labels(),
        reviewers=colleagues(),
    ), status


def colleagues() -> list[str]:
    """The enabled members of the reviewer's desks: whom the list may filter by."""
    desks = services().instance.desks
    return sorted({name for desk_id in my_desks()
                   for _, name, disabled in desks.members(desk_id) if not disabled})


def conversation_page(source_id: int, status: int = 200, error: str | None = None
                       ) -> tuple[str, int]:
    conversation = services().inbox.conversation(
        source_id, current_session().identities(), reviewer=_reviewer()
    )
    desks = services().instance.desks
    desk_id = desks.desk_of_source(source_id)
    return render_template("reviewer/source.html", conversation=conversation,
                           source=conversation.source, error=error, statuses=STATUSES,
                           labels=services().triage.labels(),
                           reviewers=[name for _, name, disabled in desks.members(desk_id)
                                      if not disabled],
                           desk=desks.get(desk_id), desks=desks.all(),
                           me=_reviewer()), status


@bp.get("/sources/<id:source_id>")
@login_required
def source(source_id: int) -> tuple[str, int]:
    return conversation_page(source_id)


@bp.post("/sources/<id:source_id>/reply")
@login_required
def reply(source_id: int) -> BaseResponse | tuple[str, int]:
    """Encrypt a reply to the source and the newsroom key."""
    try:
        text = forms.text(request.form, "reply", label=N_("reply"), max_chars=10**7)
        services().inbox.reply(source_id, text, reviewer=_reviewer())
    except (InvalidInput, TooLarge) as error:
        return conversation_page(source_id, *explain(error))
    return _back(source_id)


@bp.post("/sources/<id:source_id>/star")
@login_required
def star(source_id: int) -> BaseResponse | tuple[str, int]:
    try:
        starred = forms.flag(request.form, "starred", label=N_("star"))
    except InvalidInput as error:
        return conversation_page(source_id, *explain(error))
    services().inbox.set_starred(source_id, starred=starred)
    return _back(source_id)


@bp.post("/sources/<id:source_id>/seen")
@login_required
def seen(source_id: int) -> BaseResponse | tuple[str, int]:
    """Mark the selected items (or, with ``all``, every item) read or unread."""
    try:
        seen_flag = forms.flag(request.form, "seen", label=N_("read or unread"))
        selected = None if "all" in request.form else forms.item_ids(
            request.form.getlist("item"))
    except InvalidInput as error:
        return conversation_page(source_id, *explain(error))
    services().inbox.set_seen(source_id, selected, seen=seen_flag)
    return _back(source_id)


@bp.post("/sources/<id:source_id>/delete")
@login_required
def delete_source(source_id: int) -> BaseResponse | tuple[str, int]:
    """Crypto-shred the whole source (needs the confirmation box)."""
    try:
        forms.confirmed(request.form, code="confirm_delete_source")
    except InvalidInput as error:
        return conversation_page(source_id, *explain(error))
    services().inbox.delete_source(source_id, reviewer=_reviewer())
    return redirect(url_for("inbox.index"), code=303)


@bp.post("/sources/<id:source_id>/items/<id:item_id>/delete")
@login_required
def delete_item(source_id: int, item_id: int) -> BaseResponse | tuple[str, int]:
    """Crypto-shred one item; without ``confirm=yes``, the page that asks first."""
    if request.form.get("confirm") != "yes":
        return _confirm_delete_item(source_id, item_id)
    services().inbox.delete_item(source_id, item_id, reviewer=_reviewer())
    return _back(source_id)


def _confirm_delete_item(source_id: int, item_id: int) -> tuple[str, int]:
    """The page naming the item (kind, file name, source) before it is destroyed."""
    conversation = services().inbox.conversation(
        source_id, current_session().identities(), reviewer=_reviewer()
    )
    doomed = next((e for e in conversation.entries if e.id == item_id), None)
    if doomed is None:
        raise NotFound("no such item")
    return render_template("reviewer/confirm_delete_item.html", item=doomed,
                           source=conversation.source), 200


@bp.get("/sources/<id:source_id>/items/<id:item_id>/download")
@login_required
def download(source_id: int, item_id: int) -> BaseResponse:
    """The decrypted item, streamed as an attachment."""
    item = services().inbox.open_file(
        source_id, item_id, current_session().identities(), reviewer=_reviewer()
    )
    return attachment(item.chunks, item.name, item.size)


@bp.get("/sources/<id:source_id>/items/<id:item_id>/export")
@login_required
def export(source_id: int, item_id: int) -> BaseResponse:
    """The item still encrypted, as a standard .age file for an air-gapped machine."""
    name, chunks = services().inbox.export_age(source_id, item_id,
                                               current_session().identities(),
                                               reviewer=_reviewer())
    return attachment(chunks, name)


@bp.get("/sources/<id:source_id>/zip")
@login_required
def zip_download(source_id: int) -> BaseResponse:
    """The selected items (``item=``), or every unread one (``unread=1``), as one zip."""
    selected = None if request.args.get("unread") == "1" else forms.item_ids(
        request.args.getlist("item"))
    summary = services().inbox.source(source_id)
    chunks = services().inbox.zip_items(
        source_id, selected, current_session().identities(), reviewer=_reviewer()
    )
    return attachment(chunks, summary.designation.replace(" ", "-") + ".zip")


def format_hour(stamp: int) -> str:
    """A stored hour (Unix seconds) as ``YYYY-MM-DD HH:00 UTC``."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:00 UTC")


def format_size(size: int) -> str:
    """A byte count for people: ``512 bytes``, ``1.5 MiB``."""
    if size < 1024:
        return ngettext("%(size)s byte", "%(size)s bytes", size, size=format_number(size))
    value, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{format_number(value, pattern='#,##0.0')} {unit}"


#: How each status reads on the pages.
STATUS_NAMES = {
    "new": N_("new"),
    "in_progress": N_("in progress"),
    "waiting": N_("waiting for the source"),
    "closed": N_("closed"),
}


def status_names() -> dict[str, dict[str, str]]:
    """``status_names`` for the templates, in the language of the request."""
    return {"status_names": {key: gettext(name) for key, name in STATUS_NAMES.items()}}


def reason_text(code: str | None) -> str:
    """What an undecryptable entry's reason code means, in the request's language."""
    outcome = CODES.get(code or "")
    if outcome is None:
        return gettext("This item cannot be decrypted with your keys.")
    return outcome.wording({})


def install_filters(app: Flask) -> None:
    """The template filters and names the reviewer pages use."""
    app.add_template_filter(format_hour, "hour")
    app.add_template_filter(format_size, "filesize")
    app.add_template_filter(reason_text, "reason")
    app.context_processor(status_names)
