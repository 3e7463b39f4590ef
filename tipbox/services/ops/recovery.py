"""Break-glass recovery with the offline recovery identity (DESIGN 5).

Security contract:

- :meth:`Recovery.recover_admin` needs only the recovery identity (which opens the
  recovery grant of every newsroom key that is not destroyed). It gives a
  chosen account, new or existing, a fresh reviewer key, a one-time
  password and a TOTP secret (returned once, for printing), makes it an
  admin and grants it every newsroom identity. It is the way back when
  every admin password is lost. An existing account under that name is
  reset (its old key and grants are gone); a disabled one is refused, since
  a reset never enables an account (enable it first, or choose a new name).
- :meth:`Recovery.rotate` replaces the recovery identity: a new one is
  generated and returned once (never stored), every newsroom key that is
  not destroyed is granted to it, the grants of the old recovery recipient
  are deleted (secure_delete, WAL truncated) and the public recovery
  recipient and recovery-wrapped key files are rewritten. It refuses
  unless the old identity opens every such key, so no key is left without
  a recovery grant. Copies of the old recovery identity open only what was
  already in backups made before the rotation.
- Both are audited ("recover admin", "rotate recovery") once they succeeded;
  ``by`` is the acting admin's username, ``None`` for the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from tipbox.crypto import HybridIdentity, X25519Identity
from tipbox.errors import InvalidInput
from tipbox.services.accounts.reviewer_admin import ReviewerAdmin
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.audit import Audit
from tipbox.services.custody.key_files import KeyFiles
from tipbox.services.custody.keyring import (
    RECOVERY,
    RECOVERY_RECIPIENT,
    KeyIdentity,
    Keyring,
    insert_grant,
)
from tipbox.store.db import Database, write_meta
from tipbox.store.keys import delete_grants_of

__all__ = ["NewRecovery", "Recovery", "open_all_keys"]


@dataclass(frozen=True, slots=True, repr=False)
class NewRecovery:
    """A rotated recovery identity: print :attr:`identity` once, then forget it."""

    identity: str
    recipient: str
    keys: int

    def __repr__(self) -> str:
        return f"NewRecovery(recipient={self.recipient!r}, keys={self.keys})"


def open_all_keys(keyring: Keyring, recovery: KeyIdentity) -> list[tuple[int, KeyIdentity]]:
    """(key id, identity) of every key that is not destroyed, opened with ``recovery``.

    Raises ``InvalidInput`` if ``recovery`` is not the recovery identity or
    some key has no grant it opens.
    """
    if str(recovery.recipient()) != str(keyring.recovery_recipient()):
        raise InvalidInput("that is not this instance's recovery identity")
    opened = {str(identity.recipient()): identity for identity in keyring.open_identities(recovery)}
    result = []
    known = keyring.keys()
    for key in known:
        if key.state == "destroyed":
            continue
        if key.recipient not in opened:
            raise InvalidInput(f"the recovery identity does not open key {key.fingerprint}")
        result.append((key.id, opened[key.recipient]))
    return result


class Recovery:
    """Break-glass recovery and recovery rotation (see the module contract)."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        key_files: KeyFiles,
        accounts: ReviewerAdmin,
        *,
        audit: Audit,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._files = key_files
        self._accounts = accounts
        self._audit = audit

    def recover_admin(
        self, recovery: KeyIdentity, username: str, *, by: str | None = None
    ) -> Enrolment:
        """Make ``username`` an admin holding every newsroom key (see the module contract)."""
        identities = [identity for _, identity in open_all_keys(self._keyring, recovery)]
        return self._accounts.recover(username, identities, by=by)

    def rotate(self, recovery: KeyIdentity, *, by: str | None = None) -> NewRecovery:
        """Replace the recovery identity (see the module contract)."""
        keys = open_all_keys(self._keyring, recovery)
        new: KeyIdentity = (
            HybridIdentity.generate()
            if isinstance(recovery, HybridIdentity)
            else X25519Identity.generate()
        )
        new_recipient = new.recipient()
        with self._db.transaction() as conn:
            delete_grants_of(conn, RECOVERY, str(recovery.recipient()))
            for key_id, identity in keys:
                insert_grant(conn, key_id, identity, holder=RECOVERY, recipient=new_recipient)
            write_meta(conn, RECOVERY_RECIPIENT, str(new_recipient))
        self._db.checkpoint()
        self._files.write_recovery(new_recipient)
        for _, identity in keys:
            self._files.write_wrapped(identity, new_recipient)
        self._audit.record("rotate recovery", reviewer=by, target=str(new_recipient))
        return NewRecovery(identity=str(new), recipient=str(new_recipient), keys=len(keys))
