"""The accessor from admin views to the admin services of the current app."""

from __future__ import annotations

from tipbox.reviewer.guard import services
from tipbox.services.admin import AdminServices

__all__ = ["admin_services"]


def admin_services() -> AdminServices:
    """The admin services over the app's reviewer services (cheap: no I/O)."""
    reviewer = services()
    return AdminServices.open(reviewer.instance, reviewer.reviewers)
