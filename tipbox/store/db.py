"""The metadata database: connections, transactions and the versioned schema.

SQLite is the embedded default; with a ``postgresql://`` URL the same
schema, migrations and store functions run on PostgreSQL (see
:mod:`tipbox.store.dialect` for what differs and
:mod:`tipbox.store.postgres` for the connection). What follows is SQLite's.

Every connection is opened by :func:`connect` with WAL, ``foreign_keys=ON``,
``secure_delete=ON`` (deleted rows are overwritten with zeros, so deleting a
detached age header shreds its payload, DESIGN 4), in-memory temporary
tables and a busy timeout. The schema version is ``PRAGMA user_version``;
:data:`MIGRATIONS` is the ordered list of forward migrations, the first
one creating schema version 1. Versions only ever grow: a database newer
than this code is refused.

Connections are used from one thread at a time; :class:`Database` hands them
out per unit of work from a small pool, so it is safe to share between the
threads of a worker.

Stored times are Unix seconds rounded down to the hour (:func:`hour`); order
comes from ``AUTOINCREMENT`` ids, never from times.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tipbox.errors import StorageUnavailable
from tipbox.store.dialect import POSTGRESQL, SQLITE, Dialect, PerDialect, dialect_of

if TYPE_CHECKING:
    from tipbox.config import Settings

__all__ = [
    "MIGRATIONS",
    "Database",
    "Migration",
    "PerDialect",
    "connect",
    "database_exists",
    "hour",
    "migrate",
    "open_database",
    "read_meta",
    "schema_version",
    "transaction",
    "write_meta",
]

BUSY_TIMEOUT_MS = 10_000
_POOL_SIZE = 8

Step = str | PerDialect | Callable[[sqlite3.Connection], None]
Migration = tuple[Step, ...]

_V1: Migration = (
    # Instance-wide facts that are not secret: codename KDF parameters,
    # recovery recipient, creation hour. Secrets live in secrets.json.
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE newsroom_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient TEXT NOT NULL UNIQUE,
        fingerprint TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('pq', 'classic')),
        state TEXT NOT NULL CHECK (state IN ('active', 'retired', 'destroyed')),
        created_hour INTEGER NOT NULL
    ) STRICT""",
    "CREATE UNIQUE INDEX newsroom_keys_one_active ON newsroom_keys (state) WHERE state = 'active'",
    # A grant is a newsroom identity as an age file encrypted to one holder:
    # 'recovery' or 'reviewer:<id>'. holder_recipient says who can open it.
    """CREATE TABLE grants (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key_id INTEGER NOT NULL REFERENCES newsroom_keys (id) ON DELETE CASCADE,
        holder TEXT NOT NULL,
        holder_recipient TEXT NOT NULL,
        sealed BLOB NOT NULL,
        UNIQUE (key_id, holder)
    ) STRICT""",
    "CREATE INDEX grants_by_holder ON grants (holder)",
    # lookup_id and reply_recipient are both NULL for a source that left
    # without a codename: it cannot log in and cannot be replied to.
    """CREATE TABLE sources (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        designation TEXT NOT NULL UNIQUE,
        lookup_id BLOB UNIQUE,
        reply_recipient TEXT,
        created_hour INTEGER NOT NULL,
        last_activity_hour INTEGER NOT NULL,
        CHECK ((lookup_id IS NULL) = (reply_recipient IS NULL))
    ) STRICT""",
    "CREATE INDEX sources_by_activity ON sources (last_activity_hour DESC, id DESC)",
    """CREATE TABLE submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        created_hour INTEGER NOT NULL
    ) STRICT""",
    "CREATE INDEX submissions_by_source ON submissions (source_id, id)",
    # Every stored ciphertext: a detached age header here, its payload in
    # the blob file named by `blob`. key_id is the newsroom key the header
    # is wrapped to (NULL only for a reply the newsroom key could not be
    # added to). Replies have no submission.
    """CREATE TABLE items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        submission_id INTEGER REFERENCES submissions (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('message', 'file', 'manifest', 'reply')),
        position INTEGER NOT NULL,
        key_id INTEGER REFERENCES newsroom_keys (id),
        header BLOB NOT NULL,
        blob TEXT NOT NULL UNIQUE,
        created_hour INTEGER NOT NULL,
        CHECK ((kind = 'reply') = (submission_id IS NULL))
    ) STRICT""",
    "CREATE INDEX items_by_source ON items (source_id, id)",
    "CREATE INDEX items_by_submission ON items (submission_id, position)",
    "CREATE INDEX items_by_key ON items (key_id)",
)

