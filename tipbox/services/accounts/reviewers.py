"""Reviewer accounts: passwords, TOTP, key custody and login throttling.

Security contract (DESIGN 5, issue 4):

- **Password.** One Argon2id derivation per attempt (parameters and salt
  stored per account, upgraded after a fully successful login when the
  instance's defaults grow), split by HKDF into a *verifier* (stored,
  compared with :func:`hmac.compare_digest`) and a *key-encryption key*
  (KEK, never stored). Passwords have at least :data:`MIN_PASSWORD_CHARS`
  characters.
- **New passwords** (enrolment, password change) must also score at least
  :data:`MIN_PASSWORD_SCORE` of 4 with the zxcvbn strength estimator, which
  is given the username and the instance's words (organisation name) as
  things an attacker knows; enrolment refuses the admin-known one-time
  password itself, a change refuses the current password.
- **Reviewer key.** Each reviewer owns a :class:`~tipbox.crypto.HybridIdentity`.
  Its text and the TOTP secret are stored only sealed under the KEK
  (ChaCha20-Poly1305, random 96-bit nonce, associated data naming the
  purpose and the username: see :func:`seal`). age's scrypt recipient is
  deliberately not used: it would add a second slow KDF with its own
  parameters to a key that is already the output of Argon2id. Without the
  password, the database opens neither the identity nor the TOTP secret,
  and hence no grant.
- **TOTP.** RFC 6238 with SHA-1, 6 ASCII digits (:mod:`tipbox.digits`:
  ``١٢٣٤٥٦`` is a wrong code like any other), 30 s steps and one step of
  drift either way. The last accepted step is stored; a code for that step
  or an earlier one is refused, so no code is ever accepted twice.
- **Throttling.** Every attempt is counted as a failure *before* the
  derivation (so that concurrent attempts are counted too) and forgiven on
  success. Five in :data:`FAILURE_WINDOW_SECONDS` lock the username for a
  delay that doubles with each lockout (up to :data:`MAX_LOCK_SECONDS`).
  Unknown usernames are throttled exactly like real ones and run a dummy
  derivation, so responses and timings do not reveal which names exist.
- **No typed name on disk.** A name that belongs to no account is often a
  password typed into the wrong field, so the throttle never stores what
  was typed: its rows are keyed by HMAC-SHA256 of the name under
  :func:`throttle_key` (derived from the instance secret, which is not in
  the database). What remains per row is that hash, a failure count and the
  exact times the lockout arithmetic needs (window start, end of lock). A
  row lives only while they matter: it is purged at the next attempt (of
  any name) or :meth:`Reviewers.forget_expired_attempts` once its window
  (:data:`FAILURE_WINDOW_SECONDS`) and lock are over, or, for a name that
  was locked out, :data:`MAX_LOCK_SECONDS` after its lock ended (the
  doubling remembers it that long). Deleted rows are zeroed
  (``secure_delete``). Someone holding both the database and the secrets
  file can still test guesses of a name against a live row's hash.
- **No password oracle.** Whatever is wrong with a login (password, code,
  malformed code, unknown or disabled account), :meth:`Reviewers.authenticate`
  raises the same ``AuthenticationFailed``, whether the password was right
  or not; nothing that only a right password reaches (opening the secrets,
  upgrading the Argon2 parameters) can fail differently.
- **Argon2 cap.** At most ``argon2_slots`` derivations run at once in a
  process; a login that cannot get a slot in time fails with :class:`Busy`
  (HTTP 503) instead of queueing memory.
"""

from __future__ import annotations

import base64
import hmac
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # ships no type hints

from tipbox import errors
from tipbox.codenames import passphrase
from tipbox.crypto import HybridIdentity, KeyFormatError, parse_identity, parse_recipient
from tipbox.digits import is_ascii_digits
from tipbox.errors import AuthenticationFailed, InvalidInput, NotFound
from tipbox.passwords import Argon2Params, PasswordKeys, new_salt, password_keys
from tipbox.services.custody.keyring import KeyIdentity, Keyring, insert_grant
from tipbox.store.db import Database, hour

if TYPE_CHECKING:
    from tipbox.services.instance import Instance

