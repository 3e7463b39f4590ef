"""The reviewer app: journalists' inbox (served as ``app:reviewer`` on its own port).

:func:`create_reviewer_app` opens the instance once, builds the reviewer
services (:class:`~tipbox.services.accounts.sessions.ReviewerServices`) and registers
only the reviewer routes. Contract (DESIGN 5 and 8, issue 4):

- Every route but ``/login`` and ``/enrol`` needs a live ``full`` session
  (:func:`tipbox.reviewer.guard.login_required`); the enrolment routes need
  an ``enrol`` session. Every POST needs a CSRF token (flask-wtf, through
  :func:`tipbox.web.init_web`).
- The browser holds one cookie, Flask's signed session, carrying only the
  session token (random id + per-session key); it is HttpOnly,
  SameSite=Strict and Secure unless ``TIPBOX_DEV``. Login replaces the whole
  cookie (no fixation); logout deletes the server row, clears the cookie and
  sends ``Clear-Site-Data``.
- No route takes files: every body gets the cap of
  :func:`tipbox.web.app.form_limit` (set by :func:`~tipbox.web.init_web`),
  which fits a reply of ``max_message_chars`` characters in any script,
  percent-encoded; a longer reply is refused by the reply form.
- Downloads are always attachments: ``application/octet-stream``,
  ``nosniff``, a CSP with ``sandbox``, RFC 6266 file names.
- ``/api/v1`` (:mod:`tipbox.reviewer.api`, issue 13) is the exception to the
  cookie and CSRF rules above: it authenticates by bearer token only (a
  cookie alone is refused), so it is exempt from CSRF; its errors are JSON.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tipbox.config import Settings, load_settings
from tipbox.reviewer import account, api, auth, views, workspace
from tipbox.reviewer.admin import install_admin
from tipbox.reviewer.admin.logo_upload import ReviewerRequest
from tipbox.reviewer.downloads import sandbox_attachments
from tipbox.reviewer.guard import install_services
from tipbox.services.wiring import ReviewerServices, open_instance
from tipbox.web import init_web, install_instance
from tipbox.web.numbers import install_id_converter

__all__ = ["create_reviewer_app"]

_PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = _PACKAGE.parent / "templates"
STATIC = _PACKAGE / "static"


def create_reviewer_app(settings: Settings | None = None) -> Flask:
    """Build the reviewer app for ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else load_settings()
    inst = open_instance(settings)
    app = Flask("tipbox.reviewer", template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.request_class = ReviewerRequest  # bounded form parsing; files only for the logo
    # Registered before init_web's header hook, so it runs after it (Flask runs
    # after_request hooks in reverse) and can add ``sandbox`` to the final CSP.
    app.after_request(sandbox_attachments)
    csrf = init_web(
        app,
        settings,
        secret_key=inst.secrets.flask_secret_key,
        cookie_name="reviewer_session",
        live=inst.instance_settings.effective,
    )
    install_instance(app, inst)
    install_services(app, ReviewerServices.open(inst))
    install_id_converter(app)  # <id:...>: ASCII digits only
    views.install_filters(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)  # issue 13: /api/v1, bearer tokens only
    csrf.exempt(api.bp)  # no cookie authenticates the API, so CSRF does not apply
    app.register_blueprint(workspace.bp)
    app.register_blueprint(account.bp)  # issue 13: notification preferences
    install_admin(app)  # issue 5: /admin pages and the hourly retention purge
    return app