_REFUSE_DESTROYED_KEY_SQLITE = """CREATE TRIGGER items_refuse_destroyed_key BEFORE INSERT ON items
    WHEN NEW.key_id IS NOT NULL AND EXISTS
        (SELECT 1 FROM newsroom_keys WHERE id = NEW.key_id AND state = 'destroyed')
    BEGIN
        SELECT RAISE(ABORT, 'the newsroom key of this item was destroyed');
    END"""
_REFUSE_DESTROYED_KEY_POSTGRESQL = (
    "CREATE TRIGGER items_refuse_destroyed_key BEFORE INSERT ON items"
    " FOR EACH ROW EXECUTE FUNCTION items_refuse_destroyed_key()"
)

# Reviewer inbox (issue 4): accounts, login throttle, sessions, audit log,
# and the read/starred flags the inbox sorts and counts by.
_V2_REVIEWERS: Migration = (
    """CREATE TABLE reviewers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE,
        is_admin INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 0,
        recipient TEXT NOT NULL,
        password_params TEXT NOT NULL,
        password_salt BLOB NOT NULL,
        verifier BLOB NOT NULL,
        sealed_identity BLOB NOT NULL,
        sealed_totp BLOB NOT NULL,
        totp_last_step INTEGER NOT NULL,
        created_hour INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE login_throttle (
        username TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start REAL NOT NULL,
        locked_until REAL NOT NULL,
        lockouts INTEGER NOT NULL
    ) STRICT""",
    """CREATE TABLE reviewer_sessions (
        id_hash BLOB PRIMARY KEY,
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('full', 'enrol')),
        created REAL NOT NULL,
        last_seen REAL NOT NULL,
        sealed BLOB NOT NULL
    ) STRICT""",
    "CREATE INDEX reviewer_sessions_by_reviewer ON reviewer_sessions (reviewer_id)",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        hour INTEGER NOT NULL,
        reviewer TEXT,
        action TEXT NOT NULL,
        item_id INTEGER,
        designation TEXT
    ) STRICT""",
    "ALTER TABLE sources ADD COLUMN starred INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX sources_by_star ON sources (starred DESC, last_activity_hour DESC, id DESC)",
    "ALTER TABLE items ADD COLUMN seen INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX items_by_source_seen ON items (source_id, seen, kind)",
)

# Admin (issue 5): disabled accounts (they keep their row, lose their grants
# and cannot log in) and the instance settings admins edit in the web app.
_V3_ADMIN: Migration = (
    "ALTER TABLE reviewers ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE instance_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT""",
    "CREATE INDEX items_by_hour ON items (created_hour)",
    # Who an admin action was about (a username or a key fingerprint).
    "ALTER TABLE audit_log ADD COLUMN target TEXT",
    "CREATE INDEX audit_by_reviewer ON audit_log (reviewer, id)",
    "CREATE INDEX audit_by_action ON audit_log (action, id)",
    # When a key was retired: it may not be destroyed while uploads that
    # started before the rotation may still be encrypting to it.
    "ALTER TABLE newsroom_keys ADD COLUMN retired_hour INTEGER",
    # Backstop: an item is never recorded under a destroyed key (it could
    # never be decrypted); the late writer gets an error instead.
    PerDialect(_REFUSE_DESTROYED_KEY_SQLITE, (
        """CREATE FUNCTION items_refuse_destroyed_key() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.key_id IS NOT NULL AND EXISTS
                (SELECT 1 FROM newsroom_keys WHERE id = NEW.key_id AND state = 'destroyed')
            THEN
                RAISE EXCEPTION 'the newsroom key of this item was destroyed'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$""",
        _REFUSE_DESTROYED_KEY_POSTGRESQL,
    )),
)

