"""The one place that builds services: an instance, then what each app and command gets.

- :func:`open_instance`: the store, the keyring, the instance settings and
  the services of sources (submissions, returning sources). The source app,
  every command and the reviewer app start here.
- :meth:`ReviewerServices.open`: what the reviewer app adds over it
  (accounts, sessions, logins, inbox) with :class:`AdminServices`.
- :meth:`AdminServices.open`: what the admin pages and commands call.

App factories call these once, at app creation; a command once per run.
Each service records its own audit rows through the :class:`Audit` it is
given here; callers pass only who acts (``by=``). Nothing here imports Flask.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.config import Settings
from tipbox.errors import ConfigError, NotInitialised
from tipbox.passwords import Argon2Params
from tipbox.services.accounts.notifications import NotificationPreferences
from tipbox.services.accounts.reviewer_admin import ReviewerAdmin
from tipbox.services.accounts.reviewers import Reviewers
from tipbox.services.accounts.security_keys import SecurityKeys
from tipbox.services.accounts.sessions import Logins, Sessions
from tipbox.services.accounts.throttle import throttle_key
from tipbox.services.audit import Audit
from tipbox.services.custody.key_files import KeyFiles
from tipbox.services.custody.keyring import Keyring
from tipbox.services.custody.rotation import Rotation
from tipbox.services.desks.desks import Desks
from tipbox.services.desks.moves import SourceMoves
from tipbox.services.desks.questions import Questions
from tipbox.services.inbox.conversations import Inbox
from tipbox.services.inbox.notes import Notes
from tipbox.services.inbox.search import Search
from tipbox.services.inbox.triage import Triage
from tipbox.services.instance import CODENAME_KDF, InstanceSecrets, read_secrets, verify_secrets
from tipbox.services.instance_settings import SettingsStore
from tipbox.services.ops.recovery import Recovery
from tipbox.services.ops.retention import Retention
from tipbox.services.sources.returning import CodenameKdf, Sources
from tipbox.services.submissions.intake import Submissions
from tipbox.services.submissions.sent_forms import SentForms
from tipbox.store import Store
from tipbox.store.db import database_exists, read_meta
from tipbox.store.logo import adopt_logo_file
from tipbox.store.shared_slots import instance_slots

__all__ = ["AdminServices", "Instance", "ReviewerServices", "open_instance", "reviewers_of"]


@dataclass(frozen=True)
class Instance:
    """An open instance: settings, store and the services built on them."""

    settings: Settings
    secrets: InstanceSecrets
    store: Store
    keyring: Keyring
    submissions: Submissions
    sources: Sources
    instance_settings: SettingsStore
    sent_forms: SentForms
    desks: Desks
    questions: Questions

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()


def open_instance(settings: Settings, *, now: Callable[[], float] = time.time) -> Instance:
    """Open an initialised instance; :class:`NotInitialised` otherwise.

    :class:`~tipbox.errors.ConfigError` when ``secrets.json`` is not the one of
    the database's instance (another host's, see
    :func:`~tipbox.services.instance.verify_secrets`).

    Opening migrates the schema, removes blob temporaries left by dead
    writers (see :mod:`tipbox.store`) and applies the limits admins set in
    the database: ``Instance.settings`` is the effective configuration.
    """
    instance_secrets = read_secrets(settings.secrets_path)
    if not database_exists(settings):
        raise NotInitialised(
            f"no initialised instance in {settings.data_dir} (no database);"
            " run `python -m tipbox init`"
        )
    store = Store.open(
        settings.database_path,
        settings.blobs_dir,
        min_free_bytes=settings.min_free_bytes,
        now=now,
        pool_size=settings.blob_pool_size,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        database_url=settings.database_url,
    )
    # Limits and timeouts edited by admins apply at once: the services read
    # them per submission or session check (the environment stays their
    # ceiling; see instance_settings).
    try:
        verify_secrets(store.db, instance_secrets)
    except ConfigError:
        store.close()
        raise
    adopt_logo_file(store.db, settings.data_dir)
    instance_settings = SettingsStore(store.db, settings, audit=Audit(store.db, clock=now))
    settings = instance_settings.effective()
    kdf = CodenameKdf.with_slots_in(
        settings.slots_dir, store.db,
        salt=instance_secrets.instance_salt, params=_codename_params(store),
    )
    keyring = Keyring(store.db)
    audit = Audit(store.db, clock=now)
    return Instance(
        settings=settings,
        secrets=instance_secrets,
        store=store,
        keyring=keyring,
        submissions=Submissions(
            settings=settings, store=store, keyring=keyring, kdf=kdf, now=now,
            live=instance_settings.effective,
        ),
        sources=Sources(
            settings=settings, store=store, keyring=keyring, kdf=kdf, now=now,
            live=instance_settings.effective,
        ),
        instance_settings=instance_settings,
        sent_forms=SentForms(store.db, clock=now),
        desks=Desks(store, keyring, KeyFiles(settings.keys_dir), audit=audit, now=now),
        questions=Questions(store.db, audit=audit),
    )


def _codename_params(store: Store) -> Argon2Params:
    with store.db.connection() as conn:
        encoded = read_meta(conn, CODENAME_KDF)
    if encoded is None:
        raise NotInitialised("the database has no codename parameters; was init interrupted?")
    return Argon2Params.decode(encoded)


def reviewers_of(
    instance: Instance, *, argon2_slots: int = 2, clock: Callable[[], float] = time.time
) -> Reviewers:
    """The accounts of ``instance``, with its Argon2 defaults, throttle key and words."""
    return Reviewers(
        instance.store.db,
        params=instance.settings.password_argon2,
        throttle_key=throttle_key(instance.secrets.flask_secret_key),
        argon2_slots=argon2_slots,
        clock=clock,
        instance_words=lambda: (instance.instance_settings.current().organisation,),
    )


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
    moves: SourceMoves

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
                instance.store, instance.keyring, key_files, audit=audit, now=clock,
                lock=instance_slots(db, instance.settings.slots_dir, "key_maintenance", 1),
            ),
            recovery=Recovery(db, instance.keyring, key_files, accounts, audit=audit),
            retention=Retention(instance.store, audit=audit),
            settings=instance.instance_settings,
            accounts=accounts,
            audit=audit,
            key_files=key_files,
            moves=SourceMoves(instance.store, instance.keyring, audit=audit),
        )


@dataclass(frozen=True)
class ReviewerServices:
    """Everything the reviewer app needs, built once per process from an instance.

    ``admin`` (rotation, retention, settings, accounts, admin audit) runs on
    the real clock, as the admin pages always have; ``clock`` moves the rest.
    """

    instance: Instance
    reviewers: Reviewers
    sessions: Sessions
    logins: Logins
    inbox: Inbox
    triage: Triage
    notes: Notes
    search: Search
    audit: Audit
    admin: AdminServices
    notifications: NotificationPreferences
    security_keys: SecurityKeys

    @classmethod
    def open(
        cls, instance: Instance, *, argon2_slots: int = 2, clock: Callable[[], float] = time.time
    ) -> ReviewerServices:
        """Build the services over ``instance`` with its settings (``clock``: for tests)."""
        settings = instance.settings
        db = instance.store.db
        audit = Audit(db, clock=clock)
        reviewers = reviewers_of(instance, argon2_slots=argon2_slots, clock=clock)
        sessions = Sessions(
            db,
            idle_seconds=settings.session_idle_seconds,
            absolute_seconds=settings.session_absolute_seconds,
            clock=clock,
            live=instance.instance_settings.effective,
        )
        return cls(
            instance=instance,
            reviewers=reviewers,
            sessions=sessions,
            logins=Logins(reviewers, sessions, instance.keyring, audit),
            inbox=Inbox(instance.store, instance.sources, audit,
                        crypto_threads=settings.crypto_threads),
            triage=Triage(db, audit),
            search=Search(instance.store),
            notes=Notes(
                instance.store, instance.keyring, audit,
                live=instance.instance_settings.effective, now=clock,
            ),
            audit=audit,
            admin=AdminServices.open(instance, reviewers),
            notifications=NotificationPreferences(db, audit),
            security_keys=SecurityKeys(
                db, params=settings.password_argon2, reviewers=reviewers, sessions=sessions,
                keyring=instance.keyring, audit=audit, settings=instance.instance_settings,
                instance_secret=instance.secrets.flask_secret_key, clock=clock,
            ),
        )
