"""What each admin page shows: gather it from the admin services and render.

Kept apart from the routes so that a page looks the same after a GET and
after the POST that changed something (with a message or an error).
"""

from __future__ import annotations

import time

from flask import render_template
from werkzeug.datastructures import MultiDict

from tipbox.errors import InvalidInput
from tipbox.reviewer import forms
from tipbox.reviewer.admin.access import admin_services
from tipbox.reviewer.guard import current_session, services, start_session, token
from tipbox.services.accounts.sessions import newsroom_secrets
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.custody.rotation import RewrapReport
from tipbox.services.instance_settings import LANDING_LANGUAGES, NAMES
from tipbox.services.logo import MAX_LOGO_BYTES
from tipbox.web.errors import explain
from tipbox.web.i18n import N_, language_name

__all__ = ["REWRAP_SLICE", "SETTING_FIELDS"]

#: Items re-wrapped per click (a few seconds at most; the page shows progress).
REWRAP_SLICE = 5000
SETTING_FIELDS = NAMES
MAX_FILTER_CHARS = 64

Page = tuple[str, int]


def render(template: str, status: int = 200, /, **context: object) -> Page:
    """Render ``admin/<template>`` with ``status``."""
    return render_template(f"admin/{template}", **context), status


def reviewers(status: int = 200, **context: object) -> Page:
    me = current_session().reviewer_id
    return render(
        "reviewers.html", status, accounts=admin_services().accounts.accounts(), me=me,
        desks=admin_services().instance.desks.all(), **context
    )


def enrolment(enrolment: Enrolment, qr: str, title: str, *, disabled: bool = False) -> Page:
    """The one-time credentials, shown once; ``disabled``: the account stays disabled."""
    return render("enrolment.html", enrolment=enrolment, qr=qr, title=title, disabled=disabled)


def keys(status: int = 200, *, report: RewrapReport | None = None, **context: object) -> Page:
    rotation = admin_services().rotation
    statuses = rotation.status()
    total = sum(s.items for s in statuses)
    return render(
        "keys.html",
        status,
        desks=admin_services().instance.desks.all(),
        statuses=statuses,
        pending=rotation.pending(),
        total=total,
        report=report,
        **context,
    )


def add_to_session(identities: list[KeyIdentity]) -> None:
    """Replace this admin's session by one that also holds ``identities``."""
    session = current_session()
    held = [*identities, *session.identities()]
    sessions = services().sessions
    # Keep the rest of the session's secrets (the reviewer's own identity among them).
    kept = {**session.secrets, **newsroom_secrets(held)}
    new_token = sessions.open(session.reviewer_id, kind="full", secrets_=kept)
    sessions.close(token())
    start_session(new_token)


def retention(status: int = 200, **context: object) -> Page:
    services_ = admin_services()
    days = services_.settings.current().retention_days
    plan = services_.retention.preview(days, now=time.time())
    return render("retention.html", status, days=days, plan=plan, **context)


def settings(status: int = 200, **context: object) -> Page:
    services_ = admin_services()
    env = services_.instance.settings
    return render(
        "settings.html",
        status,
        current=services_.settings.current(),
        env=env,
        landing_languages=[(code, language_name(code)) for code in LANDING_LANGUAGES],
        max_logo_kb=MAX_LOGO_BYTES // 1024,
        **context,
    )


def audit(args: MultiDict[str, str]) -> Page:
    services_ = admin_services()
    try:
        reviewer = _filter(args, "reviewer", label=N_("reviewer filter"))
        action = _filter(args, "action", label=N_("action filter"))
        before_text = args.get("before")
        before = forms.item_id(before_text) if before_text else None
    except InvalidInput as error:
        status, message = explain(error)
        return render(
            "audit.html",
            status,
            error=message,
            page=None,
            reviewers=[],
            actions=[],
            reviewer=None,
            action=None,
        )
    page = services_.audit.page(reviewer=reviewer, action=action, before=before)
    return render(
        "audit.html",
        page=page,
        reviewers=services_.audit.reviewers(),
        actions=services_.audit.actions(),
        reviewer=reviewer,
        action=action,
    )


def _filter(args: MultiDict[str, str], name: str, *, label: str) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > MAX_FILTER_CHARS:
        raise InvalidInput(f"the {name} filter is too long", code="field_too_long",
                           params={"label": label, "num": MAX_FILTER_CHARS})
    return value or None
