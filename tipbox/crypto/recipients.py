"""Reading keys: recipient and identity strings, identity files, fingerprints.

``age1...`` and ``AGE-SECRET-KEY-1...`` are X25519 keys
(:mod:`tipbox.crypto.x25519`); ``age1pq1...`` and ``AGE-SECRET-KEY-PQ-1...``
are mlkem768x25519 keys (:mod:`tipbox.crypto.hybrid`, imported only when
such a key is read). A string that is not a valid key raises
:class:`KeyFormatError` (a ``ValueError``) that never quotes the key.
"""

from __future__ import annotations

import hashlib

from tipbox.crypto import bech32
from tipbox.crypto.errors import KeyFormatError
from tipbox.crypto.x25519 import X25519Identity, X25519Recipient

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tipbox.crypto.hybrid import HybridIdentity, HybridRecipient

__all__ = ["fingerprint", "parse_identity", "parse_identity_file", "parse_recipient"]


def parse_recipient(text: str) -> X25519Recipient | HybridRecipient:
    """Parse ``age1...`` or ``age1pq1...``; raise :class:`KeyFormatError`."""
    text = text.strip()
    if text != text.lower():
        raise KeyFormatError("recipients are lower case")
    hrp, data = bech32.decode(text)
    if hrp == "age":
        return X25519Recipient(data)
    if hrp == "age1pq":
        from tipbox.crypto.hybrid import HybridRecipient  # noqa: PLC0415 - see the docstring

        return HybridRecipient(data)
    raise KeyFormatError(f"unknown recipient type {hrp!r}")


def parse_identity(text: str) -> X25519Identity | HybridIdentity:
    """Parse ``AGE-SECRET-KEY-1...`` or ``AGE-SECRET-KEY-PQ-1...``."""
    text = text.strip()
    if text != text.upper():
        raise KeyFormatError("identities are upper case")
    hrp, data = bech32.decode(text)
    if hrp == "age-secret-key-":
        return X25519Identity(data)
    if hrp == "age-secret-key-pq-":
        from tipbox.crypto.hybrid import HybridIdentity  # noqa: PLC0415 - see the docstring

        return HybridIdentity(data)
    raise KeyFormatError("unknown identity type")


def parse_identity_file(text: str) -> list[X25519Identity | HybridIdentity]:
    """Parse an identity file: one identity a line, ``#`` comments, blank lines."""
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(parse_identity(line))
        except KeyFormatError as error:
            raise KeyFormatError(f"line {number}: {error}") from None
    if not identities:
        raise KeyFormatError("no identities found")
    return identities


def fingerprint(recipient: object) -> str:
    """A short human-comparable fingerprint (128 bits of SHA-256) of a recipient."""
    digest = hashlib.sha256(str(recipient).encode("ascii")).hexdigest()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))