# Returning sources' sessions (issue 11), revocable on the server. A row is
# SHA-256 of a random session id (the id itself is only in the sealed cookie
# token, so the table cannot be replayed as a cookie) and the hour from which
# the row is surely dead, for purging. Deliberately no source id (a seized
# database does not say who logged in lately) and no exact time: the exact
# deadlines live only inside the sealed token (tipbox/services/source_sessions.py).
_V4_SOURCE_SESSIONS: Migration = (
    """CREATE TABLE source_sessions (
        id_hash BLOB PRIMARY KEY,
        expires_hour INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX source_sessions_by_expiry ON source_sessions (expires_hour)",
)

# The reviewer login throttle (issue 11) is keyed by a keyed hash of the name
# typed, no longer by the name itself: a name that belongs to no account is
# often a password typed into the wrong field. The old rows are transient
# counters of plaintext names, so they are dropped, not converted.
_V5_LOGIN_THROTTLE: Migration = (
    "DROP TABLE login_throttle",
    """CREATE TABLE login_throttle (
        name_hash BLOB PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_start REAL NOT NULL,
        locked_until REAL NOT NULL,
        lockouts INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID""",
)

# The journalists' workspace (issue 13).
# - Items gain the kind 'note' (a reviewer's internal note, encrypted to the
#   newsroom key only), an author (replies and notes; NULL once the account
#   is deleted), the hour a source first saw a reply, and the hour a source
#   deleted its copy of one (the journalists' copy stays). SQLite cannot
#   change a CHECK constraint in place, so the table is rebuilt.
# - Sources gain a triage status and an activity sequence number, which
#   orders activity within an hour without storing an exact time.
# - Labels, and the reviewers a source is assigned to.
_ITEMS_V6 = """CREATE TABLE items_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        submission_id INTEGER REFERENCES submissions (id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('message', 'file', 'manifest', 'reply', 'note')),
        position INTEGER NOT NULL,
        key_id INTEGER REFERENCES newsroom_keys (id),
        header BLOB NOT NULL,
        blob TEXT NOT NULL UNIQUE,
        created_hour INTEGER NOT NULL,
        seen INTEGER NOT NULL DEFAULT 0,
        author_id INTEGER REFERENCES reviewers (id) ON DELETE SET NULL,
        source_seen_hour INTEGER,
        source_deleted_hour INTEGER,
        CHECK ((kind IN ('reply', 'note')) = (submission_id IS NULL)),
        CHECK (source_deleted_hour IS NULL OR kind = 'reply')
    ) STRICT"""
_V6_WORKSPACE: Migration = (
    _ITEMS_V6,
    """INSERT INTO items_v6
        (id, source_id, submission_id, kind, position, key_id, header, blob, created_hour, seen)
        SELECT id, source_id, submission_id, kind, position, key_id, header, blob, created_hour,
        seen FROM items""",
    "DROP TABLE items",
    "ALTER TABLE items_v6 RENAME TO items",
    "CREATE INDEX items_by_source ON items (source_id, id)",
    "CREATE INDEX items_by_submission ON items (submission_id, position)",
    "CREATE INDEX items_by_key ON items (key_id)",
    "CREATE INDEX items_by_source_seen ON items (source_id, seen, kind)",
    "CREATE INDEX items_by_hour ON items (created_hour)",
    "CREATE INDEX items_by_author ON items (author_id)",
    PerDialect(_REFUSE_DESTROYED_KEY_SQLITE, _REFUSE_DESTROYED_KEY_POSTGRESQL),
    "ALTER TABLE sources ADD COLUMN status TEXT NOT NULL DEFAULT 'new'"
    " CHECK (status IN ('new', 'in_progress', 'waiting', 'closed'))",
    "ALTER TABLE sources ADD COLUMN activity_seq INTEGER NOT NULL DEFAULT 0",
    # Existing sources keep their order: by activity hour, then id.
    """UPDATE sources SET activity_seq = (SELECT count(*) FROM sources o
        WHERE (o.last_activity_hour, o.id) <= (sources.last_activity_hour, sources.id))""",
    # The list is ordered by the sequence now; the hour orders would tempt the
    # planner into sorting a page filtered by a date range.
    "DROP INDEX sources_by_activity",
    "DROP INDEX sources_by_star",
    "CREATE INDEX sources_by_seq ON sources (activity_seq DESC, id DESC)",
    "CREATE INDEX sources_by_star_seq ON sources (starred DESC, activity_seq DESC, id DESC)",
    "CREATE INDEX sources_by_status ON sources (status, activity_seq DESC, id DESC)",
    "CREATE INDEX sources_by_status_star ON sources"
    " (status, starred DESC, activity_seq DESC, id DESC)",
    # Label names are unique and sorted without regard to case. PostgreSQL:
    # a case-insensitive ICU collation named like SQLite's, so that queries
    # saying COLLATE NOCASE read the same on both.
    PerDialect(None, "CREATE COLLATION nocase"
               " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"),
    PerDialect(
        """CREATE TABLE labels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
    ) STRICT""",
        """CREATE TABLE labels (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name TEXT COLLATE nocase NOT NULL UNIQUE
    )""",
    ),
    """CREATE TABLE source_labels (
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        label_id INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
        PRIMARY KEY (source_id, label_id)
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX source_labels_by_label ON source_labels (label_id, source_id)",
    """CREATE TABLE assignments (
        source_id INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
        PRIMARY KEY (source_id, reviewer_id)
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX assignments_by_reviewer ON assignments (reviewer_id, source_id)",
)

# Notification preferences per reviewer (issue 13): what to be told (nothing,
# any new source, or new submissions on sources assigned to them), an optional
# address of their own, and the highest source and submission ids already
# considered for them, so that nothing is told twice.
_V7_NOTIFY_PREFERENCES: Migration = (
    "ALTER TABLE reviewers ADD COLUMN notify TEXT NOT NULL DEFAULT 'none'"
    " CHECK (notify IN ('none', 'new_sources', 'assigned'))",
    "ALTER TABLE reviewers ADD COLUMN notify_email TEXT",
    "ALTER TABLE reviewers ADD COLUMN notified_source INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE reviewers ADD COLUMN notified_submission INTEGER NOT NULL DEFAULT 0",
)

# Sending a form once across worker processes (issue 14). A row is the
# SHA-256 of a submission form's token (claimed by the worker that commits
# it), the receipt sealed under a key derived from the token itself (which
# only the source's form holds: the row alone opens nothing), and the hour
# from which the row is surely dead.
_V8_SENT_FORMS: Migration = (
    """CREATE TABLE sent_forms (
        token_hash BLOB PRIMARY KEY,
        sealed BLOB,
        expires_hour INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX sent_forms_by_expiry ON sent_forms (expires_hour)",
)

# Desks (issue 15): one instance, several teams. Each desk has its own
# newsroom keys (granted only to its members and the recovery recipient), its
# members, its questions and its sources. An instance made before becomes one
# desk, "newsroom", holding every key and source, with every account a member.
# SQLite cannot add a REFERENCES column with a default while foreign keys are
# on, so the two desk_id columns start NULL, are filled, and triggers refuse
# NULL from then on.
_V9_DESKS: Migration = (
    # PostgreSQL has no json_valid before version 16 (IS JSON): a function.
    PerDialect(None, """CREATE FUNCTION json_valid(document text) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            PERFORM document::jsonb;
            RETURN true;
        EXCEPTION WHEN invalid_text_representation THEN
            RETURN false;
        END $$"""),
    PerDialect(
        """CREATE TABLE desks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        slug TEXT NOT NULL UNIQUE
            CHECK (length(slug) BETWEEN 1 AND 40 AND slug NOT GLOB '*[^a-z0-9-]*'),
        texts TEXT NOT NULL CHECK (json_valid(texts)),
        open INTEGER NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
        position INTEGER NOT NULL,
        created_hour INTEGER NOT NULL
    ) STRICT""",
        """CREATE TABLE desks (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        slug TEXT COLLATE "C" NOT NULL UNIQUE
            CHECK (length(slug) BETWEEN 1 AND 40 AND slug !~ '[^a-z0-9-]'),
        texts TEXT COLLATE "C" NOT NULL CHECK (json_valid(texts)),
        open BIGINT NOT NULL DEFAULT 1 CHECK (open IN (0, 1)),
        position BIGINT NOT NULL,
        created_hour BIGINT NOT NULL
    )""",
    ),
    """CREATE TABLE desk_members (
        desk_id INTEGER NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
        PRIMARY KEY (desk_id, reviewer_id)
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX desk_members_by_reviewer ON desk_members (reviewer_id, desk_id)",
    # (json_valid: the function above on PostgreSQL.)
    PerDialect(
        """CREATE TABLE desk_questions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        desk_id INTEGER NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('short', 'long', 'choice')),
        texts TEXT NOT NULL CHECK (json_valid(texts)),
        required INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1))
    ) STRICT""",
        """CREATE TABLE desk_questions (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        desk_id BIGINT NOT NULL REFERENCES desks (id) ON DELETE CASCADE,
        position BIGINT NOT NULL,
        kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('short', 'long', 'choice')),
        texts TEXT COLLATE "C" NOT NULL CHECK (json_valid(texts)),
        required BIGINT NOT NULL DEFAULT 0 CHECK (required IN (0, 1))
    )""",
    ),
    "CREATE INDEX desk_questions_by_desk ON desk_questions (desk_id, position, id)",
    PerDialect(
        """INSERT INTO desks (id, slug, texts, open, position, created_hour)
        VALUES (1, 'newsroom', '{"en": {"name": "Newsroom", "description": ""}}', 1, 0,
                unixepoch() - unixepoch() % 3600)""",
        """INSERT INTO desks (id, slug, texts, open, position, created_hour)
        VALUES (1, 'newsroom', '{"en": {"name": "Newsroom", "description": ""}}', 1, 0,
                extract(epoch FROM now())::bigint / 3600 * 3600)""",
    ),
    "ALTER TABLE newsroom_keys ADD COLUMN desk_id INTEGER REFERENCES desks (id)",
    "UPDATE newsroom_keys SET desk_id = 1",
    "ALTER TABLE sources ADD COLUMN desk_id INTEGER REFERENCES desks (id)",
    "UPDATE sources SET desk_id = 1",
    "INSERT INTO desk_members (desk_id, reviewer_id) SELECT 1, id FROM reviewers",
    "DROP INDEX newsroom_keys_one_active",
    "CREATE UNIQUE INDEX newsroom_keys_one_active ON newsroom_keys (desk_id)"
    " WHERE state = 'active'",
    "CREATE INDEX newsroom_keys_by_desk ON newsroom_keys (desk_id, id)",
    "CREATE INDEX sources_by_desk_seq ON sources (desk_id, activity_seq DESC, id DESC)",
    "CREATE INDEX sources_by_desk_star_seq ON sources"
    " (desk_id, starred DESC, activity_seq DESC, id DESC)",
    PerDialect(None, """CREATE FUNCTION need_a_desk() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.desk_id IS NULL THEN
                RAISE EXCEPTION 'every % belongs to a desk', TG_ARGV[0]
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$"""),
    *(
        PerDialect(
            f"""CREATE TRIGGER {table}_need_a_desk_{event} BEFORE {event.upper()}
        ON {table} WHEN NEW.desk_id IS NULL
        BEGIN
            SELECT RAISE(ABORT, 'every {what} belongs to a desk');
        END""",
            f"CREATE TRIGGER {table}_need_a_desk_{event} BEFORE {event.upper()} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION need_a_desk('{what}')",
        )
        for table, what in (("newsroom_keys", "key"), ("sources", "source"))
        for event in ("insert", "update")
    ),
)

# Security keys (issue 17): a reviewer's WebAuthn credentials and the
# challenges of ceremonies under way. A credential is its id, COSE public key,
# last sign count and the RP ID it was made for; where the authenticator has
# the PRF extension, also the salt it is asked to hash and the reviewer's
# identity and TOTP secret sealed under the key derived from that hash (all
# three NULL otherwise). Credentials go with their account, so a reset (a
# delete and re-create) drops them. A challenge is kept as its SHA-256 until it
# is used once or expires; ``binding`` ties it to the session that asked for it.
_V10_SECURITY_KEYS: Migration = (
    """CREATE TABLE webauthn_credentials (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id) ON DELETE CASCADE,
        credential_id BLOB NOT NULL UNIQUE,
        public_key BLOB NOT NULL,
        sign_count INTEGER NOT NULL CHECK (sign_count >= 0),
        transports TEXT NOT NULL,
        name TEXT NOT NULL,
        rp_id TEXT NOT NULL,
        created_hour INTEGER NOT NULL,
        prf_salt BLOB,
        sealed_identity BLOB,
        sealed_totp BLOB,
        CHECK ((prf_salt IS NULL) = (sealed_identity IS NULL)
               AND (sealed_identity IS NULL) = (sealed_totp IS NULL))
    ) STRICT""",
    "CREATE INDEX webauthn_credentials_by_reviewer ON webauthn_credentials (reviewer_id, id)",
    """CREATE TABLE webauthn_challenges (
        challenge_hash BLOB PRIMARY KEY,
        purpose TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
        binding BLOB NOT NULL,
        prf_salt BLOB,
        expires REAL NOT NULL
    ) STRICT, WITHOUT ROWID""",
    "CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires)",
)

# Several hosts (issue 18): the logo moves from a file of the data directory
# (one host's) into the database that every host shares. A one-row table.
_V11_LOGO: Migration = (
    """CREATE TABLE logo (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        png BLOB NOT NULL
    ) STRICT""",
)

#: Forward migrations, in order. Migration ``i`` takes the schema from
#: version ``i`` to ``i + 1``. Append only; never edit a released one.
MIGRATIONS: tuple[Migration, ...] = (
    _V1, _V2_REVIEWERS, _V3_ADMIN, _V4_SOURCE_SESSIONS, _V5_LOGIN_THROTTLE, _V6_WORKSPACE,
    _V7_NOTIFY_PREFERENCES,
    _V8_SENT_FORMS,
    _V9_DESKS,
    _V10_SECURITY_KEYS,
    _V11_LOGO,
)


def hour(now: float | None = None) -> int:
    """Unix time ``now`` (default: the clock) rounded down to the hour."""
    seconds = int(time.time() if now is None else now)
    return seconds - seconds % 3600


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` with tipbox's pragmas; the file is created mode 0600.

    The connection is in autocommit mode: use :func:`transaction` for
    atomic changes. Rows come back as :class:`sqlite3.Row`.
    """
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode = WAL",
            "foreign_keys = ON",
            "secure_delete = ON",
            "temp_store = MEMORY",
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "synchronous = FULL",
        ):
            conn.execute(f"PRAGMA {pragma}")
    except sqlite3.Error as error:
        raise StorageUnavailable(f"cannot open the database: {error}") from None
    return conn


