"""Read a published v3 onion-service descriptor (rend-spec-v3, "Hidden service descriptors").

The proof-of-work parameters (``pow-params``) sit in the descriptor's inner,
encrypted layer, so the tests decrypt it the way a client does: the keys
derive from the onion address (the service's public identity key) and the
blinded key certified in the descriptor's ``descriptor-signing-key-cert``.
Only what a client without client authorization can read: for a service
with client authorization the second layer needs a descriptor cookie, which
this module does not handle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["inner_layer", "onion_identity_key"]

_BLOCK = re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]+)-----\n(?P<body>.*?)\n-----END (?P=kind)-----",
                    re.DOTALL)
_SIGNED_WITH_KEY = 4  # cert-spec: extension type holding the key that signed the cert


def onion_identity_key(hostname: str) -> bytes:
    """The service's ed25519 public key: the first 32 bytes of the base32 address."""
    address = hostname.removesuffix(".onion").upper()
    return base64.b32decode(address)[:32]


def inner_layer(descriptor: str, hostname: str) -> str:
    """The plaintext of the second (innermost) layer of ``descriptor``.

    Raises ``ValueError`` if a layer's MAC does not verify (wrong address, or
    a service with client authorization).
    """
    identity = onion_identity_key(hostname)
    blinded = _blinded_key(_block(descriptor, "ED25519 CERT"))
    credential = hashlib.sha3_256(b"credential" + identity).digest()
    subcredential = hashlib.sha3_256(b"subcredential" + credential + blinded).digest()
    revision = int(_keyword(descriptor, "revision-counter"))
    middle = _decrypt(_block(descriptor, "MESSAGE"), blinded, subcredential, revision,
                      b"hsdir-superencrypted-data").decode()
    return _decrypt(_block(middle, "MESSAGE"), blinded, subcredential, revision,
                    b"hsdir-encrypted-data").decode()


def _decrypt(blob: bytes, secret: bytes, subcredential: bytes, revision: int,
             constant: bytes) -> bytes:
    """SALT | ENCRYPTED | MAC, with keys from SHAKE-256 (rend-spec-v3 2.5.3)."""
    salt, encrypted, mac = blob[:16], blob[16:-32], blob[-32:]
    material = secret + subcredential + revision.to_bytes(8, "big") + salt + constant
    keys = hashlib.shake_256(material).digest(32 + 16 + 32)
    key, iv, mac_key = keys[:32], keys[32:48], keys[48:]
    expected = hashlib.sha3_256(len(mac_key).to_bytes(8, "big") + mac_key
                                + len(salt).to_bytes(8, "big") + salt + encrypted).digest()
    if not hmac.compare_digest(expected, mac):
        raise ValueError("descriptor layer MAC mismatch")
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    return (decryptor.update(encrypted) + decryptor.finalize()).rstrip(b"\0")


def _blinded_key(certificate: bytes) -> bytes:
    """The signing key named in an ed25519 certificate's extensions (cert-spec 2.1)."""
    count, offset = certificate[39], 40
    for _ in range(count):
        length = int.from_bytes(certificate[offset:offset + 2], "big")
        kind = certificate[offset + 2]
        data = certificate[offset + 4:offset + 4 + length]
        if kind == _SIGNED_WITH_KEY:
            return data
        offset += 4 + length
    raise ValueError("the descriptor's certificate names no signing key")


def _block(document: str, kind: str) -> bytes:
    for match in _BLOCK.finditer(document):
        if match.group("kind") == kind:
            return base64.b64decode(match.group("body"))
    raise ValueError(f"no {kind} block")


def _keyword(document: str, keyword: str) -> str:
    for line in document.splitlines():
        if line.startswith(keyword + " "):
            return line.split(" ", 1)[1]
    raise ValueError(f"no {keyword} line")