__all__ = [
    "MIN_PASSWORD_CHARS",
    "MIN_PASSWORD_SCORE",
    "Account",
    "AccountLocked",
    "Busy",
    "Enrolment",
    "Reviewers",
    "Unlocked",
    "WeakPassword",
    "check_new_password",
    "check_password",
    "check_username",
    "create_first_admin",
    "holder_name",
    "otpauth_uri",
    "password_score",
    "qr_svg",
    "qr_terminal",
    "seal",
    "suggest_password",
    "throttle_key",
    "totp_code",
    "unseal",
]

MIN_PASSWORD_CHARS = 14
MAX_PASSWORD_CHARS = 1024
#: zxcvbn's score runs 0 (too guessable) to 4 (very unguessable); 3 means
#: "safely unguessable" (at least 10**8 guesses), each an Argon2id derivation.
MIN_PASSWORD_SCORE = 3
#: zxcvbn's own cap; a longer password is scored by this prefix (a lower bound).
SCORED_PASSWORD_CHARS = 72
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1
TOTP_SECRET_BYTES = 20
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60.0
FIRST_LOCK_SECONDS = 60.0
MAX_LOCK_SECONDS = 3600.0
ISSUER = "tipbox"
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
_CODE_SPACES = str.maketrans("", "", " \t")
_SEPARATORS = re.compile(r"[\W_]+")
_SEAL_VERSION = b"\x01"
_NONCE_BYTES = 12
_DUMMY_SALT = b"tipbox dummy salt"
_THROTTLE_CONTEXT = b"tipbox reviewer login throttle v1"

Clock = Callable[[], float]

#: Messages of refused new passwords (translated on the reviewer pages).
TOO_GUESSABLE = (
    "this password is too easy to guess: use a longer passphrase of several unrelated words,"
    " such as the suggestion, not your username or the organisation's name"
)
ONE_TIME_REUSED = (
    "the new password cannot be the one-time password you were given: choose your own,"
    " such as the suggestion"
)
SAME_AS_CURRENT = "the new password must be different from the current one"


class WeakPassword(InvalidInput):
    """A new password is too short (or absurdly long), too guessable, or reused.

    Reused: the one-time password at enrolment, the current one at a change.
    """


class AccountLocked(AuthenticationFailed):
    """Too many recent failures for this username; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__("too many failed attempts; try again later", code="account_locked",
                         params={"num": minutes})
        self.retry_after = retry_after


class Busy(errors.Busy):
    """Too many password derivations are running; try again shortly.

    Shown as the "busy" page (HTTP 503) like every :class:`tipbox.errors.Busy`.
    """


class SealError(AuthenticationFailed):
    """A sealed value did not open: wrong key, wrong context or tampered."""


# --- sealing under a symmetric key --------------------------------------------


def seal(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under a 32-byte ``key`` with ChaCha20-Poly1305.

    ``context`` (e.g. ``b"reviewer identity|alice"``) is authenticated but
    not stored, so a sealed value only opens where it was meant to be used.
    Output: version byte, 12-byte random nonce, ciphertext and tag.
    """
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _SEAL_VERSION + nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, *, context: bytes) -> bytes:
    """Open :func:`seal`'s output; raises :class:`SealError` on any mismatch."""
    if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _SEAL_VERSION:
        raise SealError("malformed sealed value")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, body, context)
    except InvalidTag:
        raise SealError("sealed value did not open") from None


# --- input rules -----------------------------------------------------------------


def check_username(username: str) -> str:
    """Return ``username`` if it is 2-32 of ``a-z 0-9 . _ -`` (starting alnum)."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput("a username is 2 to 32 lower-case letters, digits, '.', '_' or '-'",
                           code="username_format")
    return username


def check_password(password: str) -> str:
    """Return ``password`` if it is long enough for a new password."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password has at least {MIN_PASSWORD_CHARS} characters",
                           code="password_too_short", params={"num": MIN_PASSWORD_CHARS})
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_CHARS} characters",
                           code="password_too_long", params={"num": MAX_PASSWORD_CHARS})
    return password


#: zxcvbn keeps the user inputs of a call in a module-level dictionary, so two
#: threads estimating at once would see each other's words: one at a time.
_ZXCVBN_LOCK = threading.Lock()


