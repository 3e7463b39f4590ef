"""The newsroom's own voice on every source page: its name and its logo.

Every source page's header and title show the organisation name an admin
set (``site_name``; the layout falls back to "Secure tip box" while it is
the default), and its logo when there is one (``logo_url``, with the name as
its alt text). ``GET /logo.png`` serves the stored logo from this origin: a
PNG that the server made itself (:mod:`tipbox.services.logo`), sent as
``image/png`` with the security headers of every response (``nosniff``,
``no-store``, the unchanged CSP). Its URL carries the logo's version, so a
new logo shows at once.
"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from tipbox.errors import NotFound
from tipbox.services.instance_settings import DEFAULT_ORGANISATION
from tipbox.web import instance

__all__ = ["bp"]

bp = Blueprint("branding", __name__)


@bp.app_context_processor
def _branding() -> dict[str, object]:
    current = instance().instance_settings.current()
    named = current.organisation != DEFAULT_ORGANISATION
    logo_url = url_for("branding.logo", v=current.logo) if current.logo else None
    return {"site_name": current.organisation if named else None, "logo_url": logo_url}


@bp.get("/logo.png")
def logo() -> Response:
    png = instance().instance_settings.logo_png()
    if png is None:
        raise NotFound("no logo")
    return Response(png, mimetype="image/png")
