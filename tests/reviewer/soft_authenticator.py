"""A WebAuthn authenticator in Python, for service tests that need no browser.

It answers :meth:`SecurityKeys.registration_options` and
:meth:`SecurityKeys.login_options` the way a browser with a security key
does: ``none`` attestation, an ES256 credential, a sign counter, and, with
``prf=True``, the PRF extension (HMAC-SHA256 over the WebAuthn PRF input, as
CTAP ``hmac-secret`` computes it). The origin, RP ID, counter and PRF output
can be forced, to play a phishing page, a cloned key or a lying browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

Json = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def prf_input(salt: bytes) -> bytes:
    """What the browser hands the authenticator for a PRF salt (WebAuthn L3, 10.1.4)."""
    return hashlib.sha256(b"WebAuthn PRF\x00" + salt).digest()


@dataclass
class SoftCredential:
    """One credential: its id, private key, counter and PRF secret."""

    rp_id: str
    id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0
    prf_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def prf(self, salt: bytes) -> bytes:
        return hmac.new(self.prf_secret, prf_input(salt), hashlib.sha256).digest()


@dataclass
class SoftAuthenticator:
    """An authenticator holding credentials; ``prf``: it has the PRF extension;
    ``prf_at_creation``: it gives the PRF output when creating (else only when asserting);
    ``counter``: it keeps a sign counter (else always 0)."""

    origin: str
    prf: bool = False
    prf_at_creation: bool = True
    counter: bool = True
    credentials: list[SoftCredential] = field(default_factory=list)

    def create(self, options: Json, *, origin: str | None = None, rp_id: str | None = None,
               credential: SoftCredential | None = None) -> tuple[str, SoftCredential]:
        """The JSON a browser posts for ``navigator.credentials.create(options)``;
        ``credential``: make it again (as a browser ignoring the exclusion list)."""
        public_key = options["publicKey"]
        if credential is None:
            credential = SoftCredential(rp_id or public_key["rp"]["id"])
            credential.sign_count = 1 if self.counter else 0
            self.credentials.append(credential)
        auth_data = (hashlib.sha256(credential.rp_id.encode()).digest() + bytes([0x41])
                     + struct.pack(">I", credential.sign_count) + bytes(16)
                     + struct.pack(">H", len(credential.id)) + credential.id
                     + credential.cose_key())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        results: Json = {}
        if "prf" in public_key.get("extensions", {}):
            results = {"prf": {"enabled": self.prf}}
            if self.prf and self.prf_at_creation:
                salt = unb64(public_key["extensions"]["prf"]["eval"]["first"])
                results["prf"]["results"] = {"first": b64(credential.prf(salt))}
        answer = {
            "id": b64(credential.id), "rawId": b64(credential.id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation), "transports": ["usb"]},
            "clientExtensionResults": results,
        }
        return json.dumps(answer), credential

    def follow_up(self, options: Json, credential: SoftCredential) -> str:
        """The PRF follow-up assertion the page's script makes after creation."""
        follow = options["followUp"]
        request = {"challenge": follow["challenge"],
                   "extensions": {"prf": {"eval": {"first": follow["prfSalt"]}}}}
        return self.get({"publicKey": request}, credential=credential)

    def get(self, options: Json, *, credential: SoftCredential | None = None,
            origin: str | None = None, rp_id: str | None = None,
            sign_count: int | None = None, prf_output: bytes | None = None) -> str:
        """The JSON a browser posts for ``navigator.credentials.get(options)``."""
        public_key = options["publicKey"]
        credential = credential or self._allowed(public_key)
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counter:
            credential.sign_count += 1
        auth_data = (hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
                     + bytes([0x01]) + struct.pack(">I", credential.sign_count))
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                        ec.ECDSA(hashes.SHA256()))
        answer = {
            "id": b64(credential.id), "rawId": b64(credential.id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "authenticatorData": b64(auth_data), "signature": b64(signature)},
            "clientExtensionResults": self._prf_results(public_key, credential, prf_output),
        }
        return json.dumps(answer)

    def _allowed(self, public_key: Json) -> SoftCredential:
        allowed = {item["id"] for item in public_key.get("allowCredentials", [])}
        for credential in self.credentials:
            if b64(credential.id) in allowed:
                return credential
        raise LookupError("no credential of this authenticator is allowed")

    def _prf_results(self, public_key: Json, credential: SoftCredential,
                     forced: bytes | None) -> Json:
        prf = public_key.get("extensions", {}).get("prf")
        if not self.prf or prf is None:
            return {}
        salt_text = (prf["eval"]["first"] if "eval" in prf
                     else prf.get("evalByCredential", {}).get(b64(credential.id), {}).get("first"))
        if salt_text is None:
            return {"prf": {}}
        output = forced if forced is not None else credential.prf(unb64(salt_text))
        return {"prf": {"results": {"first": b64(output)}}}

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()