def _words(texts: Sequence[str]) -> list[str]:
    """``texts``, each of their words and each glued together, lower-cased.

    zxcvbn matches whole dictionary entries: "The Daily Planet" must also
    be found as ``daily`` and as ``thedailyplanet``.
    """
    words = set()
    for text in (text.lower() for text in texts if text):
        parts = [part for part in _SEPARATORS.split(text) if part]
        words.update([text, "".join(parts), *parts])
    return sorted(word for word in words if word)


def _score(password: str, user_inputs: list[str]) -> int:
    if not password:
        return 0  # zxcvbn fails on the empty string
    with _ZXCVBN_LOCK:
        result = cast(dict[str, Any], zxcvbn(password, user_inputs=user_inputs))
    return int(result["score"])


def password_score(password: str, user_inputs: Sequence[str] = ()) -> int:
    """zxcvbn's score, 0 to 4, of ``password`` for an attacker who knows ``user_inputs``.

    The lower of two estimates: as typed, and with separators (spaces,
    punctuation) removed, since zxcvbn counts each separator as brute force
    and so rates ``tipbox-admin-2024`` far above ``tipboxadmin2024``. Only the
    first :data:`SCORED_PASSWORD_CHARS` characters are scored (zxcvbn refuses
    longer input, and its cost grows with the length): for a longer
    password the score is a lower bound.
    """
    known = _words(user_inputs)
    typed = password[:SCORED_PASSWORD_CHARS]
    glued = _SEPARATORS.sub("", password)[:SCORED_PASSWORD_CHARS]
    return min(_score(text, known) for text in {typed, glued or typed})


def check_new_password(password: str, *, user_inputs: Sequence[str] = ()) -> str:
    """Return ``password`` if it may become a reviewer's own password.

    Long enough (:func:`check_password`) and scoring at least
    :data:`MIN_PASSWORD_SCORE` when the attacker knows ``user_inputs`` (the
    username, the organisation name...). Raises :class:`WeakPassword`.
    """
    check_password(password)
    if password_score(password, user_inputs) < MIN_PASSWORD_SCORE:
        raise WeakPassword(TOO_GUESSABLE, code="password_guessable")
    return password


def suggest_password() -> str:
    """A generated 7-word passphrase (about 90 bits) offered to the reviewer."""
    return passphrase(7)


def _check_code(code: str) -> str:
    """The code without the spaces people type in it: six ASCII digits, or ``InvalidInput``."""
    code = code.translate(_CODE_SPACES)
    if len(code) != TOTP_DIGITS or not is_ascii_digits(code):
        raise InvalidInput("the code from the authenticator app is 6 digits",
                           code="totp_code_format")
    return code


# --- TOTP --------------------------------------------------------------------------


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP_SECONDS)  # noqa: S303 - RFC 6238


def totp_code(secret: bytes, now: float) -> str:
    """The code an authenticator shows at ``now`` (used by tests and benches)."""
    return _totp(secret).generate(int(now)).decode("ascii")


def match_totp(secret: bytes, code: str, *, now: float, last_step: int) -> int | None:
    """The time step ``code`` is valid for, if it is within drift and after ``last_step``.

    Every candidate step is compared (constant-time) so that timing does
    not reveal which one matched. A code that is not six ASCII digits
    matches nothing.
    """
    if len(code) != TOTP_DIGITS or not is_ascii_digits(code):
        return None
    found = None
    totp = _totp(secret)
    here = int(now) // TOTP_STEP_SECONDS
    for step in range(here - TOTP_DRIFT_STEPS, here + TOTP_DRIFT_STEPS + 1):
        expected = totp.generate(step * TOTP_STEP_SECONDS)
        if hmac.compare_digest(expected, code.encode("ascii")) and step > last_step:
            found = step
    return found


