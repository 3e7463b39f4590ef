"""Security keys (WebAuthn) for reviewers: registration, login, and the requirement.

Security contract (issue 17, DESIGN 5):

- **A second factor.** A reviewer may register security keys or passkeys
  (at most :data:`MAX_KEYS`) with their current password, and log in with
  password + key instead of password + TOTP code (:meth:`SecurityKeys.login`).
  Without the PRF extension the key is only that: the password still yields
  the KEK that opens the reviewer's identity.
- **PRF: a second KEK.** At registration the browser asks the authenticator
  for its PRF output over a fresh per-credential salt (at creation, or, for
  authenticators that give it only when asserting, by one follow-up
  assertion whose signature and counter are checked like a login's). That
  output yields a KEK (:class:`~tipbox.services.custody.unlock.PrfFactor`)
  under which the reviewer's identity and TOTP secret (what the password
  seals) are sealed and stored with the credential. At a login with that key
  the PRF output opens the identity; the password is checked against its
  verifier but its KEK is not used. A login that brings no PRF output (a
  browser without PRF) falls back to the password's KEK.
- **What is verified** (the ``webauthn`` package): the challenge, the type,
  the origin (the page's own: ``scheme://host``), the SHA-256 of the RP ID
  (the host name the credential was registered under, stored with it, which
  must also be the page's), user presence, and the signature by the stored
  public key. A login's sign count must grow (both 0 is allowed: the
  authenticator keeps no counter); anything else is a cloned credential and
  refused. The new count is stored by compare-and-swap, after the password
  was checked, so of two logins with the same counter one wins.
- **Challenges** are 32 random bytes, kept as SHA-256 for
  :data:`CHALLENGE_SECONDS`, used once (deleted when presented, whatever the
  outcome) and bound to who asked: a registration to the reviewer session, a
  login to a nonce in the browser's signed cookie and the username. A new
  ceremony of the same binding replaces the old one.
- **No oracle.** A key login fails with one :class:`KeyLoginFailed`, audited
  as "failed login", whatever was wrong (account, password, key, challenge,
  counter), after the same single password derivation; it is counted by the
  login throttle before anything is looked at, like a TOTP login. Login
  options for a name with no usable key list a decoy credential derived from
  the name (so the answer does not say whether the account exists).
- **Requirement** (instance setting ``require_security_keys``): a password +
  code login of an account that has a key is refused
  (:meth:`SecurityKeys.refuse_code_login`, same answer and work as a wrong
  password); an account without a key still logs in with its code, but its
  session reaches only the key pages until it registers one
  (:meth:`SecurityKeys.needs_key`). Turning it on ends every session but the
  acting admin's, so no earlier code login stays open.
- **Losing every key** is the admin reset: it deletes and re-creates the
  account, and its credentials go with the row (foreign key cascade).
- Time is a parameter (``now=``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tipbox.crypto import DecryptionError
from tipbox.errors import AuthenticationFailed, InvalidInput, NotFound
from tipbox.passwords import Argon2Params
from tipbox.services.accounts.reviewers import Reviewers, Unlocked
from tipbox.services.accounts.rules import MAX_PASSWORD_CHARS
from tipbox.services.accounts.sessions import (
    LoginResult,
    NoSession,
    ReviewerSession,
    Sessions,
    newsroom_secrets,
    split_token,
)
from tipbox.services.accounts.throttle import AccountLocked, LoginThrottle, throttle_key
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import Keyring
from tipbox.services.custody.unlock import (
    WRONG_FACTOR,
    OpenedIdentity,
    PasswordFactor,
    PrfFactor,
    SealedIdentity,
    StoredPassword,
    new_prf_salt,
    open_identity,
    seal_identity,
)
from tipbox.services.instance_settings import SettingsStore
from tipbox.store.db import Database, hour
from tipbox.store.reviewers import reviewer_by_name
from tipbox.store.security_keys import (
    NewCredential,
    accounts_without_credentials,
    advance_sign_count,
    count_credentials,
    credential_by_credential_id,
    credentials_of,
    delete_credential,
    end_sessions_except,
    insert_challenge,
    insert_credential,
    session_key_state,
    take_challenge,
)

__all__ = [
    "CHALLENGE_SECONDS",
    "MAX_KEYS",
    "MAX_NAME_CHARS",
    "MAX_RESPONSE_CHARS",
    "KeyLoginFailed",
    "KeyRefused",
    "RelyingParty",
    "SecurityKey",
    "SecurityKeys",
    "follow_up_challenge",
]

CHALLENGE_SECONDS = 300
MAX_KEYS = 10
MAX_NAME_CHARS = 64
#: The longest browser answer (JSON) a form may carry.
MAX_RESPONSE_CHARS = 16384
RP_NAME = "tipbox"
_CHALLENGE_BYTES = 32
_SECRET_INFO = b"tipbox security key decoys and user handles v1"
_FOLLOW_UP = b"tipbox security key prf follow-up|"
_TRANSPORTS = frozenset(transport.value for transport in AuthenticatorTransport)
_REFUSED = "the security key's answer was not accepted"
_DUMMY_SALT = b"tipbox dummy salt"
#: What the library raises for a malformed or failing answer (nothing else is caught).
_VERIFY_ERRORS = (WebAuthnException, ValueError, KeyError, TypeError, IndexError)

Clock = Callable[[], float]
Json = dict[str, Any]


class KeyRefused(AuthenticationFailed):
    """A registration's answer was not accepted: an unknown, used or expired challenge,
    another origin or RP ID, a bad attestation or follow-up assertion (HTTP 403)."""

    code = "security_key_refused"


class KeyLoginFailed(AuthenticationFailed):
    """A password + security key login failed; it never says which part (HTTP 403)."""

    code = "security_key_login_failed"


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Where a ceremony runs: the RP ID (the host name) and the page's origin."""

    id: str
    origin: str

    @classmethod
    def of(cls, scheme: str, host: str) -> RelyingParty:
        """The RP of pages served as ``scheme://host`` (``host`` may end with a port)."""
        host = host.lower()
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            name = host
        return cls(id=name, origin=f"{scheme}://{host}")


