"""The accessor from admin views to the admin services of the current app."""

from __future__ import annotations

from tipbox.reviewer.guard import services
from tipbox.services.wiring import AdminServices

__all__ = ["admin_services"]


def admin_services() -> AdminServices:
    """The admin services the app built once with its reviewer services."""
    return services().admin