@contextmanager
def transaction(
    conn: sqlite3.Connection, *, immediate: bool = True
) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction: commit on success, roll back on error.

    ``immediate`` takes the write lock at the start, so that a writer never
    fails half-way on a lock upgrade (PostgreSQL: the writers' advisory lock,
    see :mod:`tipbox.store.dialect`). Operational errors (locked, read-only,
    disk I/O, connection lost) surface as
    :class:`~tipbox.errors.StorageUnavailable`.
    """
    try:
        dialect_of(conn).begin(conn, write=immediate)
    except sqlite3.OperationalError as error:
        raise StorageUnavailable(f"database unavailable: {error}") from None
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as error:
        if conn.in_transaction:
            with suppress(sqlite3.OperationalError):  # the connection itself may be gone
                conn.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            raise StorageUnavailable(f"database unavailable: {error}") from error
        raise


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    return dialect_of(conn).schema_version(conn)


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every pending migration in one transaction; return the new version.

    Refuses (``StorageUnavailable``) a database whose version is newer than
    ``migrations`` knows. Safe to run concurrently: the write lock is taken
    before the version is read. Each step runs as its back end renders it
    (:meth:`~tipbox.store.dialect.Dialect.render`).
    """
    dialect = dialect_of(conn)
    with transaction(conn):
        current = dialect.schema_version(conn)
        if current > len(migrations):
            raise StorageUnavailable(
                f"the database has schema version {current}, newer than this tipbox "
                f"({len(migrations)}); upgrade tipbox"
            )
        for version, migration in enumerate(migrations[current:], start=current + 1):
            for step in migration:
                _run_step(conn, dialect, step)
            dialect.set_schema_version(conn, version)
        if current < len(migrations):
            dialect.after_migrations(conn)
        return len(migrations)


