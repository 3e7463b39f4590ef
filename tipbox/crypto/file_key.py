"""The file key, and what every recipient type does with it.

Each file has a fresh 16-byte file key; a recipient wraps it into a stanza
by sealing it with ChaCha20-Poly1305 (zero nonce: each wrapping key seals
one file key only) under a key of its own kind (:mod:`tipbox.crypto.x25519`,
:mod:`tipbox.crypto.scrypt`), or through HPKE (:mod:`tipbox.crypto.hybrid`).
The stanza checks here raise :class:`HeaderError`, as the spec requires of a
malformed stanza of an identity's own type.
"""

from __future__ import annotations

from tipbox.crypto import primitives
from tipbox.crypto.errors import HeaderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tipbox.crypto.header import Stanza

FILE_KEY_SIZE = 16
WRAPPED_SIZE = FILE_KEY_SIZE + 16
_ZERO_NONCE = bytes(12)


def seal_file_key(key: bytes, file_key: bytes) -> bytes:
    return primitives.ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def open_file_key(key: bytes, body: bytes) -> bytes | None:
    """The file key sealed in ``body``, or ``None`` if ``key`` does not open it."""
    return primitives.open_quietly(primitives.ChaCha20Poly1305(key), _ZERO_NONCE, body, None)


def check_body(stanza: Stanza) -> None:
    if len(stanza.body) != WRAPPED_SIZE:
        raise HeaderError(f"{stanza.type} stanza body has the wrong length")


def stanza_args(stanza: Stanza, count: int = 1) -> tuple[str, ...]:
    """The stanza's arguments, which must be ``count``."""
    if len(stanza.args) != count:
        raise HeaderError(f"{stanza.type} stanza has the wrong number of arguments")
    return stanza.args
