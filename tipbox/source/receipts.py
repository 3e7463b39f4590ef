"""Sending a form once: the form token, the sealed receipt in the cookie, the one-time view.

Contract (the service side is :mod:`tipbox.services.submissions.receipts`):

- Every submission form carries a hidden ``form_token`` (the template
  global ``form_token()``). ``POST /submit`` answers with a 303 to
  ``GET /submit/receipt``; the receipt travels sealed in the signed session
  cookie (``receipt``, bound to the token's hash, which the cookie keeps as
  ``receipt_for``). The codename and file names are never stored anywhere
  in plaintext, and the session cookie holds them only sealed.
- The same form sent again never makes a second submission: when the
  cookie says it was sent (back-and-resend, a reload of the POST), or when
  this process committed it (a double click whose first answer the browser
  dropped, two copies racing in two threads), or when another worker
  process claimed it (:mod:`tipbox.services.submissions.sent_forms`: the
  loser waits for the winner's sealed receipt), the draft is left
  uncommitted (so it is aborted) and the answer is the same redirect with
  the same receipt.
- The receipt page is one-time: its first view takes the sealed receipt out
  of the cookie and out of this process's memory; a second view (a reload,
  another worker) says that the receipt was already shown, and shows no
  codename. A form without a token (an old page) is sent as before, only
  without this protection.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from flask import current_app, session
from flask.sansio.blueprints import BlueprintSetupState

from tipbox.services.submissions.receipts import (
    ReceiptBox,
    ShownReceipt,
    is_form_token,
    new_form_token,
    receipt_key,
    token_hash,
)
from tipbox.web import instance
from tipbox.web.app import human_size
from tipbox.web.errors import MalformedUpload

_EXTENSION = "tipbox.receipts"
_SEALED_KEY = "receipt"
_FORM_KEY = "receipt_for"


def install_receipts(state: BlueprintSetupState) -> None:
    """``record_once`` hook: one :class:`ReceiptBox` per app, keyed from its secret.

    Also gives templates ``form_token()`` and ``human_size(n)``.
    """
    secret = t.cast(bytes, state.app.secret_key)  # set by init_web before blueprints
    state.app.extensions[_EXTENSION] = ReceiptBox(receipt_key(secret))
    state.app.add_template_global(new_form_token, "form_token")
    state.app.add_template_global(human_size, "human_size")


def receipts() -> ReceiptBox:
    """The current app's :class:`ReceiptBox`."""
    return t.cast(ReceiptBox, current_app.extensions[_EXTENSION])


def posted_token(value: str | None) -> str:
    """The posted form token (a fresh one if the form had none).

    Raises :class:`MalformedUpload` for a token that no form of ours issued.
    """
    if value is None:
        return new_form_token()
    if not is_form_token(value):
        raise MalformedUpload("the form token is malformed")
    return value


def send_once(token: str, commit: Callable[[], ShownReceipt]) -> None:
    """Run ``commit`` unless the form ``token`` was sent; keep its sealed receipt.

    Afterwards the cookie holds the receipt (unless it was already shown).
    """
    hashed = token_hash(token)
    if session.get(_FORM_KEY) == hashed:
        return
    box = receipts()
    with box.lock(hashed):
        sealed = box.recall(hashed)
        if sealed is None and not box.sent(hashed):
            sealed = _send_across_workers(token, hashed, commit)
    session[_FORM_KEY] = hashed
    if sealed is not None:
        session[_SEALED_KEY] = sealed


def _send_across_workers(
    token: str, hashed: str, commit: Callable[[], ShownReceipt]
) -> str | None:
    """Commit if this worker wins the form's claim; else the winner's sealed receipt."""
    forms = instance().sent_forms
    if not forms.claim(token):
        return forms.wait(token)
    try:
        sealed = receipts().seal(hashed, commit())
    except BaseException:
        forms.release(token)
        raise
    forms.keep(token, sealed)
    return sealed


def take_receipt() -> ShownReceipt | None:
    """The receipt of the form this browser sent, once; ``None`` on any later view."""
    hashed = session.get(_FORM_KEY)
    sealed = session.pop(_SEALED_KEY, None)
    if not isinstance(hashed, str) or sealed is None:
        return None
    receipts().forget(hashed)
    return receipts().open(hashed, sealed)
