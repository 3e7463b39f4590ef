"""Reviewer accounts: creation, login, enrolment, password change and grants.

Security contract (DESIGN 5, issue 4). The parts live beside this module:
the input rules in :mod:`.rules`, the second factor in :mod:`.totp`, the
login throttle in :mod:`.throttle`, and what a password unlocks in
:mod:`tipbox.services.custody.unlock`. Here:

- **Accounts.** Each reviewer owns a :class:`~tipbox.crypto.HybridIdentity`
  and a TOTP secret, stored only sealed under the key its password yields.
  A new account is pending: its password is one-time, and it becomes
  active only through :meth:`Reviewers.complete_enrolment` (a valid code
  and a new password). Newsroom keys reach an account only as grants,
  encrypted to its identity; a disabled account gets none.
- **Argon2 upgrade.** Parameters and salt are stored per account and
  upgraded after a fully successful login when the instance's defaults grow.
- **Throttling.** Every attempt (login, enrolment code, password change)
  goes through the login throttle before the derivation. Unknown usernames
  are throttled exactly like real ones and run a dummy derivation, so
  responses and timings do not reveal which names exist.
- **No password oracle.** Whatever is wrong with a login (password, code,
  malformed code, unknown or disabled account), :meth:`Reviewers.authenticate`
  raises the same ``AuthenticationFailed``, whether the password was right
  or not; nothing that only a right password reaches (opening the secrets,
  upgrading the Argon2 parameters) can fail differently.
- **Argon2 cap.** At most ``argon2_slots`` derivations run at once in a
  process; a login that cannot get a slot in time fails with :class:`Busy`
  (HTTP 503) instead of queueing memory.
- **TOTP replay.** The last accepted step is stored; a code for that step
  or an earlier one is refused, so no code is ever accepted twice.
"""

from __future__ import annotations

import hmac
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tipbox import errors
from tipbox.crypto import HybridIdentity, KeyFormatError, parse_identity, parse_recipient
from tipbox.errors import AuthenticationFailed, InvalidInput, NotFound
from tipbox.passwords import Argon2Params, PasswordKeys, password_keys
from tipbox.services.accounts.rules import (
    MAX_PASSWORD_CHARS,
    ONE_TIME_REUSED,
    SAME_AS_CURRENT,
    WeakPassword,
    check_new_password,
    check_password,
    check_username,
    suggest_password,
)
from tipbox.services.accounts.throttle import LoginThrottle
from tipbox.services.accounts.totp import (
    ISSUER,
    Enrolment,
    check_code,
    match_totp,
    new_totp_secret,
)
from tipbox.services.custody.keyring import KeyIdentity, Keyring, insert_grant
from tipbox.services.custody.unlock import (
    WRONG_FACTOR,
    Factor,
    OpenedIdentity,
    PasswordFactor,
    SealedIdentity,
    StoredPassword,
    new_stored_password,
    open_identity,
    seal_identity,
)
from tipbox.store.db import Database, hour
from tipbox.store.desks import add_member, is_member, only_desk
from tipbox.store.keys import held_key_recipients, live_key
from tipbox.store.reviewers import (
    Credentials,
    account_row,
    account_rows,
    insert_reviewer,
    is_enabled,
    reviewer_by_name,
    set_credentials,
    set_totp_last_step,
    totp_last_step,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "Account",
    "Busy",
    "Reviewers",
    "Unlocked",
    "create_first_admin",
    "holder_name",
]

_DUMMY_SALT = b"tipbox dummy salt"

Clock = Callable[[], float]


class Busy(errors.Busy):
    """Too many password derivations are running; try again shortly.

    Shown as the "busy" page (HTTP 503) like every :class:`tipbox.errors.Busy`.
    """


@dataclass(frozen=True, slots=True)
class Account:
    """A reviewer account as the rest of the app sees it (nothing secret)."""

    id: int
    username: str
    is_admin: bool
    active: bool
    recipient: str


@dataclass(frozen=True, slots=True, repr=False)
class Unlocked:
    """An account whose password was right: its identity and TOTP secret, opened."""

    account: Account
    identity: HybridIdentity
    totp_secret: bytes

    def __repr__(self) -> str:
        return f"Unlocked({self.account.username!r}, <secret>)"


def holder_name(reviewer_id: int) -> str:
    """The keyring holder name of a reviewer's grants."""
    return f"reviewer:{reviewer_id}"


def _grows(old: Argon2Params, new: Argon2Params) -> bool:
    """True when ``new`` costs at least ``old`` in every dimension and differs."""
    return new != old and (
        new.time_cost >= old.time_cost
        and new.memory_kib >= old.memory_kib
        and new.parallelism >= old.parallelism
    )


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=int(row["id"]),
        username=str(row["username"]),
        is_admin=bool(row["is_admin"]),
        active=bool(row["active"]),
        recipient=str(row["recipient"]),
    )


