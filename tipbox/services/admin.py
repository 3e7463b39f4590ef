"""The admin services of one instance, built once (issue 5).

:class:`AdminServices` bundles key rotation, retention, instance settings,
account administration and the admin audit log over an open
:class:`~tipbox.services.instance.Instance`. The web app and the command
line build it with :meth:`AdminServices.open`; nothing here imports Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.services.accounts.reviewer_admin import ReviewerAdmin
from tipbox.services.accounts.reviewers import Reviewers
from tipbox.services.admin_audit import AdminAudit
from tipbox.services.custody.key_files import KeyFiles
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
    retention: Retention
    settings: SettingsStore
    accounts: ReviewerAdmin
    audit: AdminAudit
    key_files: KeyFiles

    @classmethod
    def open(
        cls, instance: Instance, reviewers: Reviewers, *, clock: Callable[[], float] = time.time
    ) -> AdminServices:
        """Build the admin services over ``instance`` (``reviewers``: the account service)."""
        db = instance.store.db
        key_files = KeyFiles(instance.settings.keys_dir)
        return cls(
            instance=instance,
            rotation=Rotation(instance.store, instance.keyring, key_files, now=clock),
            retention=Retention(instance.store),
            settings=instance.instance_settings,
            accounts=ReviewerAdmin(db, reviewers),
            audit=AdminAudit(db, clock=clock),
            key_files=key_files,
        )
