"""Security headers, set on every response of every tipbox app in one place.

Contract (DESIGN 8): every response, including error pages, static files and
redirects, carries a CSP that allows nothing but same-origin styles, images
and form targets; no referrer; no MIME sniffing; same-origin COOP/CORP; no
caching anywhere; no powerful browser features. Nothing is left to a proxy.

The one exception (issue 17): a view that calls :func:`allow_own_script`
(the reviewer app's security-key pages, which need WebAuthn) gets
:data:`SCRIPT_PAGE_POLICY`, the same policy plus ``script-src 'self'`` (the
app's own static files only: no inline script, no ``eval``, nothing from
elsewhere, no fetch) and ``require-trusted-types-for 'script'`` (no HTML
sinks from script). Every other response keeps the strict policy.
"""

from __future__ import annotations

from flask import Flask, Response, g

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

#: The policy of a page that runs the app's own static script (and nothing else).
SCRIPT_PAGE_POLICY = "; ".join(
    (CONTENT_SECURITY_POLICY, "script-src 'self'", "require-trusted-types-for 'script'")
)
_OWN_SCRIPT = "tipbox_own_script"

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "clipboard-read",
        "clipboard-write",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Permissions-Policy": PERMISSIONS_POLICY,
}


def allow_own_script() -> None:
    """Let this request's page run the app's own static scripts (:data:`SCRIPT_PAGE_POLICY`)."""
    setattr(g, _OWN_SCRIPT, True)


def set_security_headers(response: Response) -> Response:
    """Overwrite the security headers on ``response`` (``after_request`` hook)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if g.get(_OWN_SCRIPT):
        response.headers["Content-Security-Policy"] = SCRIPT_PAGE_POLICY
    # A cached copy of a page could show a codename or reply to the next user.
    response.headers.pop("Expires", None)
    response.headers.pop("Last-Modified", None)
    response.headers.pop("ETag", None)
    return response


def install_security_headers(app: Flask) -> None:
    """Register :func:`set_security_headers` for every response of ``app``."""
    app.after_request(set_security_headers)
