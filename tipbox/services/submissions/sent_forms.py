"""Sending a form once across the worker processes: a claim per form token, in the database.

Security contract:

- The database keeps, per sent form, the SHA-256 of its token, an expiry
  hour and the receipt sealed (ChaCha20-Poly1305, :mod:`tipbox.crypto.seal`)
  under a key derived from the **token itself**, which only the source's
  form holds. A copy of the database (or of the whole disk) opens no
  receipt: the codename and file names in it stay sealed.
- The first worker to :meth:`SentForms.claim` a token commits the
  submission and :meth:`SentForms.keep` s its receipt; a worker that loses
  the claim commits nothing and :meth:`SentForms.wait` s for the winner's
  receipt, so both answers carry the same one. A failed commit
  :meth:`SentForms.release` s its claim.
- Rows live for ``lifetime`` seconds (rounded up to the hour) and are
  purged by ``python -m tipbox sweep``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto import SealError, seal, unseal
from tipbox.store.db import Database, hour
from tipbox.store.sent_forms import (
    claim_form,
    keep_receipt,
    purge_forms,
    release_form,
    sealed_receipt,
)

__all__ = ["SentForms"]

_CONTEXT = b"tipbox sent form v1"
#: How long a losing worker waits for the winner's receipt (its commit may
#: still be finishing the upload's last files).
WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.1


def _row_key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _seal_key(token: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return hkdf.derive(token.encode("utf-8"))


class SentForms:
    """Claims of sent forms shared by the workers (see the module contract)."""

    def __init__(
        self,
        db: Database,
        *,
        lifetime: int = 3600,
        wait_seconds: float = WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = db
        self._lifetime = lifetime
        self._wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep

    def claim(self, token: str) -> bool:
        """Claim the form ``token``; False if a worker already sent or is sending it."""
        expires = hour(self._clock() + self._lifetime) + 3600
        with self._db.transaction() as conn:
            return claim_form(conn, _row_key(token), expires)

    def keep(self, token: str, receipt: str) -> None:
        """Record the (already sealed, cookie-ready) receipt of a claimed form."""
        sealed = seal(_seal_key(token), receipt.encode("ascii"), context=_CONTEXT)
        with self._db.transaction() as conn:
            keep_receipt(conn, _row_key(token), sealed)

    def release(self, token: str) -> None:
        """Give up the claim of a form whose commit failed."""
        with self._db.transaction() as conn:
            release_form(conn, _row_key(token))

    def wait(self, token: str) -> str | None:
        """The winner's receipt for ``token``; None if it never came (or was released)."""
        deadline = self._clock() + self._wait_seconds
        while True:
            with self._db.reading() as conn:
                claimed, sealed = sealed_receipt(conn, _row_key(token))
            if sealed is not None:
                return self._open(token, sealed)
            if not claimed or self._clock() >= deadline:
                return None
            self._sleep(_POLL_SECONDS)

    def forget_expired(self, *, now: float | None = None) -> int:
        """Delete the claims past their expiry; how many."""
        with self._db.transaction() as conn:
            return purge_forms(conn, hour(self._clock() if now is None else now))

    @staticmethod
    def _open(token: str, sealed: bytes) -> str | None:
        try:
            return unseal(_seal_key(token), sealed, context=_CONTEXT).decode("ascii")
        except (SealError, UnicodeDecodeError):
            return None
