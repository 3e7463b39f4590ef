"""A returning source's login across requests, kept in the session cookie.

Security contract:

- The codename is never kept: after :meth:`Sources.login` has derived the
  source's identity, the session holds one value, ``login``: a token sealed
  with ChaCha20-Poly1305 under a key derived (HKDF) from the app's secret
  key, holding the source id, designation and the source's reply identity.
- The cookie alone does not reveal the identity (it is sealed under a server
  key) and the server never stores the token (it lives only in the cookie),
  so neither a seized server nor a copied cookie alone opens a reply.
- Flask signs the cookie with a timestamp and refuses it after
  ``PERMANENT_SESSION_LIFETIME`` (the settings' absolute session lifetime);
  logging out or in clears the whole session (no fixation) except the
  visitor's language choice.
- A token that does not open (new secret key, tampering) simply means
  "not logged in".
"""

from __future__ import annotations

import base64
import binascii
import json
import typing as t

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, g, session

from tipbox.crypto import HybridIdentity, KeyFormatError, X25519Identity, parse_identity
from tipbox.services.reviewers import SealError, seal, unseal
from tipbox.services.sources import SourceLogin
from tipbox.web.i18n import clear_session

_SESSION_KEY = "login"
_CONTEXT = b"tipbox source login token v1"
_MISSING = object()


def remember_login(login: SourceLogin) -> None:
    """Start a fresh session for ``login`` (drops all else but the language, CSRF token too)."""
    clear_session()
    payload = {"id": login.source_id, "d": login.designation, "k": str(login.identity)}
    sealed = seal(_token_key(), json.dumps(payload).encode(), context=_CONTEXT)
    session[_SESSION_KEY] = base64.urlsafe_b64encode(sealed).decode("ascii")
    g.tipbox_login = login


def forget_login() -> None:
    """Log out: clear the whole session but the visitor's language."""
    clear_session()
    g.tipbox_login = None


def current_login() -> SourceLogin | None:
    """The logged-in source of this request, or ``None``."""
    cached = g.get("tipbox_login", _MISSING)
    if cached is _MISSING:
        cached = _open_token(session.get(_SESSION_KEY))
        g.tipbox_login = cached
    return t.cast(SourceLogin | None, cached)


def _open_token(token: object) -> SourceLogin | None:
    if not isinstance(token, str):
        return None
    try:
        sealed = base64.urlsafe_b64decode(token.encode("ascii"))
        payload = json.loads(unseal(_token_key(), sealed, context=_CONTEXT))
        identity = parse_identity(payload["k"])
        if not isinstance(identity, X25519Identity | HybridIdentity):
            return None
        return SourceLogin(source_id=int(payload["id"]), designation=str(payload["d"]),
                           identity=identity)
    except (SealError, KeyFormatError, binascii.Error, ValueError, KeyError, TypeError):
        return None


def _token_key() -> bytes:
    secret = current_app.secret_key
    material = secret.encode() if isinstance(secret, str) else t.cast(bytes, secret)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return hkdf.derive(material)