def otpauth_uri(secret: bytes, username: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return _totp(secret).get_provisioning_uri(username, ISSUER)


def qr_svg(uri: str) -> str:
    """An SVG QR code of ``uri``, made on the server (no third party, no script)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")


def base32_secret(secret: bytes) -> str:
    """The TOTP secret as authenticator apps expect it typed (base32, grouped)."""
    text = base64.b32encode(secret).decode("ascii").rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


# --- value objects ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """A reviewer account as the rest of the app sees it (nothing secret)."""

    id: int
    username: str
    is_admin: bool
    active: bool
    recipient: str


@dataclass(frozen=True, slots=True, repr=False)
class Enrolment:
    """What a new reviewer needs once: one-time password and TOTP secret.

    Shown exactly once (CLI or enrolment page); never stored in the clear.
    """

    username: str
    password: str
    totp_secret: bytes

    @property
    def uri(self) -> str:
        """The otpauth URI for the authenticator app."""
        return otpauth_uri(self.totp_secret, self.username)

    @property
    def secret_text(self) -> str:
        """The TOTP secret for typing into an app (base32)."""
        return base32_secret(self.totp_secret)

    def __repr__(self) -> str:
        return f"Enrolment({self.username!r}, <secret>)"


@dataclass(frozen=True, slots=True, repr=False)
class Unlocked:
    """An account whose password was right: its identity and TOTP secret, opened."""

    account: Account
    identity: HybridIdentity
    totp_secret: bytes

    def __repr__(self) -> str:
        return f"Unlocked({self.account.username!r}, <secret>)"


# --- the service ---------------------------------------------------------------


def throttle_key(instance_secret: bytes) -> bytes:
    """The 32-byte key of the login throttle's name hashes, derived from the instance's secret.

    HKDF-SHA256 with its own label, so it is independent of every other key
    derived from the same secret (cookie signing, source tokens).
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_THROTTLE_CONTEXT)
    return hkdf.derive(instance_secret)


def holder_name(reviewer_id: int) -> str:
    """The keyring holder name of a reviewer's grants."""
    return f"reviewer:{reviewer_id}"


def _identity_context(username: str) -> bytes:
    return b"tipbox reviewer identity|" + username.encode("ascii")


def _totp_context(username: str) -> bytes:
    return b"tipbox reviewer totp|" + username.encode("ascii")


def _parse_hybrid(text: str) -> HybridIdentity:
    try:
        identity = parse_identity(text)
    except KeyFormatError:
        raise SealError("stored reviewer identity is malformed") from None
    if not isinstance(identity, HybridIdentity):
        raise SealError("stored reviewer identity is not post-quantum")
    return identity


def _grows(old: Argon2Params, new: Argon2Params) -> bool:
    """True when ``new`` costs at least ``old`` in every dimension and differs."""
    return new != old and (
        new.time_cost >= old.time_cost
        and new.memory_kib >= old.memory_kib
        and new.parallelism >= old.parallelism
    )


_ACCOUNT_COLUMNS = "id, username, is_admin, active, recipient"


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=int(row["id"]),
        username=str(row["username"]),
        is_admin=bool(row["is_admin"]),
        active=bool(row["active"]),
        recipient=str(row["recipient"]),
    )


