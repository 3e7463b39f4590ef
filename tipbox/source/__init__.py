"""The source app: the public, anonymous side of tipbox (served as ``app:source``).

:func:`create_source_app` opens the instance once and builds a Flask app that
registers only the source routes. Contract (DESIGN 8, issue 3): no
JavaScript, nothing from other origins, one session cookie, CSRF on every
POST, security headers on every response, uploads encrypted while they
stream in, and nothing that identifies a source (address, user agent, exact
time) recorded anywhere.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from flask import Flask, request

from tipbox.config import Settings, load_settings
from tipbox.services.sources.sessions import SourceSessions, token_key
from tipbox.services.wiring import open_instance
from tipbox.source import branding
from tipbox.source.drafts import abort_draft, current_draft
from tipbox.source.session import install_source_sessions, refuse_ended_session
from tipbox.source.views import bp
from tipbox.web import FileSink, UploadRequest, init_web, install_instance
from tipbox.web.admission import install_upload_admission
from tipbox.web.page_cache import install_page_cache

__all__ = ["create_source_app"]

_PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = _PACKAGE.parent / "templates"
STATIC = _PACKAGE / "static"


class SourceRequest(UploadRequest):
    """Only ``POST /submit`` accepts files; they stream into this request's draft.

    The sink is asked for before the first byte of the body is read: a login
    that has ended is refused there, not after the whole upload.
    """

    def accepts_files(self) -> bool:
        return self.method == "POST" and self.endpoint == "source.submit"

    def open_sink(self) -> FileSink | None:
        if not self.accepts_files():
            return None
        refuse_ended_session()
        return current_draft()


def _is_upload() -> bool:
    return t.cast(SourceRequest, request).is_upload


def create_source_app(settings: Settings | None = None) -> Flask:
    """Build the source app for ``settings`` (default: from the environment)."""
    settings = settings if settings is not None else load_settings()
    inst = open_instance(settings)
    app = Flask("tipbox.source", template_folder=str(TEMPLATES), static_folder=str(STATIC))
    app.request_class = SourceRequest
    init_web(
        app,
        settings,
        secret_key=inst.secrets.flask_secret_key,
        cookie_name="session",
        live=inst.instance_settings.effective,
    )
    install_instance(app, inst)
    install_source_sessions(app, SourceSessions(
        inst.store.db,
        key=token_key(inst.secrets.flask_secret_key),
        idle_seconds=inst.settings.source_session_idle_seconds,
        absolute_seconds=inst.settings.source_session_absolute_seconds,
    ))
    install_upload_admission(app, settings.max_concurrent_uploads, _is_upload)
    install_page_cache(app)
    app.register_blueprint(bp)
    app.register_blueprint(branding.bp)  # issue 14: the organisation's name and logo
    app.teardown_request(abort_draft)
    return app
