"""The admin pages of the reviewer app (issue 5): accounts, keys, desks, retention, settings,
audit.

:func:`install_admin` registers the ``admin`` blueprint under ``/admin`` and
the periodic retention purge. Contract:

- Every admin route is behind :func:`~tipbox.reviewer.guard.admin_required`
  (a live ``full`` session of an admin; others get 403) and every POST needs
  the CSRF token (:func:`tipbox.web.init_web`).
- Views are thin: they parse the form, call one admin service
  (:class:`~tipbox.services.admin.AdminServices`, built over the reviewer
  services of the app) and render. Keys that must be opened come from the
  acting admin's unlocked session only.
- One-time passwords and TOTP secrets of new or reset accounts are shown
  once, in the response to the POST that made them, and never stored.
"""

from __future__ import annotations

from flask import Flask

from tipbox.reviewer.admin import desks
from tipbox.reviewer.admin.tasks import PeriodicPurge
from tipbox.reviewer.admin.views import bp

__all__ = ["install_admin"]


def install_admin(app: Flask) -> None:
    """Register the admin blueprint and the hourly retention purge on the reviewer app."""
    app.register_blueprint(bp)
    app.register_blueprint(desks.bp)
    app.before_request(PeriodicPurge())
