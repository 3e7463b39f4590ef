"""The source app's routes: parse the form, call one service, render or redirect.

Nothing here records who the source is: no address, no user agent, no time.
File parts of ``POST /submit`` never reach these functions; they were
streamed into the draft while the body was parsed (see
:mod:`tipbox.source.drafts` and :mod:`tipbox.web.uploads`).
"""

from __future__ import annotations

import typing as t

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import AuthenticationFailed, NotFound
from tipbox.services.custody.keyring import NewsroomKey
from tipbox.services.desks.desks import Desk
from tipbox.services.desks.questions import answers_from
from tipbox.services.instance_settings import DEFAULT_ORGANISATION
from tipbox.services.submissions.receipts import ShownReceipt
from tipbox.source.drafts import commit_draft, current_draft
from tipbox.source.receipts import install_receipts, posted_token, send_once, take_receipt
from tipbox.source.session import (
    current_login,
    forget_login,
    refuse_ended_session,
    remember_login,
)
from tipbox.web import UploadRequest, instance
from tipbox.web.errors import EmptySubmission, explain
from tipbox.web.i18n import current_locale
from tipbox.web.numbers import id_field
from tipbox.web.page_cache import page_cache

bp = Blueprint("source", __name__)
bp.record_once(install_receipts)


@bp.context_processor
def _source_context() -> dict[str, object]:
    # A callable: only pages with the submission form look at the disk.
    return {"logged_in": current_login() is not None,
            "can_send": instance().submissions.has_room}


@bp.app_context_processor
def _every_page_context() -> dict[str, object]:
    """Also for error pages: the way back to the form, the wrong-address warning.

    The warning is decided per request and recorded nowhere: no log line, no counter.
    """
    onion_hosts = instance().settings.onion_hosts
    # A refused form returns to the same desk's form, not to the choice of desks.
    return {"submit_url": url_for("source.submit_form", desk=request.args.get("desk")),
            "wrong_address": _wrong_address(),
            "onion_address": onion_hosts[0] if onion_hosts else request.host}


def _wrong_address() -> bool:
    """Whether ``TIPBOX_ONION_HOSTS`` is set and the request's ``Host`` (sans port) is not in it."""
    onion_hosts = instance().settings.onion_hosts
    host = request.host.lower()
    name = host if host.endswith("]") or ":" not in host else host.rpartition(":")[0]
    return bool(onion_hosts) and name not in onion_hosts


@bp.get("/")
def index() -> str:
    if current_login() is not None or request.args:
        return _render_index()
    key = (str(current_locale()), _wrong_address(), _desk_facts(),
           instance().instance_settings.current())
    return page_cache().get(key, _render_index)


def _render_index() -> str:
    opened = instance()
    profile = opened.instance_settings.current()
    organisation = profile.organisation if profile.organisation != DEFAULT_ORGANISATION else None
    language = current_locale().language
    desk_keys = [(desk.text(language), desk.is_open, key.fingerprint)
                 for desk, key in desks_with_keys()]
    return render_template(
        "source/index.html",
        fingerprint=desk_keys[0][2],
        desk_keys=desk_keys if len(desk_keys) > 1 else [],
        organisation=organisation,
        landing_text=profile.landing_for(language),
    )


def desks_with_keys() -> list[tuple[Desk, NewsroomKey]]:
    """Every desk with its active key, in the order sources see them."""
    keys = instance().keyring.active_keys()
    return [(desk, keys[desk.id]) for desk in instance().desks.all() if desk.id in keys]


def _desk_facts() -> tuple[tuple[str, bool, str, str, str], ...]:
    """What the landing page shows of the desks, as a cache key."""
    language = current_locale().language
    return tuple((desk.slug, desk.is_open, desk.text(language).name,
                  desk.text(language).description, key.fingerprint)
                 for desk, key in desks_with_keys())


@bp.get("/public-key")
def public_key() -> Response:
    """The desks' public keys as an age recipients file (one line for a single desk)."""
    pairs = desks_with_keys()
    if len(pairs) == 1:
        return Response(f"{pairs[0][1].recipient}\n", mimetype="text/plain")
    language = current_locale().language
    text = "".join(f"# {desk.text(language).name} ({desk.slug}): {key.fingerprint}\n"
                   f"{key.recipient}\n" for desk, key in pairs)
    return Response(text, mimetype="text/plain")


