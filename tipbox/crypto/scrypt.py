"""Passphrases: the scrypt recipient and identity.

The file key is sealed under scrypt(passphrase, salt = label + 16 random
bytes, N = 2**work_factor, r = 8, p = 1). A passphrase must be the only
recipient of a file. Decryption refuses work factors above a ceiling: a
hostile file could otherwise ask for gigabytes of memory and minutes of CPU
(2**23 needs 8 GiB). Loaded only where a passphrase is used. The passphrase
never appears in ``repr``.
"""

from __future__ import annotations

import os
import re

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tipbox.crypto.errors import HeaderError
from tipbox.crypto.file_key import check_body, open_file_key, seal_file_key, stanza_args
from tipbox.crypto.header import Stanza, b64decode, b64encode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import ClassVar

__all__ = ["DEFAULT_WORK_FACTOR", "MAX_WORK_FACTOR", "ScryptIdentity", "ScryptRecipient"]

_LABEL = b"age-encryption.org/v1/scrypt"
_WORK_FACTOR = re.compile(r"[1-9][0-9]?")
DEFAULT_WORK_FACTOR = 18
MAX_WORK_FACTOR = 22


def _key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


class ScryptRecipient:
    """A passphrase. It must be the only recipient of a file."""

    kind: ClassVar[str] = "scrypt"

    def __init__(self, passphrase: str | bytes, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        if not 1 <= work_factor <= 30:
            raise ValueError("scrypt work factor out of range")
        self._passphrase = _passphrase_bytes(passphrase)
        self.work_factor = work_factor

    def wrap(self, file_key: bytes) -> list[Stanza]:
        salt = os.urandom(16)
        body = seal_file_key(_key(self._passphrase, salt, self.work_factor), file_key)
        return [Stanza("scrypt", (b64encode(salt).decode(), str(self.work_factor)), body)]

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"


class ScryptIdentity:
    """A passphrase for decryption; refuses work factors above ``max_work_factor``."""

    def __init__(self, passphrase: str | bytes, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self.max_work_factor = max_work_factor

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "scrypt":
                continue
            salt_text, factor_text = stanza_args(stanza, 2)
            salt = b64decode(salt_text)
            if len(salt) != 16:
                raise HeaderError("scrypt salt has the wrong length")
            if not _WORK_FACTOR.fullmatch(factor_text):
                raise HeaderError("invalid scrypt work factor")
            work_factor = int(factor_text)
            if work_factor > self.max_work_factor:
                raise HeaderError("scrypt work factor too high")
            check_body(stanza)
            file_key = open_file_key(_key(self._passphrase, salt, work_factor), stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __repr__(self) -> str:
        return "ScryptIdentity(...)"
