"""Receipts of sent forms: sealed, short-lived, and the key to sending a form only once.

A submission form carries a random **form token** (:func:`new_form_token`).
Sending the same form again (reload, back-and-resend, double click) must not
create a second source or submission, and the source must see the same
receipt. :class:`ReceiptBox` makes that so within one process and seals the
receipt for the source's cookie.

Security contract:

- A receipt (the codename if one was issued, the number, names and sizes of
  the files, whether a message came) is never kept in plaintext: it is
  sealed (ChaCha20-Poly1305, :mod:`tipbox.crypto.seal`) under a key derived
  from the instance's secret (:func:`receipt_key`), bound to the SHA-256 of
  the form token, with its own expiry (``lifetime`` seconds) inside. It
  carries no designation.
- The box keeps, per process, only sealed receipts keyed by the token's
  hash: at most ``max_entries``, each for at most ``lifetime`` seconds.
  Nothing is written to disk or to the database.
- :meth:`ReceiptBox.lock` serialises the commits of one token in this
  process, so two copies of a form racing in two threads make one
  submission: the second finds the first's receipt (:meth:`ReceiptBox.recall`).
  Copies racing in two processes are serialised by a claim in the database
  (:mod:`tipbox.services.submissions.sent_forms`).
- :meth:`ReceiptBox.open` returns ``None`` for anything that does not open
  or has expired; the reason is not told apart.
- Only the first ``MAX_LISTED_FILES`` file names, each cut to
  ``MAX_NAME_CHARS`` characters and together at most ``MAX_NAMES_BYTES``
  bytes, are listed (a session cookie holds at most 4 kB); the counts cover
  every file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto import SealError, seal, unseal
from tipbox.services.submissions.intake import Receipt

__all__ = ["ReceiptBox", "ShownFile", "ShownReceipt", "is_form_token", "new_form_token",
           "receipt_key", "token_hash"]

_CONTEXT = b"tipbox source receipt v1"
_TOKEN_BYTES = 32
_TOKEN_CHARS = 43
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: How long a receipt can be opened after its form was sent.
RECEIPT_SECONDS = 600
MAX_ENTRIES = 4096
MAX_LISTED_FILES = 10
MAX_NAME_CHARS = 64
MAX_NAMES_BYTES = 640
_LOCK_STRIPES = 64


def new_form_token() -> str:
    """A fresh random token for one submission form (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def is_form_token(value: str) -> bool:
    """Whether ``value`` has the shape of a :func:`new_form_token` (43 URL-safe characters)."""
    return len(value) == _TOKEN_CHARS and set(value) <= _TOKEN_ALPHABET


def token_hash(token: str) -> str:
    """The hex SHA-256 of a form token: what may be kept of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def receipt_key(instance_secret: bytes) -> bytes:
    """The 32-byte key that seals receipts, derived from the instance's secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return hkdf.derive(instance_secret)


@dataclass(frozen=True, slots=True)
class ShownFile:
    """One received file as the receipt lists it: its (possibly shortened) name and size."""

    name: str
    size: int


@dataclass(frozen=True, slots=True, repr=False)
class ShownReceipt:
    """What the receipt page shows; ``files`` lists at most ``MAX_LISTED_FILES``."""

    codename: str | None
    files: tuple[ShownFile, ...]
    file_count: int
    total_bytes: int
    has_message: bool

    @property
    def unlisted(self) -> int:
        """How many received files the list leaves out."""
        return self.file_count - len(self.files)

    def __repr__(self) -> str:
        return f"ShownReceipt(files={self.file_count}, message={self.has_message})"

    @classmethod
    def of(cls, receipt: Receipt) -> ShownReceipt:
        """The summary of a committed submission (names shortened, list bounded)."""
        return cls(
            codename=receipt.codename,
            files=_listed(receipt.files),
            file_count=len(receipt.files),
            total_bytes=sum(size for _, size in receipt.files),
            has_message=receipt.has_message,
        )


def _listed(files: tuple[tuple[str, int], ...]) -> tuple[ShownFile, ...]:
    listed: list[ShownFile] = []
    budget = MAX_NAMES_BYTES
    for name, size in files[:MAX_LISTED_FILES]:
        short = name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"
        budget -= len(short.encode("utf-8"))
        if budget < 0:
            break
        listed.append(ShownFile(short, size))
    return tuple(listed)


class ReceiptBox:
    """Seals receipts and remembers them briefly per token hash (see the module contract)."""

    def __init__(
        self,
        key: bytes,
        *,
        lifetime: int = RECEIPT_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._lifetime = lifetime
        self._max_entries = max_entries
        self._clock = clock
        self._sealed: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._guard = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def lock(self, hashed: str) -> threading.Lock:
        """The lock to hold while checking for and committing the form ``hashed``."""
        return self._stripes[int(hashed[:8], 16) % _LOCK_STRIPES]

    def seal(self, hashed: str, receipt: ShownReceipt) -> str:
        """Seal ``receipt`` for the form ``hashed``, remember it, return it (URL-safe text)."""
        payload = {
            "c": receipt.codename,
            "f": [[shown.name, shown.size] for shown in receipt.files],
            "n": receipt.file_count,
            "b": receipt.total_bytes,
            "m": receipt.has_message,
            "x": self._clock() + self._lifetime,
        }
        plain = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        sealed = seal(self._key, plain, context=_CONTEXT + b"|" + hashed.encode("ascii"))
        text = base64.urlsafe_b64encode(sealed).decode("ascii")
        self._remember(hashed, text)
        return text

    def recall(self, hashed: str) -> str | None:
        """The sealed receipt remembered for the form ``hashed``, if it is still fresh."""
        with self._guard:
            self._purge()
            entry = self._sealed.get(hashed)
        return entry[1] if entry else None

    def sent(self, hashed: str) -> bool:
        """Whether this process committed the form ``hashed`` within the lifetime."""
        with self._guard:
            self._purge()
            return hashed in self._sealed

    def forget(self, hashed: str) -> None:
        """Drop the sealed receipt of ``hashed`` once shown; the form stays known as sent."""
        with self._guard:
            if hashed in self._sealed:
                self._sealed[hashed] = (self._sealed[hashed][0], None)

    def open(self, hashed: str, text: object) -> ShownReceipt | None:
        """The receipt sealed in ``text`` for ``hashed``; ``None`` if unopenable or expired."""
        if not isinstance(text, str):
            return None
        try:
            sealed = base64.urlsafe_b64decode(text.encode("ascii"))
            plain = unseal(self._key, sealed, context=_CONTEXT + b"|" + hashed.encode("ascii"))
            return self._parse(json.loads(plain))
        except (SealError, binascii.Error, UnicodeError, ValueError, KeyError, TypeError):
            return None

    def _parse(self, payload: dict[str, object]) -> ShownReceipt | None:
        if float(str(payload["x"])) <= self._clock():
            return None
        codename = payload["c"]
        return ShownReceipt(
            codename=str(codename) if codename is not None else None,
            files=tuple(ShownFile(str(name), int(str(size)))
                        for name, size in _pairs(payload["f"])),
            file_count=int(str(payload["n"])),
            total_bytes=int(str(payload["b"])),
            has_message=bool(payload["m"]),
        )

    def _remember(self, hashed: str, text: str) -> None:
        with self._guard:
            self._purge()
            self._sealed[hashed] = (self._clock() + self._lifetime, text)
            while len(self._sealed) > self._max_entries:
                self._sealed.popitem(last=False)

    def _purge(self) -> None:
        now = self._clock()
        while self._sealed and next(iter(self._sealed.values()))[0] <= now:
            self._sealed.popitem(last=False)


def _pairs(value: object) -> list[tuple[object, object]]:
    if not isinstance(value, list):
        raise TypeError("not a list of files")
    return [(item[0], item[1]) for item in value]
