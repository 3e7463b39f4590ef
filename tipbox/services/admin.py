"""The admin services of one instance, built once (issue 5).

:class:`AdminServices` bundles key rotation, recovery, retention, instance
settings, account administration and the audit log over an open
:class:`~tipbox.services.instance.Instance`. The web app and the command
line build it with :meth:`AdminServices.open`; nothing here imports Flask.

Each service records its own audit rows through the one :class:`Audit`
built here (the instance settings through the audit log of the same
database); callers pass only who acts (``by=``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.services.accounts.reviewer_admin import ReviewerAdmin
from tipbox.services.accounts.reviewers import Reviewers
from tipbox.services.audit import Audit
from tipbox.services.custody.key_files import KeyFiles
from tipbox.services.custody.recovery import Recovery
from tipbox.services.custody.rotation import Rotation
from tipbox.services.instance import Instance
from tipbox.services.instance_settings import SettingsStore
from tipbox.services.ops.retention import Retention

__all__ = ["AdminServices"]


@dataclass(frozen=True)
class AdminServices:
    """Everything the admin pages and commands call."""

    instance: Instance
    rotation: Rotation
    recovery: Recovery
    retention: Retention
    settings: SettingsStore
    accounts: ReviewerAdmin
    audit: Audit
    key_files: KeyFiles

    @classmethod
    def open(
        cls, instance: Instance, reviewers: Reviewers, *, clock: Callable[[], float] = time.time
    ) -> AdminServices:
        """Build the admin services over ``instance`` (``reviewers``: the account service)."""
        db = instance.store.db
        key_files = KeyFiles(instance.settings.keys_dir)
        audit = Audit(db, clock=clock)
        accounts = ReviewerAdmin(db, reviewers, audit=audit)
        return cls(
            instance=instance,
            rotation=Rotation(
                instance.store, instance.keyring, key_files, audit=audit, now=clock
            ),
            recovery=Recovery(db, instance.keyring, key_files, accounts, audit=audit),
            retention=Retention(instance.store, audit=audit),
            settings=instance.instance_settings,
            accounts=accounts,
            audit=audit,
            key_files=key_files,
        )