@dataclass(frozen=True, slots=True)
class SecurityKey:
    """A registered key as its owner sees it (nothing secret)."""

    id: int
    name: str
    created_hour: int
    #: True if its PRF output opens the reviewer's identity.
    unlocks: bool


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_RESPONSE_CHARS:
        raise KeyRefused(_REFUSED)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise KeyRefused(_REFUSED) from None


def _digest(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


def follow_up_challenge(challenge: bytes) -> bytes:
    """The challenge of the PRF follow-up assertion of the registration ``challenge``."""
    return hashlib.sha256(_FOLLOW_UP + challenge).digest()


def _parse(response: str | None) -> Json | None:
    """A browser answer (JSON object) or ``None`` for nothing or anything malformed."""
    if not response or len(response) > MAX_RESPONSE_CHARS:
        return None
    try:
        parsed = json.loads(response)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _client_challenge(answer: Json) -> bytes:
    """The challenge the browser signed (from ``clientDataJSON``); ``KeyRefused`` if absent."""
    response = answer.get("response")
    if not isinstance(response, dict):
        raise KeyRefused(_REFUSED)
    client_data = _parse(_unb64(response.get("clientDataJSON")).decode("utf-8", "replace"))
    if client_data is None:
        raise KeyRefused(_REFUSED)
    return _unb64(client_data.get("challenge"))


def _prf_output(answer: Json) -> bytes | None:
    """``clientExtensionResults.prf.results.first``, if the browser gave it."""
    results = answer.get("clientExtensionResults")
    prf = results.get("prf") if isinstance(results, dict) else None
    outputs = prf.get("results") if isinstance(prf, dict) else None
    first = outputs.get("first") if isinstance(outputs, dict) else None
    return None if first is None else _unb64(first)


def _transports(answer: Json) -> str:
    """The transports the browser reported, known ones only, space-separated."""
    response = answer.get("response")
    listed = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(listed, list):
        return ""
    return " ".join(sorted({t for t in listed if isinstance(t, str) and t in _TRANSPORTS}))


def _descriptor(credential_id: bytes, transports: str) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=credential_id,
        transports=[AuthenticatorTransport(t) for t in transports.split()] or None,
    )