@bp.get("/public-key/<slug>")
def desk_public_key(slug: str) -> Response:
    """One desk's public key."""
    keys = instance().keyring.active_keys()
    desk = instance().desks.by_slug(slug)
    if desk.id not in keys:
        raise NotFound("no such desk")
    return Response(f"{keys[desk.id].recipient}\n", mimetype="text/plain")


@bp.get("/submit")
def submit_form() -> str:
    """The form; first a choice of desk when several are open to a new source."""
    login = current_login()
    if login is not None:
        desk = instance().desks.get(instance().desks.desk_of_source(login.source_id))
        return render_template("source/submit.html", **form_context(desk, shown_desk=False))
    open_desks = instance().desks.open_to_sources()
    if len(open_desks) == 1:
        return render_template("source/submit.html",
                               **form_context(open_desks[0], shown_desk=False))
    asked = request.args.get("desk")
    chosen = next((desk for desk in open_desks if desk.slug == asked), None)
    if chosen is None:
        return render_template("source/choose_desk.html", desks=open_desks,
                               unknown=asked is not None)
    return render_template("source/submit.html", **form_context(chosen, shown_desk=True))


def form_context(desk: Desk, *, shown_desk: bool) -> dict[str, object]:
    """What the submission form needs for a desk: its questions and where to send."""
    return {
        "desk": desk if shown_desk else None,
        "questions": instance().questions.of_desk(desk.id),
        "submit_action": url_for("source.submit", desk=desk.slug) if shown_desk else None,
    }


@bp.post("/submit")
def submit() -> BaseResponse:
    """Finish the draft the body was streamed into, once per form; redirect to the receipt.

    The same form sent again is not committed again (see
    :mod:`tipbox.source.receipts`): its draft is aborted when the request ends.
    """
    refuse_ended_session()
    send_once(posted_token(request.form.get("form_token")), _commit_submission)
    return redirect(url_for(".receipt"), code=303)


def _commit_submission() -> ShownReceipt:
    message = request.form.get("message", "")
    draft = current_draft()
    questions = instance().questions.of_desk(draft.desk_id)
    answers = answers_from(questions, request.form, current_locale().language)
    if (not message.strip() and not answers
            and t.cast(UploadRequest, request).upload_stats.file_bytes == 0):
        raise EmptySubmission("neither a message nor a non-empty file")
    draft.add_answers(answers)
    draft.add_message(message)
    want_codename = current_login() is None and "no_codename" not in request.form
    return ShownReceipt.of(commit_draft(want_codename=want_codename))


@bp.get("/submit/receipt")
def receipt() -> str:
    """The receipt of the form this browser sent: shown once, then only "already shown"."""
    shown = take_receipt()
    if shown is not None and shown.codename is not None:
        return render_template("source/codename.html", receipt=shown, codename=shown.codename)
    return render_template("source/received.html", receipt=shown)


@bp.get("/login")
def login_form() -> str:
    return render_template("source/login.html")


@bp.post("/login")
def login() -> BaseResponse | tuple[str, int]:
    """Same work and the same form again, with the error at the field, for any wrong codename.

    The typed codename is not put back into the form.
    """
    try:
        source_login = instance().sources.login(request.form.get("codename", ""))
    except AuthenticationFailed as error:
        status, _ = explain(error)
        return render_template("source/login.html", login_failed=True), status
    remember_login(source_login)
    return redirect(url_for(".replies"), code=303)


@bp.get("/replies")
def replies() -> BaseResponse | str:
    source_login = current_login()
    if source_login is None:
        refuse_ended_session()
        return redirect(url_for(".login_form"), code=303)
    desk = instance().desks.get(instance().desks.desk_of_source(source_login.source_id))
    return render_template("source/replies.html", replies=instance().sources.replies(source_login),
                           **form_context(desk, shown_desk=False))


@bp.post("/replies/delete")
def delete_reply() -> BaseResponse:
    source_login = current_login()
    if source_login is None:
        refuse_ended_session()
        return redirect(url_for(".login_form"), code=303)
    reply_id = id_field(request.form.get("reply_id"), what="reply")  # ASCII digits only
    instance().sources.delete_reply(source_login, reply_id)
    return redirect(url_for(".replies"), code=303)


@bp.post("/logout")
def logout() -> BaseResponse:
    forget_login()
    return redirect(url_for(".logged_out"), code=303)


@bp.get("/logged-out")
def logged_out() -> str:
    """Closing advice: close Tor Browser now, and how to come back."""
    return render_template("source/logged_out.html")
