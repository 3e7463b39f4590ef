"""Errors of the age core.

Every decryption failure is a :class:`DecryptionError`. Callers outside tests
and the offline tool catch only that class: which check failed is not
something an attacker should be able to learn from a web response. The
subclasses follow the categories of the age test vectors so that tests can
tell them apart.
"""

from __future__ import annotations


class DecryptionError(Exception):
    """The input could not be decrypted; nothing unverified was released."""


class HeaderError(DecryptionError):
    """The header is malformed, or a stanza for one of our identities is."""


class MacError(DecryptionError):
    """The header MAC does not match: the header was altered."""


class NoIdentityMatch(DecryptionError):
    """None of the given identities can open any stanza of the header."""


class PayloadError(DecryptionError):
    """The payload is truncated, reordered, altered or has trailing data."""


class ArmorError(DecryptionError):
    """The ASCII armor is malformed."""


class KeyFormatError(ValueError):
    """A recipient or identity string is not valid."""


class RecipientError(ValueError):
    """The set of recipients cannot be used for one file."""