def _stored_password(row: sqlite3.Row) -> StoredPassword:
    return StoredPassword(
        params=Argon2Params.decode(str(row["password_params"])),
        salt=bytes(row["password_salt"]),
        verifier=bytes(row["verifier"]),
    )


def _key(row: sqlite3.Row) -> SecurityKey:
    return SecurityKey(int(row["id"]), str(row["name"]), int(row["created_hour"]),
                       row["sealed_identity"] is not None)


def _sealed_with(row: sqlite3.Row) -> SealedIdentity:
    return SealedIdentity(bytes(row["sealed_identity"]), bytes(row["sealed_totp"]))


def check_key_name(name: str) -> str:
    """A key's name: 1 to :data:`MAX_NAME_CHARS` printable characters (spaces folded)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        raise InvalidInput(f"a key's name has 1 to {MAX_NAME_CHARS} printable characters")
    return name


class SecurityKeys:
    """WebAuthn credentials of reviewer accounts (see the module contract).

    ``instance_secret`` (the instance's Flask secret) keys the login
    throttle's name hashes, exactly as for TOTP logins, and the decoys and
    user handles (under its own HKDF label). ``params`` are the instance's
    Argon2 defaults (for the derivation of a name without an account).
    Password derivations for key logins share the accounts' Argon2 slots
    (:meth:`Reviewers.derive`): a process runs no more derivations at once
    whichever way reviewers log in.
    """

    def __init__(
        self,
        db: Database,
        *,
        params: Argon2Params,
        reviewers: Reviewers,
        sessions: Sessions,
        keyring: Keyring,
        audit: Audit,
        settings: SettingsStore,
        instance_secret: bytes,
        clock: Clock = time.time,
    ) -> None:
        self._db = db
        self._params = params
        self._reviewers = reviewers
        self._sessions = sessions
        self._keyring = keyring
        self._audit = audit
        self._settings = settings
        self._throttle = LoginThrottle(db, throttle_key(instance_secret))
        self._secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                            info=_SECRET_INFO).derive(instance_secret)
        self._clock = clock

    # -- the requirement -------------------------------------------------------------------

    def required(self) -> bool:
        """True when every account must log in with a security key."""
        return self._settings.current().require_security_keys

    def set_required(self, required: bool, *, keep: bytes | None, by: str | None) -> int:
        """Turn the requirement on or off; on ends every session but ``keep`` (an id hash).

        Returns how many sessions were ended.
        """
        self._settings.update({"require_security_keys": "1" if required else "0"}, by=by)
        if not required:
            return 0
        with self._db.transaction() as conn:
            return end_sessions_except(conn, keep)

    def refuse_code_login(self, username: str, password: str, *, now: float | None = None
                          ) -> None:
        """Under the requirement, refuse a password + code login of an account with a key.

        The refusal is a wrong login like any other: counted by the throttle,
        after the same password derivation, audited, the same answer whether
        the password was right or not. Returns (nothing done) otherwise.
        """
        if not self.required():
            return
        with self._db.reading() as conn:
            row = reviewer_by_name(conn, username)
            has_key = row is not None and count_credentials(conn, int(row["id"])) > 0
        if not has_key:
            return
        try:
            self._reviewers.unlock(username, password, now=now)
        except AccountLocked:
            raise
        except AuthenticationFailed:
            pass
        self._audit.record("failed login", reviewer=username, now=now)
        raise AuthenticationFailed(WRONG_FACTOR)

    def needs_key(self, token: str | None) -> bool:
        """True when keys are required and ``token`` is a live row of a ``full`` session
        whose account has none (it may only add one); False otherwise."""
        if token is None or not self.required():
            return False
        try:
            id_hash, _ = split_token(token)
        except NoSession:
            return False
        with self._db.reading() as conn:
            row = session_key_state(conn, id_hash)
        return row is not None and row["kind"] == "full" and not row["has_key"]

    def accounts_without_keys(self) -> list[str]:
        """The usernames of enabled accounts without a key (for admins)."""
        with self._db.reading() as conn:
            return accounts_without_credentials(conn)

    # -- the keys of an account ----------------------------------------------------------------

    def keys_of(self, reviewer_id: int) -> list[SecurityKey]:
        """The reviewer's keys, oldest first."""
        with self._db.reading() as conn:
            return [_key(row) for row in credentials_of(conn, reviewer_id)]

    def remove(self, session: ReviewerSession, key_id: int, password: str, *,
               now: float | None = None) -> str:
        """Remove one of the session's reviewer's keys (current password needed);
        returns its name. ``NotFound`` for a key that is not theirs."""
        self._check_password(session, password, now)
        with self._db.transaction() as conn:
            rows = credentials_of(conn, session.reviewer_id)
            names = {int(row["id"]): str(row["name"]) for row in rows}
            if key_id not in names or not delete_credential(conn, session.reviewer_id, key_id):
                raise NotFound("no such security key")
        self._audit.record("remove security key", reviewer=session.username, now=now)
        return names[key_id]

    def _check_password(self, session: ReviewerSession, password: str,
                        now: float | None) -> OpenedIdentity:
        """The session's reviewer's identity and TOTP secret, opened with ``password``;
        throttled like a login; ``AuthenticationFailed`` (``current_password_wrong``)."""
        try:
            unlocked = self._reviewers.unlock(session.username, password, now=now)
        except AccountLocked as error:
            error.code = "password_change_locked"
            raise
        except AuthenticationFailed:
            raise AuthenticationFailed(WRONG_FACTOR, code="current_password_wrong") from None
        self._reviewers.forgive(session.username)
        return OpenedIdentity(unlocked.identity, unlocked.totp_secret)

    # -- registration --------------------------------------------------------------------------

    def registration_options(
        self, session: ReviewerSession, rp: RelyingParty, *, now: float | None = None
    ) -> Json:
        """What ``navigator.credentials.create()`` is given (base64url values), with the
        PRF salt to ask for and the challenge of a PRF follow-up assertion (``followUp``)."""
        now = self._now(now)
        challenge, salt = secrets.token_bytes(_CHALLENGE_BYTES), new_prf_salt()
        with self._db.transaction() as conn:
            existing = credentials_of(conn, session.reviewer_id)
            insert_challenge(conn, _digest(challenge), purpose="register",
                             binding=session.id_hash, prf_salt=salt,
                             expires=now + CHALLENGE_SECONDS, now=now)
        options = generate_registration_options(
            rp_id=rp.id, rp_name=RP_NAME, user_name=session.username,
            user_id=self._user_handle(session.reviewer_id), challenge=challenge,
            timeout=CHALLENGE_SECONDS * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.DISCOURAGED),
            exclude_credentials=[_descriptor(bytes(r["credential_id"]), str(r["transports"]))
                                 for r in existing],
        )
        public_key: Json = json.loads(options_to_json(options))
        public_key["extensions"] = {"prf": {"eval": {"first": _b64(salt)}}}
        follow_up = {"challenge": _b64(follow_up_challenge(challenge)), "prfSalt": _b64(salt)}
        return {"publicKey": public_key, "followUp": follow_up}

    def register(
        self, session: ReviewerSession, rp: RelyingParty, *, password: str, name: str,
        response: str, follow_up: str | None = None, now: float | None = None,
    ) -> SecurityKey:
        """Verify the browser's ``response`` to :meth:`registration_options` and store the key.

        ``follow_up`` is the PRF follow-up assertion, for an authenticator that
        gave no PRF output at creation. Raises ``InvalidInput`` (a bad name,
        too many keys), :class:`KeyRefused` (the answers), ``AuthenticationFailed``
        (``current_password_wrong``) or ``AccountLocked``.
        """
        name = check_key_name(name)
        now = self._now(now)
        created = _parse(response)
        if created is None:
            raise KeyRefused(_REFUSED)
        challenge = _client_challenge(created)
        salt = self._take(challenge, "register", session.id_hash, now)
        verified = self._verify_registration(created, challenge, rp)
        opened = self._check_password(session, password, now)
        prf, sign_count = self._registration_prf(created, _parse(follow_up), challenge,
                                                 verified, rp)
        sealed = None if prf is None else seal_identity(
            PrfFactor(prf, salt).kek(), opened, username=session.username)
        new = NewCredential(
            session.reviewer_id, verified.credential_id, verified.credential_public_key,
            sign_count, _transports(created), name, rp.id, hour(now),
            None if sealed is None else salt,
            None if sealed is None else sealed.identity,
            None if sealed is None else sealed.totp_secret,
        )
        row_id = self._insert(new)
        self._audit.record("add security key", reviewer=session.username, now=now)
        return SecurityKey(row_id, name, new.created_hour, sealed is not None)

    def _take(self, challenge: bytes, purpose: str, binding: bytes, now: float) -> bytes:
        """Use up the challenge (its PRF salt, or ``b""``); :class:`KeyRefused` if it is
        unknown, used, expired, or for another purpose or session."""
        with self._db.transaction() as conn:
            row = take_challenge(conn, _digest(challenge), purpose=purpose, binding=binding,
                                 now=now)
        if row is None:
            raise KeyRefused(_REFUSED)
        return b"" if row["prf_salt"] is None else bytes(row["prf_salt"])

    def _verify_registration(self, created: Json, challenge: bytes, rp: RelyingParty
                             ) -> VerifiedRegistration:
        try:
            return verify_registration_response(
                credential=created, expected_challenge=challenge, expected_rp_id=rp.id,
                expected_origin=rp.origin, require_user_verification=False)
        except _VERIFY_ERRORS:
            raise KeyRefused(_REFUSED) from None

    def _registration_prf(
        self, created: Json, follow_up: Json | None, challenge: bytes,
        verified: VerifiedRegistration,
        rp: RelyingParty,
    ) -> tuple[bytes | None, int]:
        """The PRF output (from the creation, else from a verified follow-up assertion of
        the new credential) and the sign count to store."""
        prf = _prf_output(created)
        if prf is not None or follow_up is None:
            return prf, int(verified.sign_count)
        if _unb64(follow_up.get("rawId")) != verified.credential_id:
            raise KeyRefused(_REFUSED)
        try:
            asserted = verify_authentication_response(
                credential=follow_up, expected_challenge=follow_up_challenge(challenge),
                expected_rp_id=rp.id, expected_origin=rp.origin,
                credential_public_key=verified.credential_public_key,
                credential_current_sign_count=int(verified.sign_count))
        except _VERIFY_ERRORS:
            raise KeyRefused(_REFUSED) from None
        return _prf_output(follow_up), int(asserted.new_sign_count)

    def _insert(self, new: NewCredential) -> int:
        try:
            with self._db.transaction() as conn:
                if count_credentials(conn, new.reviewer_id) >= MAX_KEYS:
                    raise InvalidInput(f"an account has at most {MAX_KEYS} security keys")
                return insert_credential(conn, new)
        except sqlite3.IntegrityError:  # registered already (the browser should exclude it)
            raise KeyRefused(_REFUSED) from None

    # -- login ------------------------------------------------------------------------------------

    def login_options(self, username: str, rp: RelyingParty, *, nonce: bytes,
                      now: float | None = None) -> Json:
        """What ``navigator.credentials.get()`` is given for ``username``: its keys (or a
        decoy), a fresh challenge bound to ``nonce`` and the name, and each key's PRF salt."""
        now = self._now(now)
        challenge = secrets.token_bytes(_CHALLENGE_BYTES)
        with self._db.transaction() as conn:
            rows = self._usable_credentials(conn, username)
            insert_challenge(conn, _digest(challenge), purpose="login",
                             binding=_login_binding(nonce, username), prf_salt=None,
                             expires=now + CHALLENGE_SECONDS, now=now)
        allowed = [(bytes(r["credential_id"]), str(r["transports"]),
                    None if r["prf_salt"] is None else bytes(r["prf_salt"])) for r in rows]
        options = generate_authentication_options(
            rp_id=rp.id, challenge=challenge, timeout=CHALLENGE_SECONDS * 1000,
            allow_credentials=[_descriptor(cid, transports)
                               for cid, transports, _ in allowed or [self._decoy(username)]],
            user_verification=UserVerificationRequirement.DISCOURAGED,
        )
        public_key: Json = json.loads(options_to_json(options))
        salts = {_b64(cid): {"first": _b64(salt)}
                 for cid, _, salt in allowed or [self._decoy(username)] if salt is not None}
        if salts:
            public_key["extensions"] = {"prf": {"evalByCredential": salts}}
        return {"publicKey": public_key}

    def _usable_credentials(self, conn: sqlite3.Connection, username: str) -> list[sqlite3.Row]:
        row = reviewer_by_name(conn, username)
        if row is None or row["disabled"] or not row["active"]:
            return []
        return credentials_of(conn, int(row["id"]))

    def _decoy(self, username: str) -> tuple[bytes, str, bytes]:
        """A credential id, transports and PRF salt for a name with no usable key (stable)."""
        mac = hmac.new(self._secret, b"decoy|" + username.encode("utf-8", "replace"),
                       hashlib.sha512).digest()
        return mac[:32], "usb", mac[32:]

    def _user_handle(self, reviewer_id: int) -> bytes:
        return hmac.new(self._secret, b"user|%d" % reviewer_id, hashlib.sha256).digest()

    def login(
        self, username: str, password: str, response: str, rp: RelyingParty, *,
        nonce: bytes, now: float | None = None,
    ) -> LoginResult:
        """Password + security key -> a ``full`` session (see the module contract).

        Raises :class:`~.throttle.AccountLocked` while the name is locked,
        :class:`KeyLoginFailed` for anything wrong, ``Busy`` when no
        derivation slot frees in time.
        """
        now = self._now(now)
        self._throttle.count(username, now)
        try:
            unlocked = self._authenticate(username, password, _parse(response), rp,
                                          _login_binding(nonce, username), now)
        except AuthenticationFailed:
            self._audit.record("failed login", reviewer=self._known(username), now=now)
            raise KeyLoginFailed(WRONG_FACTOR) from None
        self._throttle.forgive(username)
        return self._open_session(unlocked, now)

    def _authenticate(self, username: str, password: str, answer: Json | None,
                      rp: RelyingParty, binding: bytes, now: float) -> Unlocked:
        """Check everything, then open the identity; one derivation whatever is wrong."""
        with self._db.reading() as conn:
            row = reviewer_by_name(conn, username)
            credential = self._presented(conn, answer)
        challenge = self._login_challenge(answer, binding, now)
        usable = (row is not None and not row["disabled"] and bool(row["active"])
                  and credential is not None and credential["reviewer_id"] == row["id"])
        verified = (self._verify_login(answer, credential, rp, challenge)
                    if usable and challenge is not None else None)
        if row is None or len(password) > MAX_PASSWORD_CHARS:
            self._reviewers.derive(password[:MAX_PASSWORD_CHARS], _DUMMY_SALT, self._params)
            raise KeyLoginFailed(WRONG_FACTOR)
        password_kek = PasswordFactor(password, _stored_password(row),
                                      derive=self._reviewers.derive).kek()
        if verified is None or credential is None or answer is None:
            raise KeyLoginFailed(WRONG_FACTOR)
        with self._db.transaction() as conn:
            if not advance_sign_count(conn, int(credential["id"]),
                                      old=int(credential["sign_count"]), new=verified):
                raise KeyLoginFailed(WRONG_FACTOR)
        opened = self._open(row, credential, _prf_output(answer), password_kek)
        return Unlocked(self._reviewers.get(int(row["id"])), opened.identity, opened.totp_secret)

    def _presented(self, conn: sqlite3.Connection, answer: Json | None) -> sqlite3.Row | None:
        if answer is None:
            return None
        try:
            return credential_by_credential_id(conn, _unb64(answer.get("rawId")))
        except KeyRefused:
            return None

    def _login_challenge(self, answer: Json | None, binding: bytes, now: float
                         ) -> bytes | None:
        """The challenge the answer signed, used up; ``None`` if it was not ours to take."""
        if answer is None:
            return None
        try:
            challenge = _client_challenge(answer)
            self._take(challenge, "login", binding, now)
        except KeyRefused:
            return None
        return challenge

    def _verify_login(self, answer: Json | None, credential: sqlite3.Row | None,
                      rp: RelyingParty, challenge: bytes) -> int | None:
        """The assertion's new sign count if it is valid for ``credential``; else ``None``."""
        if answer is None or credential is None or rp.id != str(credential["rp_id"]):
            return None
        try:
            verified = verify_authentication_response(
                credential=answer, expected_challenge=challenge,
                expected_rp_id=str(credential["rp_id"]), expected_origin=rp.origin,
                credential_public_key=bytes(credential["public_key"]),
                credential_current_sign_count=int(credential["sign_count"]))
        except _VERIFY_ERRORS:
            return None
        return int(verified.new_sign_count)

    def _open(self, row: sqlite3.Row, credential: sqlite3.Row, prf: bytes | None,
              password_kek: bytes) -> OpenedIdentity:
        """The identity, opened by the key's PRF output where it has a seal and the
        browser gave the output, else by the password's KEK."""
        username = str(row["username"])
        if credential["sealed_identity"] is not None and prf is not None:
            kek = PrfFactor(prf, bytes(credential["prf_salt"])).kek()
            return open_identity(kek, _sealed_with(credential), username=username)
        sealed = SealedIdentity(bytes(row["sealed_identity"]), bytes(row["sealed_totp"]))
        return open_identity(password_kek, sealed, username=username)

    def _open_session(self, unlocked: Unlocked, now: float) -> LoginResult:
        """Open the grants and a ``full`` session, as a code login does."""
        account = unlocked.account
        try:
            identities = self._keyring.open_identities(unlocked.identity)
        except DecryptionError:
            raise AuthenticationFailed("a key grant of this account is damaged") from None
        if account.is_admin and identities:
            self._reviewers.grant_missing(identities)
        token = self._sessions.open(account.id, kind="full", now=now,
                                    secrets_=newsroom_secrets(identities, unlocked.identity))
        self._audit.record("login", reviewer=account.username, target="security key", now=now)
        return LoginResult(token, "full", account.username)

    def _known(self, username: str) -> str | None:
        try:
            return self._reviewers.by_username(username).username
        except NotFound:
            return None

    # -- derivations ------------------------------------------------------------------------

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


def _login_binding(nonce: bytes, username: str) -> bytes:
    """What a login challenge is bound to: the browser's nonce and the typed name."""
    return hashlib.sha256(b"tipbox key login|" + nonce + b"|"
                          + username.encode("utf-8", "replace")).digest()