class Reviewers:
    """Reviewer accounts in the instance database (see the module contract).

    ``params`` are the instance's current Argon2 defaults for passwords.
    ``throttle_key`` (32 bytes, :func:`throttle_key`) keys the hashes of the
    names the login throttle counts; :meth:`for_instance` derives it.
    ``clock`` gives the current Unix time when a method is not passed ``now``.
    ``instance_words`` gives what an attacker knows of the instance (its
    organisation name): new passwords must not lean on it.
    """

    def __init__(
        self,
        db: Database,
        *,
        params: Argon2Params,
        throttle_key: bytes,
        argon2_slots: int = 2,
        slot_timeout: float = 10.0,
        clock: Clock = time.time,
        instance_words: Callable[[], Sequence[str]] = tuple,
    ) -> None:
        self._db = db
        self._params = params
        self._throttle_key = throttle_key
        self._slots = threading.BoundedSemaphore(argon2_slots)
        self._slot_timeout = slot_timeout
        self._clock = clock
        self._instance_words = instance_words

    @classmethod
    def for_instance(
        cls, instance: Instance, *, argon2_slots: int = 2, clock: Clock = time.time
    ) -> Reviewers:
        """The accounts of ``instance``, with its Argon2 defaults, throttle key and words."""
        return cls(
            instance.store.db,
            params=instance.settings.password_argon2,
            throttle_key=throttle_key(instance.secrets.flask_secret_key),
            argon2_slots=argon2_slots,
            clock=clock,
            instance_words=lambda: (instance.instance_settings.current().organisation,),
        )

    # -- derivation --------------------------------------------------------------

    @contextmanager
    def _argon2_slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._slot_timeout):
            raise Busy("too many logins at once; try again in a moment")
        try:
            yield
        finally:
            self._slots.release()

    def _derive(self, password: str, salt: bytes, params: Argon2Params) -> PasswordKeys:
        with self._argon2_slot():
            return password_keys(password, salt=salt, params=params)

    # -- creation -----------------------------------------------------------------

    def create(
        self,
        username: str,
        *,
        is_admin: bool = False,
        disabled: bool = False,
        password: str | None = None,
        now: float | None = None,
    ) -> tuple[Account, Enrolment]:
        """Create a pending account with a fresh identity and TOTP secret.

        The password (default: a generated passphrase) is one-time: the
        account becomes active only through :meth:`complete_enrolment`,
        which requires a valid TOTP code and a new password. A ``disabled``
        account (an admin's reset of a disabled one) cannot log in, hence
        not enrol, until an admin enables it. Raises ``InvalidInput`` for a
        bad or taken username.
        """
        check_username(username)
        password = check_password(password if password is not None else suggest_password())
        identity = HybridIdentity.generate()
        totp_secret = secrets.token_bytes(TOTP_SECRET_BYTES)
        columns = self._credential_columns(username, password, identity, totp_secret)
        try:
            with self._db.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO reviewers (username, is_admin, disabled, active, recipient,"
                    " password_params, password_salt, verifier, sealed_identity, sealed_totp,"
                    " totp_last_step, created_hour) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, -1, ?)",
                    (
                        username,
                        int(is_admin),
                        int(disabled),
                        str(identity.recipient()),
                        *columns,
                        hour(self._now(now)),
                    ),
                )
                reviewer_id = int(cursor.lastrowid or 0)
        except sqlite3.IntegrityError:
            raise InvalidInput("that username is taken", code="username_taken") from None
        account = Account(reviewer_id, username, is_admin, False, str(identity.recipient()))
        return account, Enrolment(username, password, totp_secret)

    def _credential_columns(
        self, username: str, password: str, identity: HybridIdentity, totp_secret: bytes
    ) -> tuple[str, bytes, bytes, bytes, bytes]:
        """(params, salt, verifier, sealed identity, sealed TOTP) for ``password``."""
        salt = new_salt()
        keys = self._derive(password, salt, self._params)
        return (
            self._params.encode(),
            salt,
            keys.verifier,
            seal(keys.kek, str(identity).encode("ascii"), context=_identity_context(username)),
            seal(keys.kek, totp_secret, context=_totp_context(username)),
        )

    # -- authentication -----------------------------------------------------------

    def unlock(self, username: str, password: str, *, now: float | None = None) -> Unlocked:
        """Check ``password`` and open the account's identity and TOTP secret.

        Counts as a failed attempt unless :meth:`forgive` is called (after
        the second factor). Raises :class:`AccountLocked` while the username
        is locked, ``AuthenticationFailed`` for an unknown name, a disabled
        account (issue 5) or a wrong password (same message, same work).
        Changes nothing stored but the throttle: the Argon2 upgrade waits
        for the second factor (:meth:`authenticate`).
        """
        now = self._now(now)
        self._count_attempt(username, now)
        row = self._row_by_name(username)
        if row is None or row["disabled"] or len(password) > MAX_PASSWORD_CHARS:
            self._derive(password[:MAX_PASSWORD_CHARS], _DUMMY_SALT, self._params)
            raise AuthenticationFailed("wrong username, password or code")
        params = Argon2Params.decode(str(row["password_params"]))
        keys = self._derive(password, bytes(row["password_salt"]), params)
        if not hmac.compare_digest(keys.verifier, bytes(row["verifier"])):
            raise AuthenticationFailed("wrong username, password or code")
        return self._open(row, keys.kek)

    def _upgrade(self, unlocked: Unlocked, password: str) -> None:
        """Re-derive under the instance's Argon2 defaults if they grew; skipped when busy.

        Called after a full success only, so that the password alone (without
        the code) changes nothing and a busy server cannot turn a right
        password into a different answer.
        """
        row = self._row_by_name(unlocked.account.username)
        if row is None or not _grows(Argon2Params.decode(str(row["password_params"])),
                                     self._params):
            return
        try:
            self._store_password(unlocked, password)
        except Busy:
            return  # the next login upgrades

    def _open(self, row: sqlite3.Row, kek: bytes) -> Unlocked:
        username = str(row["username"])
        identity_text = unseal(
            kek, bytes(row["sealed_identity"]), context=_identity_context(username)
        )
        totp_secret = unseal(kek, bytes(row["sealed_totp"]), context=_totp_context(username))
        identity = _parse_hybrid(identity_text.decode("ascii"))
        return Unlocked(_account(row), identity, totp_secret)

    def check_code(self, unlocked: Unlocked, code: str, *, now: float | None = None) -> None:
        """Accept ``code`` once for this account, or raise ``AuthenticationFailed``.

        The step is recorded atomically, so two concurrent requests with the
        same code cannot both succeed.
        """
        now = self._now(now)
        try:
            code = _check_code(code)
        except InvalidInput:
            raise AuthenticationFailed("wrong username, password or code") from None
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT totp_last_step FROM reviewers WHERE id = ?", (unlocked.account.id,)
            ).fetchone()
            if row is None:
                raise AuthenticationFailed("wrong username, password or code")
            step = match_totp(
                unlocked.totp_secret, code, now=now, last_step=int(row["totp_last_step"])
            )
            if step is None:
                raise AuthenticationFailed("wrong username, password or code")
            conn.execute(
                "UPDATE reviewers SET totp_last_step = ? WHERE id = ?", (step, unlocked.account.id)
            )

    def authenticate(
        self, username: str, password: str, code: str, *, now: float | None = None
    ) -> Unlocked:
        """Password and TOTP for an active account; forgiven on success.

        A pending account (not yet enrolled) is returned after the password
        alone, with ``account.active`` false: the caller must send it to
        enrolment and grant nothing else.
        """
        now = self._now(now)
        unlocked = self.unlock(username, password, now=now)
        if unlocked.account.active:
            self.check_code(unlocked, code, now=now)
        self.forgive(username)
        self._upgrade(unlocked, password)
        return unlocked

    def complete_enrolment(
        self, unlocked: Unlocked, new_password: str, code: str, *, now: float | None = None
    ) -> Account:
        """Activate a pending account: one valid TOTP code and a new password.

        The identity and TOTP secret are re-sealed under the new password,
        which must pass :func:`check_new_password` and must not be the
        one-time password (checked against the stored verifier, before the
        code is used up). Raises ``WeakPassword``, ``InvalidInput`` (malformed
        code), ``AuthenticationFailed`` (wrong or replayed code) or
        :class:`AccountLocked` (throttled like a login).
        """
        username = unlocked.account.username
        check_new_password(new_password, user_inputs=self._known_words(username))
        _check_code(code)
        now = self._now(now)
        self._count_attempt(username, now)  # codes are throttled here too
        if self._is_current_password(username, new_password):
            raise WeakPassword(ONE_TIME_REUSED, code="password_one_time_reused")
        self.check_code(unlocked, code, now=now)
        self.forgive(username)
        self._store_password(unlocked, new_password, activate=True)
        return self.get(unlocked.account.id)

    def change_password(
        self,
        reviewer_id: int,
        old_password: str,
        new_password: str,
        *,
        now: float | None = None,
    ) -> None:
        """Re-seal the reviewer's identity and TOTP secret under ``new_password``.

        Requires the old password (it is the only way to open the identity);
        throttled like a login. The new one must differ from the old one and
        pass :func:`check_new_password`; both are checked before the old
        password is, so a refusal says nothing about it. Grants are
        untouched: they are encrypted to the identity, which does not change.
        """
        account = self.get(reviewer_id)
        if hmac.compare_digest(new_password.encode("utf-8", "surrogatepass"),
                               old_password.encode("utf-8", "surrogatepass")):
            raise WeakPassword(SAME_AS_CURRENT, code="password_same_as_current")
        check_new_password(new_password, user_inputs=self._known_words(account.username))
        unlocked = self.unlock(account.username, old_password, now=now)
        self.forgive(account.username)
        self._store_password(unlocked, new_password)

    def _known_words(self, username: str) -> tuple[str, ...]:
        """What an attacker knows and a new password must not lean on."""
        return (username, ISSUER, *self._instance_words())

    def _is_current_password(self, username: str, password: str) -> bool:
        """True if ``password`` opens ``username``'s account now (one Argon2 derivation)."""
        row = self._row_by_name(username)
        if row is None:
            return False
        params = Argon2Params.decode(str(row["password_params"]))
        keys = self._derive(password, bytes(row["password_salt"]), params)
        return hmac.compare_digest(keys.verifier, bytes(row["verifier"]))

    def _store_password(self, unlocked: Unlocked, password: str, *, activate: bool = False) -> None:
        username = unlocked.account.username
        columns = self._credential_columns(
            username, password, unlocked.identity, unlocked.totp_secret
        )
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE reviewers SET password_params = ?, password_salt = ?, verifier = ?,"
                " sealed_identity = ?, sealed_totp = ?, active = MAX(active, ?) WHERE id = ?",
                (*columns, int(activate), unlocked.account.id),
            )

    # -- throttling ----------------------------------------------------------------

    def _name_hash(self, username: str) -> bytes:
        """What the throttle stores for ``username``: HMAC-SHA256 under the throttle key."""
        name = username.encode("utf-8", "surrogatepass")
        return hmac.new(self._throttle_key, name, "sha256").digest()

    def _count_attempt(self, username: str, now: float) -> None:
        """Count one attempt as a failure, or raise :class:`AccountLocked`.

        Purges the rows that no longer matter first (see the module contract).
        """
        name_hash = self._name_hash(username)
        with self._db.transaction() as conn:
            _purge_throttle(conn, now)
            row = conn.execute(
                "SELECT failures, window_start, locked_until, lockouts FROM login_throttle"
                " WHERE name_hash = ?",
                (name_hash,),
            ).fetchone()
            counted = _counted_failure(None if row is None else tuple(row), now)
            conn.execute(
                "INSERT OR REPLACE INTO login_throttle"
                " (name_hash, failures, window_start, locked_until, lockouts)"
                " VALUES (?, ?, ?, ?, ?)",
                (name_hash, *counted),
            )

    def forgive(self, username: str) -> None:
        """Forget the counted attempts of ``username`` (after a full success)."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM login_throttle WHERE name_hash = ?", (self._name_hash(username),)
            )

    def forget_expired_attempts(self, *, now: float | None = None) -> int:
        """Purge the throttle rows that no longer count; returns how many (for sweeps)."""
        with self._db.transaction() as conn:
            return _purge_throttle(conn, self._now(now))

    # -- grants ----------------------------------------------------------------------

    def grant(self, account: Account, identities: Sequence[KeyIdentity]) -> int:
        """Grant each newsroom identity to ``account`` (an age file to its recipient).

        Identities whose key is unknown or destroyed are skipped; an existing
        grant is replaced. Returns how many grants were written.
        """
        recipient = parse_recipient(account.recipient)
        written = 0
        with self._db.transaction() as conn:
            disabled = conn.execute(
                "SELECT disabled FROM reviewers WHERE id = ?", (account.id,)
            ).fetchone()
            if disabled is None or disabled[0]:
                return 0  # a disabled (or deleted) account gets no grant
            for identity in identities:
                key = conn.execute(
                    "SELECT id FROM newsroom_keys WHERE recipient = ? AND state != 'destroyed'",
                    (str(identity.recipient()),),
                ).fetchone()
                if key is not None:
                    insert_grant(
                        conn,
                        int(key[0]),
                        identity,
                        holder=holder_name(account.id),
                        recipient=recipient,
                    )
                    written += 1
        return written

    def grant_missing(self, identities: Sequence[KeyIdentity]) -> int:
        """Grant ``identities`` to every account that lacks one of them.

        Called when an admin logs in, so that a reviewer added from the
        command line (where no newsroom identity is available) receives its
        grants. Returns how many grants were written.
        """
        written = 0
        for account in self.list():
            with self._db.reading() as conn:
                held = {
                    str(row[0])
                    for row in conn.execute(
                        "SELECT k.recipient FROM grants g JOIN newsroom_keys k ON k.id = g.key_id"
                        " WHERE g.holder = ?",
                        (holder_name(account.id),),
                    )
                }
            missing = [i for i in identities if str(i.recipient()) not in held]
            if missing:
                written += self.grant(account, missing)
        return written

    # -- queries ---------------------------------------------------------------------

    def _row_by_name(self, username: str) -> sqlite3.Row | None:
        with self._db.reading() as conn:
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM reviewers WHERE username = ?", (username,)
            ).fetchone()
            return row

    def get(self, reviewer_id: int) -> Account:
        """The account with this id; raises ``NotFound``."""
        with self._db.reading() as conn:
            row = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM reviewers WHERE id = ?",  # noqa: S608
                (reviewer_id,),
            ).fetchone()
        if row is None:
            raise NotFound("no such reviewer")
        return _account(row)

    def by_username(self, username: str) -> Account:
        """The account with this username; raises ``NotFound``."""
        row = self._row_by_name(username)
        if row is None:
            raise NotFound("no such reviewer")
        return _account(row)

    def list(self) -> list[Account]:
        """Every account, in creation order."""
        with self._db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM reviewers ORDER BY id"  # noqa: S608
            ).fetchall()
        return [_account(row) for row in rows]

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


#: One name's throttle state: failures, window start, locked until, lockouts.
_Attempts = tuple[int, float, float, int]


def _counted_failure(stored: tuple[Any, ...] | None, now: float) -> _Attempts:
    """The state after one more failure at ``now``; raises :class:`AccountLocked`.

    ``MAX_FAILURES`` within ``FAILURE_WINDOW_SECONDS`` lock the name for a
    delay that doubles with each lockout, up to ``MAX_LOCK_SECONDS``; the
    lockouts are forgotten ``MAX_LOCK_SECONDS`` after the last lock ended.
    """
    failures, start, locked_until, lockouts = (
        (0, now, 0.0, 0) if stored is None
        else (int(stored[0]), float(stored[1]), float(stored[2]), int(stored[3]))
    )
    if locked_until > now:
        raise AccountLocked(locked_until - now)
    if now - locked_until > MAX_LOCK_SECONDS:
        lockouts = 0
    if now - start > FAILURE_WINDOW_SECONDS:
        failures, start = 0, now
    failures += 1
    if failures >= MAX_FAILURES:
        lockouts += 1
        delay = min(FIRST_LOCK_SECONDS * 2 ** (lockouts - 1), MAX_LOCK_SECONDS)
        failures, start, locked_until = 0, now, now + delay
    return failures, start, locked_until, lockouts


def _purge_throttle(conn: sqlite3.Connection, now: float) -> int:
    """Delete the rows whose window and lock are over; returns how many.

    A row of a name never locked out goes as soon as its window is over;
    one that was locked out stays ``MAX_LOCK_SECONDS`` after its lock ended,
    for the doubling. Only rows that :func:`_counted_failure` would treat as
    absent go: the next attempt counts exactly as if the row were there.
    """
    cursor = conn.execute(
        "DELETE FROM login_throttle WHERE window_start + ? < ? AND locked_until <= ?"
        " AND (lockouts = 0 OR locked_until + ? < ?)",
        (FAILURE_WINDOW_SECONDS, now, now, MAX_LOCK_SECONDS, now),
    )
    return cursor.rowcount


def create_first_admin(
    reviewers: Reviewers, keyring: Keyring, recovery_identity: str, *, username: str = "admin"
) -> Enrolment:
    """Create the first admin at ``init`` and grant it every newsroom identity.

    The newsroom identities are opened with the recovery identity (which
    ``init`` has just generated and shows once); the admin gets a one-time
    password and a TOTP secret to enrol with, returned to be printed once.
    """
    try:
        recovery = parse_identity(recovery_identity.strip())
    except KeyFormatError:
        raise InvalidInput("that is not an age identity") from None
    newsroom = keyring.open_identities(recovery)
    if not newsroom:
        raise InvalidInput("the recovery identity opens no newsroom key")
    account, enrolment = reviewers.create(username, is_admin=True)
    reviewers.grant(account, newsroom)
    return enrolment


def qr_terminal(uri: str) -> str:
    """The QR code of ``uri`` as text for a terminal (no image, no third party)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(uri, error="m").terminal(out=out, compact=True)
    return out.getvalue()
