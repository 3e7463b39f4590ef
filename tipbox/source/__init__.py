"""The source app: the public, anonymous side of tipbox (served as ``app:source``).

:func:`create_source_app` opens the instance once and builds a Flask app that
registers only the source routes. Contract (DESIGN 8, issue 3): no
JavaScript, nothing from other origins, one session cookie, CSRF on every
POST, security headers on every response, uploads encrypted while they
stream in, and nothing that identifies a source (address, user agent, exact
time) recorded anywhere.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tipbox.config import Settings, load_settings
from tipbox.services.instance import open_instance
from tipbox.source.drafts import abort_draft, current_draft
from tipbox.source.views import bp
from tipbox.web import FileSink, UploadRequest, init_web, install_instance
from tipbox.web.page_cache import install_page_cache

__all__ = ["create_source_app"]

_PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = _PACKAGE.parent / "templates"
STATIC = _PACKAGE / "static"


class SourceRequest(UploadRequest):
    """Only ``POST /submit`` accepts files; they stream into this request's draft."""

    def open_sink(self) -> FileSink | None:
        if self.method == "POST" and self.endpoint == "source.submit":
            return current_draft()
        return None


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
    install_page_cache(app)
    app.register_blueprint(bp)
    app.teardown_request(abort_draft)
    return app
