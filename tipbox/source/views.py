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

from tipbox.errors import AuthenticationFailed
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
    return {"submit_url": url_for("source.submit_form"),
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
    key = (str(current_locale()), _wrong_address(), instance().keyring.active_key().fingerprint,
           instance().instance_settings.current())
    return page_cache().get(key, _render_index)


def _render_index() -> str:
    opened = instance()
    profile = opened.instance_settings.current()
    organisation = profile.organisation if profile.organisation != DEFAULT_ORGANISATION else None
    return render_template(
        "source/index.html",
        fingerprint=opened.keyring.active_key().fingerprint,
        organisation=organisation,
        landing_text=profile.landing_for(current_locale().language),
    )


@bp.get("/public-key")
def public_key() -> Response:
    key = instance().keyring.active_key()
    return Response(f"{key.recipient}\n", mimetype="text/plain")


@bp.get("/submit")
def submit_form() -> str:
    return render_template("source/submit.html")


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
    if not message.strip() and t.cast(UploadRequest, request).upload_stats.file_bytes == 0:
        raise EmptySubmission("neither a message nor a non-empty file")
    current_draft().add_message(message)
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
    return render_template("source/replies.html", replies=instance().sources.replies(source_login))


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
