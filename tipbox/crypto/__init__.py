"""The age v1 encryption core of tipbox (see docs/crypto-api.md).

Pure: it imports only the standard library and ``cryptography``, takes
keys and streams as arguments and keeps no global state.

Each name below is imported from its module when it is first used, so that
a program pays only for what it uses: the offline tool encrypting to an
X25519 key never loads ML-KEM, HPKE, scrypt or ``typing``
(``tests/cli/test_age_startup.py``).
"""

from __future__ import annotations

import importlib

# Not lazily: the function ``seal`` shares its module's name, and importing the
# module would set the attribute to the module instead.
from tipbox.crypto.seal import SealError, seal, unseal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tipbox.crypto.age import (
        Encryptor,
        decrypt,
        decrypt_detached,
        decrypt_stream,
        encrypt,
        open_header,
        padded_payload_size,
        rewrap_header,
    )
    from tipbox.crypto.errors import (
        ArmorError,
        DecryptionError,
        HeaderError,
        KeyFormatError,
        MacError,
        NoIdentityMatch,
        PayloadError,
        RecipientError,
    )
    from tipbox.crypto.header import Stanza, parse_header_bytes
    from tipbox.crypto.hybrid import HybridIdentity, HybridRecipient
    from tipbox.crypto.interfaces import Identity, Recipient
    from tipbox.crypto.ordered import default_threads
    from tipbox.crypto.recipients import (
        fingerprint,
        parse_identity,
        parse_identity_file,
        parse_recipient,
    )
    from tipbox.crypto.scrypt import ScryptIdentity, ScryptRecipient
    from tipbox.crypto.stream import Plaintext
    from tipbox.crypto.x25519 import X25519Identity, X25519Recipient

#: module -> the names it gives (mypy checks them through the imports above).
_MODULES = {
    "age": ("Encryptor", "decrypt", "decrypt_detached", "decrypt_stream", "encrypt",
            "open_header", "padded_payload_size", "rewrap_header"),
    "errors": ("ArmorError", "DecryptionError", "HeaderError", "KeyFormatError", "MacError",
               "NoIdentityMatch", "PayloadError", "RecipientError"),
    "header": ("Stanza", "parse_header_bytes"),
    "hybrid": ("HybridIdentity", "HybridRecipient"),
    "interfaces": ("Identity", "Recipient"),
    "ordered": ("default_threads",),
    "recipients": ("fingerprint", "parse_identity", "parse_identity_file", "parse_recipient"),
    "scrypt": ("ScryptIdentity", "ScryptRecipient"),
    "stream": ("Plaintext",),
    "x25519": ("X25519Identity", "X25519Recipient"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "ArmorError",
    "DecryptionError",
    "Encryptor",
    "HeaderError",
    "HybridIdentity",
    "HybridRecipient",
    "Identity",
    "KeyFormatError",
    "MacError",
    "NoIdentityMatch",
    "PayloadError",
    "Plaintext",
    "Recipient",
    "RecipientError",
    "ScryptIdentity",
    "ScryptRecipient",
    "SealError",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "decrypt_detached",
    "decrypt_stream",
    "default_threads",
    "encrypt",
    "fingerprint",
    "open_header",
    "padded_payload_size",
    "parse_header_bytes",
    "parse_identity",
    "parse_identity_file",
    "parse_recipient",
    "rewrap_header",
    "seal",
    "unseal",
]


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found at once next time
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
