"""The age v1 encryption core of tipbox (see docs/crypto-api.md).

Pure: it imports only the standard library and ``cryptography``, takes
keys and streams as arguments and keeps no global state.
"""

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
from tipbox.crypto.ordered import default_threads
from tipbox.crypto.recipients import (
    HybridIdentity,
    HybridRecipient,
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    fingerprint,
    parse_identity,
    parse_identity_file,
    parse_recipient,
)
from tipbox.crypto.seal import SealError, seal, unseal

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