def _run_step(conn: sqlite3.Connection, dialect: Dialect, step: Step) -> None:
    if callable(step):
        step(conn)
        return
    for statement in dialect.render(step):
        conn.execute(statement)


class Database:
    """The instance's database: a pool of connections.

    SQLite (the file ``path``, opened by :func:`connect`) unless ``url``
    names a PostgreSQL database (:func:`tipbox.store.postgres.connect`); the
    file's directory is the instance's data directory either way.
    :meth:`transaction` is for writes, :meth:`reading` for consistent reads.
    Each borrows one connection for the block and returns it afterwards.
    """

    def __init__(self, path: Path, *, url: str | None = None) -> None:
        self.path = path
        self.url = url
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def dialect(self) -> Dialect:
        """The back end's :class:`~tipbox.store.dialect.Dialect`."""
        return SQLITE if self.url is None else POSTGRESQL

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection (autocommit) for the duration of the block."""
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._give_back(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on a borrowed connection."""
        with self.connection() as conn, transaction(conn):
            yield conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in the block sees one snapshot."""
        with self.connection() as conn, transaction(conn, immediate=False):
            yield conn

    def migrate(self) -> int:
        """Bring the schema up to date (see :func:`migrate`)."""
        with self.connection() as conn:
            return migrate(conn)

    def exists(self) -> bool:
        """Whether the database holds a schema (SQLite: whether its file exists).

        PostgreSQL: :class:`~tipbox.errors.StorageUnavailable` if it cannot be reached.
        """
        if self.url is None:
            return self.path.exists()
        with self.connection() as conn:
            return schema_version(conn) > 0

    def checkpoint(self, *, passive: bool = False) -> None:
        """Copy the WAL into the database and truncate it to zero bytes.

        Called after deletions so that shredded headers do not linger in the
        WAL file; best effort if readers are active. ``passive`` only copies
        what no reader needs, never waiting (the hourly sweep).

        PostgreSQL: nothing. Its write-ahead log is the server's (recycled at
        its checkpoints) and deleted rows stay in the table's pages until
        vacuumed: docs/architecture.md, section 7, says what that means.
        """
        if self.url is not None:
            return
        with self.connection() as conn:
            conn.execute(f"PRAGMA wal_checkpoint({'PASSIVE' if passive else 'TRUNCATE'})")

    def close(self) -> None:
        """Close the idle connections (borrowed ones close when returned)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for conn in idle:
            conn.close()

    def _borrow(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self.url is None:
            return connect(self.path)
        from tipbox.store import postgres  # psycopg is loaded only when it is used

        return cast(sqlite3.Connection, postgres.connect(self.url))

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if getattr(conn, "broken", False):
            conn.close()
            return
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        with self._lock:
            if not self._closed and len(self._idle) < _POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()


def open_database(settings: Settings) -> Database:
    """The database of the instance ``settings`` configure (not migrated here)."""
    return Database(settings.database_path, url=settings.database_url)


def database_exists(settings: Settings) -> bool:
    """Whether the instance ``settings`` configure has a database (see :meth:`Database.exists`)."""
    database = open_database(settings)
    try:
        return database.exists()
    finally:
        database.close()


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    """The instance fact ``key`` from the ``meta`` table, or ``None``."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set the instance fact ``key`` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
