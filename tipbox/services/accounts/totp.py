"""The second factor: TOTP codes, and what an authenticator app is shown to enrol.

Contract (DESIGN 5, issue 4):

- RFC 6238 with SHA-1, 6 ASCII digits (:mod:`tipbox.digits`: ``١٢٣٤٥٦`` is
  a wrong code like any other), 30 s steps and one step of drift either
  way (:func:`match_totp`).
- A code is accepted only for a step after the last accepted one, so no
  code is ever accepted twice; storing that step is the account service's
  part.
- The secret is shown once at enrolment (:class:`Enrolment`: URI, QR code
  made on the server, base32 text) and otherwise only stored sealed.
"""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from tipbox.digits import is_ascii_digits
from tipbox.errors import InvalidInput

__all__ = [
    "ISSUER",
    "TOTP_DIGITS",
    "TOTP_STEP_SECONDS",
    "Enrolment",
    "base32_secret",
    "check_code",
    "match_totp",
    "new_totp_secret",
    "otpauth_uri",
    "qr_svg",
    "qr_terminal",
    "totp_code",
]

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1
TOTP_SECRET_BYTES = 20
ISSUER = "tipbox"
_CODE_SPACES = str.maketrans("", "", " \t")


def new_totp_secret() -> bytes:
    """A fresh random TOTP secret (160 bits, as RFC 4226 recommends)."""
    return secrets.token_bytes(TOTP_SECRET_BYTES)


def check_code(code: str) -> str:
    """The code without the spaces people type in it: six ASCII digits, or ``InvalidInput``."""
    code = code.translate(_CODE_SPACES)
    if len(code) != TOTP_DIGITS or not is_ascii_digits(code):
        raise InvalidInput("the code from the authenticator app is 6 digits",
                           code="totp_code_format")
    return code


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP_SECONDS)  # noqa: S303 - RFC 6238


def totp_code(secret: bytes, now: float) -> str:
    """The code an authenticator shows at ``now`` (used by tests and benches)."""
    return _totp(secret).generate(int(now)).decode("ascii")


def match_totp(secret: bytes, code: str, *, now: float, last_step: int) -> int | None:
    """The time step ``code`` is valid for, if it is within drift and after ``last_step``.

    Every candidate step is compared (constant-time) so that timing does
    not reveal which one matched. A code that is not six ASCII digits
    matches nothing.
    """
    if len(code) != TOTP_DIGITS or not is_ascii_digits(code):
        return None
    found = None
    totp = _totp(secret)
    here = int(now) // TOTP_STEP_SECONDS
    for step in range(here - TOTP_DRIFT_STEPS, here + TOTP_DRIFT_STEPS + 1):
        expected = totp.generate(step * TOTP_STEP_SECONDS)
        if hmac.compare_digest(expected, code.encode("ascii")) and step > last_step:
            found = step
    return found


def otpauth_uri(secret: bytes, username: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return _totp(secret).get_provisioning_uri(username, ISSUER)


def qr_svg(uri: str) -> str:
    """An SVG QR code of ``uri``, made on the server (no third party, no script)."""
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")


def qr_terminal(uri: str) -> str:
    """The QR code of ``uri`` as text for a terminal (no image, no third party)."""
    import segno

    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def base32_secret(secret: bytes) -> str:
    """The TOTP secret as authenticator apps expect it typed (base32, grouped)."""
    text = base64.b32encode(secret).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True, slots=True, repr=False)
class Enrolment:
    """What a new reviewer needs once: one-time password and TOTP secret.

    Shown exactly once (CLI or enrolment page); never stored in the clear.
    """

    username: str
    password: str
    totp_secret: bytes

    @property
    def uri(self) -> str:
        """The otpauth URI for the authenticator app."""
        return otpauth_uri(self.totp_secret, self.username)

    @property
    def secret_text(self) -> str:
        """The TOTP secret for typing into an app (base32)."""
        return base32_secret(self.totp_secret)

    def __repr__(self) -> str:
        return f"Enrolment({self.username!r}, <secret>)"