def _stored_password(row: sqlite3.Row) -> StoredPassword:
    return StoredPassword(
        params=Argon2Params.decode(str(row["password_params"])),
        salt=bytes(row["password_salt"]),
        verifier=bytes(row["verifier"]),
    )


class Reviewers:
    """Reviewer accounts in the instance database (see the module contract).

    ``params`` are the instance's current Argon2 defaults for passwords.
    ``throttle_key`` (32 bytes, :func:`~.throttle.throttle_key`) keys the
    hashes of the names the login throttle counts
    (:func:`tipbox.services.wiring.reviewers_of` derives it). ``clock`` gives
    the current Unix time when a method is not passed ``now``.
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
        self._throttle = LoginThrottle(db, throttle_key)
        self._slots = threading.BoundedSemaphore(argon2_slots)
        self._slot_timeout = slot_timeout
        self._clock = clock
        self._instance_words = instance_words

    # -- derivation --------------------------------------------------------------

    @contextmanager
    def _argon2_slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._slot_timeout):
            raise Busy("too many logins at once; try again in a moment")
        try:
            yield
        finally:
            self._slots.release()

    def derive(self, password: str, salt: bytes, params: Argon2Params) -> PasswordKeys:
        """One Argon2id derivation, holding one of this process's password slots (``Busy``
        when none frees in time): every password check of every login kind takes one."""
        with self._argon2_slot():
            return password_keys(password, salt=salt, params=params)

    def _password(self, row: sqlite3.Row, password: str) -> PasswordFactor:
        return PasswordFactor(password, _stored_password(row), derive=self.derive)

    # -- creation -----------------------------------------------------------------

    def create(
        self,
        username: str,
        *,
        is_admin: bool = False,
        disabled: bool = False,
        password: str | None = None,
        now: float | None = None,
        desks: Sequence[int] | None = None,
    ) -> tuple[Account, Enrolment]:
        """Create a pending account with a fresh identity and TOTP secret.

        The account joins ``desks``; ``None`` means the only desk when the
        instance has one (as every account did before desks), else none.

        The password (default: a generated passphrase) is one-time: the
        account becomes active only through :meth:`complete_enrolment`,
        which requires a valid TOTP code and a new password. A ``disabled``
        account (an admin's reset of a disabled one) cannot log in, hence
        not enrol, until an admin enables it. Raises ``InvalidInput`` for a
        bad or taken username.
        """
        check_username(username)
        password = check_password(password if password is not None else suggest_password())
        opened = OpenedIdentity(HybridIdentity.generate(), new_totp_secret())
        recipient = str(opened.identity.recipient())
        credentials = self._credentials(username, password, opened)
        try:
            with self._db.transaction() as conn:
                reviewer_id = insert_reviewer(
                    conn, username, is_admin=is_admin, disabled=disabled, recipient=recipient,
                    credentials=credentials, created_hour=hour(self._now(now)),
                )
                for desk_id in only_desk(conn) if desks is None else desks:
                    add_member(conn, desk_id, reviewer_id)
        except sqlite3.IntegrityError:
            raise InvalidInput("that username is taken", code="username_taken") from None
        account = Account(reviewer_id, username, is_admin, False, recipient)
        return account, Enrolment(username, password, opened.totp_secret)

    def _credentials(self, username: str, password: str, opened: OpenedIdentity) -> Credentials:
        """What to store for ``password``: new salt and verifier, secrets sealed under its KEK."""
        stored, kek = new_stored_password(password, self._params, derive=self.derive)
        sealed = seal_identity(kek, opened, username=username)
        return Credentials(
            stored.params.encode(), stored.salt, stored.verifier,
            sealed.identity, sealed.totp_secret,
        )

    # -- authentication -----------------------------------------------------------

    def unlock(self, username: str, password: str, *, now: float | None = None) -> Unlocked:
        """Check ``password`` and open the account's identity and TOTP secret.

        Counts as a failed attempt unless :meth:`forgive` is called (after
        the second factor). Raises :class:`~.throttle.AccountLocked` while
        the username is locked, ``AuthenticationFailed`` for an unknown name,
        a disabled account (issue 5) or a wrong password (same message, same
        work). Changes nothing stored but the throttle: the Argon2 upgrade
        waits for the second factor (:meth:`authenticate`).
        """
        now = self._now(now)
        self._throttle.count(username, now)
        row = self._row_by_name(username)
        if row is None or row["disabled"] or len(password) > MAX_PASSWORD_CHARS:
            self.derive(password[:MAX_PASSWORD_CHARS], _DUMMY_SALT, self._params)
            raise AuthenticationFailed(WRONG_FACTOR)
        return self._open(row, self._password(row, password))

    def _open(self, row: sqlite3.Row, factor: Factor) -> Unlocked:
        """The account of ``row``, its secrets opened with the KEK ``factor`` yields."""
        sealed = SealedIdentity(bytes(row["sealed_identity"]), bytes(row["sealed_totp"]))
        opened = open_identity(factor.kek(), sealed, username=str(row["username"]))
        return Unlocked(_account(row), opened.identity, opened.totp_secret)

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

    def check_code(self, unlocked: Unlocked, code: str, *, now: float | None = None) -> None:
        """Accept ``code`` once for this account, or raise ``AuthenticationFailed``.

        The step is recorded atomically, so two concurrent requests with the
        same code cannot both succeed.
        """
        now = self._now(now)
        try:
            code = check_code(code)
        except InvalidInput:
            raise AuthenticationFailed(WRONG_FACTOR) from None
        with self._db.transaction() as conn:
            last_step = totp_last_step(conn, unlocked.account.id)
            if last_step is None:
                raise AuthenticationFailed(WRONG_FACTOR)
            step = match_totp(unlocked.totp_secret, code, now=now, last_step=last_step)
            if step is None:
                raise AuthenticationFailed(WRONG_FACTOR)
            set_totp_last_step(conn, unlocked.account.id, step)

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
        which must pass :func:`~.rules.check_new_password` and must not be
        the one-time password (checked against the stored verifier, before
        the code is used up). Raises ``WeakPassword``, ``InvalidInput``
        (malformed code), ``AuthenticationFailed`` (wrong or replayed code)
        or :class:`~.throttle.AccountLocked` (throttled like a login).
        """
        username = unlocked.account.username
        check_new_password(new_password, user_inputs=self._known_words(username))
        check_code(code)
        now = self._now(now)
        self._throttle.count(username, now)  # codes are throttled here too
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
        pass :func:`~.rules.check_new_password`; both are checked before the
        old password is, so a refusal says nothing about it. Grants are
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
        return row is not None and self._password(row, password).matches()

    def _store_password(self, unlocked: Unlocked, password: str, *, activate: bool = False) -> None:
        opened = OpenedIdentity(unlocked.identity, unlocked.totp_secret)
        credentials = self._credentials(unlocked.account.username, password, opened)
        with self._db.transaction() as conn:
            set_credentials(conn, unlocked.account.id, credentials, activate=activate)

    # -- throttling ----------------------------------------------------------------

    def forgive(self, username: str) -> None:
        """Forget the counted attempts of ``username`` (after a full success)."""
        self._throttle.forgive(username)

    def forget_expired_attempts(self, *, now: float | None = None) -> int:
        """Purge the throttle rows that no longer count; returns how many (for sweeps)."""
        return self._throttle.forget_expired(self._now(now))

    # -- grants ----------------------------------------------------------------------

    def grant(self, account: Account, identities: Sequence[KeyIdentity]) -> int:
        """Grant each newsroom identity to ``account`` (an age file to its recipient).

        Identities whose key is unknown or destroyed, or belongs to a desk the
        account is not a member of, are skipped: a key reaches only its desk's
        members. An existing grant is replaced. Returns how many grants were
        written.
        """
        recipient = parse_recipient(account.recipient)
        written = 0
        with self._db.transaction() as conn:
            if not is_enabled(conn, account.id):
                return 0  # a disabled (or deleted) account gets no grant
            for identity in identities:
                found = live_key(conn, str(identity.recipient()))
                if found is not None and is_member(conn, found[1], account.id):
                    insert_grant(
                        conn, found[0], identity, holder=holder_name(account.id),
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
                held = held_key_recipients(conn, holder_name(account.id))
            missing = [i for i in identities if str(i.recipient()) not in held]
            if missing:
                written += self.grant(account, missing)
        return written

    # -- queries ---------------------------------------------------------------------

    def _row_by_name(self, username: str) -> sqlite3.Row | None:
        with self._db.reading() as conn:
            return reviewer_by_name(conn, username)

    def get(self, reviewer_id: int) -> Account:
        """The account with this id; raises ``NotFound``."""
        with self._db.reading() as conn:
            row = account_row(conn, reviewer_id)
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
            rows = account_rows(conn)
        return [_account(row) for row in rows]

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


def create_first_admin(
    reviewers: Reviewers, keyring: Keyring, recovery_identity: str, *, username: str = "admin"
) -> Enrolment:
    """Create the first admin at ``init``, a member of every desk, holding every key.

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
    account, enrolment = reviewers.create(username, is_admin=True, desks=keyring.desk_ids())
    reviewers.grant(account, newsroom)
    return enrolment
