"""The reviewer's own settings beyond the password: notification preferences.

``GET /account/notifications`` shows the reviewer's choice (nothing, any new
source, or activity on the sources assigned to them) and their optional
e-mail address; ``POST`` (CSRF-checked, logged in) stores it through
:class:`~tipbox.services.accounts.notifications.NotificationPreferences`. A
refused form re-renders the page with the error next to the form and with
what was typed, and changes nothing. The page shows only the reviewer's own
choice: no one sets another's.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from tipbox.errors import InvalidInput
from tipbox.reviewer import forms
from tipbox.reviewer.guard import current_session, login_required, services
from tipbox.services.accounts.notifications import MAX_ADDRESS_CHARS
from tipbox.web.errors import explain
from tipbox.web.i18n import N_, gettext

bp = Blueprint("account", __name__)

#: The field names the service's errors name (translated by the error table).
LABELS = (N_("e-mail address"), N_("notifications"))


def _page(preference: str, email: str, status: int = 200, /, **context: object
          ) -> tuple[str, int]:
    return render_template(
        "reviewer/notifications.html", preference=preference, email=email,
        notify_enabled=services().instance.settings.notify.enabled,
        max_address_chars=MAX_ADDRESS_CHARS, **context,
    ), status


def _stored() -> tuple[str, str]:
    choice = services().notifications.of(current_session().reviewer_id)
    return choice.preference.value, choice.email or ""


@bp.get("/account/notifications")
@login_required
def notifications_form() -> tuple[str, int]:
    return _page(*_stored())


@bp.post("/account/notifications")
@login_required
def notifications() -> tuple[str, int]:
    """Store the choice; the page again, with a notice or the error."""
    me = current_session()
    preference = request.form.get("preference", "")[:32]
    email = request.form.get("email", "")[:MAX_ADDRESS_CHARS + 1]
    try:
        preference = forms.text(request.form, "preference", label=N_("notifications"),
                                max_chars=32)
        services().notifications.choose(me.reviewer_id, preference, email, by=me.username)
    except InvalidInput as error:
        status, message = explain(error)
        return _page(preference, email, status, error=message)
    return _page(*_stored(), message=gettext("Your notification preferences were saved."))
