"""Anonymous submissions: encrypted as they stream in, visible only once committed.

A :class:`SubmissionDraft` collects one submission (an optional message and
up to ``max_files`` files). Every byte goes straight into an age
:class:`~tipbox.crypto.Encryptor` to the active newsroom key, over a
:class:`~tipbox.store.BlobWriter`; the detached header is kept in memory
until commit. File names, content types, sizes and SHA-256 digests go into
a small encrypted **manifest** item, never in clear.

Security contract:

- No plaintext is written anywhere: not to disk, not to the database, not
  to logs or exception messages.
- Until :meth:`SubmissionDraft.commit` returns, nothing is visible: blobs are
  temporaries, and the database rows are written in one transaction after
  every blob has been fsynced and renamed. A crash before that leaves only
  temporaries (removed at start) or unreferenced blobs (removed at start
  after a grace period); never a half submission.
- Any error inside the draft (limits, disk full, bad input) aborts the whole
  draft, so nothing of it remains; :meth:`SubmissionDraft.abort` is
  idempotent and safe to call again.
- Metadata stored in clear: the source row (designation, lookup id and reply
  recipient if it has a codename), the hour, sequence numbers, item kinds
  and positions. No address, user agent, exact time, name or size.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, cast

from tipbox import codenames
from tipbox.codenames import Codename
from tipbox.config import Settings
from tipbox.crypto import Encryptor
from tipbox.errors import (
    InvalidInput,
    NotFound,
    StorageFull,
    StorageUnavailable,
    TipboxError,
    TooLarge,
)
from tipbox.services.custody.keyring import Keyring, NewsroomKey, identity_from_seed
from tipbox.services.desks.questions import Answer
from tipbox.services.sealing import Sealed, seal_bytes
from tipbox.services.submissions.file_names import filter_file_name
from tipbox.services.submissions.offload import Offload
from tipbox.store import Store, hour
from tipbox.store.desks import desk_rows, source_desk_id
from tipbox.store.items import (
    ItemKind,
    NewItem,
    insert_item,
    insert_source,
    insert_submission,
    touch_source,
)

if TYPE_CHECKING:
    from tipbox.services.sources.returning import CodenameKdf, SourceLogin

__all__ = [
    "MANIFEST_VERSION",
    "FileUpload",
    "Receipt",
    "SubmissionDraft",
    "Submissions",
]

MANIFEST_VERSION = 1
MAX_CONTENT_TYPE_CHARS = 255
_DESIGNATION_ATTEMPTS = 20
_DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True, repr=False)
class Receipt:
    """What a source learns after committing: its codename (once), designation and what came.

    ``files`` are the (filtered) names and sizes of the files, in the order
    they arrived; ``has_message`` says whether a message came with them.
    """

    codename: str | None
    designation: str
    files: tuple[tuple[str, int], ...] = ()
    has_message: bool = False

    def __repr__(self) -> str:
        return f"Receipt(codename={'<secret>' if self.codename else None}, ...)"


def _content_type(value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_CONTENT_TYPE_CHARS or not value.isprintable():
        return _DEFAULT_TYPE
    return value if value.isascii() else _DEFAULT_TYPE


class FileUpload:
    """The writable for one uploaded file (``write`` then ``close``).

    The caller's thread only counts bytes against the limits; hashing and
    encryption (with the blob writes) each run on their own worker thread
    (:class:`~tipbox.services.submissions.offload.Offload`), so a request thread can
    read the network while the previous chunk is being sealed.
    """

    def __init__(self, draft: SubmissionDraft, part: Sealed, encryptor: Encryptor) -> None:
        self._draft = draft
        self._part = part
        self._encryptor = encryptor
        self._digest = hashlib.sha256()
        self._hashing = Offload(self._digest.update)
        self._sealing = Offload(encryptor.write)
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt ``data``; raises :class:`TooLarge` past the upload limit."""
        if self.closed:
            raise ValueError("write to a closed upload")
        self._draft.ensure_open()
        with self._draft.aborting_on_error():
            chunk = bytes(data)
            self._draft.count_bytes(len(chunk))
            self._hashing.submit(chunk)
            self._sealing.submit(chunk)
            return len(chunk)

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Finish the file; its manifest entry is complete from now on."""
        if self.closed:
            return
        with self._draft.aborting_on_error():
            self._hashing.finish()
            self._sealing.finish()
            self._encryptor.close_padded()  # stored at its PADMÉ size
            self.closed = True
            entry = cast(dict[str, object], self._part.entry)
            entry["size"] = self._encryptor.plaintext_size
            entry["sha256"] = self._digest.hexdigest()

    def cancel(self) -> None:
        """Stop the worker threads without finishing the file (the draft is aborting)."""
        self._hashing.cancel()
        self._sealing.cancel()
        self._encryptor.abandon()


@dataclass
class _NewSource:
    """A source row to insert at commit; ``codename`` is shown once, never stored."""

    codename: Codename | None
    lookup_id: bytes | None
    reply_recipient: str | None


@dataclass
class _Context:
    """What a draft needs from its instance."""

    settings: Settings
    store: Store
    key: NewsroomKey
    kdf: CodenameKdf
    now: Callable[[], float]
    rand: codenames.Rand


@dataclass
class _Uploads:
    """The files of a draft and the byte count across message and files."""

    parts: list[Sealed] = field(default_factory=list)
    files: list[FileUpload] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    total_bytes: int = 0
    has_message: bool = False


class SubmissionDraft:
    """One submission being received. Use from one thread; see the module contract."""

    def __init__(self, context: _Context, login: SourceLogin | None) -> None:
        self._ctx = context
        self._login = login
        self._recipients = [context.key.parsed_recipient()]
        self._uploads = _Uploads()
        self.state = "open"

    def add_message(self, text: str) -> None:
        """Encrypt the message text (at most ``max_message_chars`` characters).

        A blank message is ignored. A second message raises ``InvalidInput``.
        """
        self.ensure_open()
        with self.aborting_on_error():
            if not text.strip():
                return
            if self._uploads.has_message:
                raise InvalidInput("a submission has at most one message")
            if len(text) > self._ctx.settings.max_message_chars:
                raise TooLarge(
                    f"the message is longer than {self._ctx.settings.max_message_chars} characters",
                    params={"limit": "max_message_chars",
                            "num": self._ctx.settings.max_message_chars},
                )
            data = _encode_text(text)
            self.count_bytes(len(data))
            part = seal_bytes(self._ctx.store, self._recipients, data, kind=ItemKind.MESSAGE)
            self._uploads.parts.append(part)
            self._uploads.has_message = True

    @property
    def desk_id(self) -> int:
        """The desk whose key this submission is encrypted to."""
        return self._ctx.key.desk_id

    def add_answers(self, answers: Sequence[Answer]) -> None:
        """Keep the answers to the desk's questions for the encrypted manifest.

        Checked answers only (:func:`~tipbox.services.desks.questions.answers_from`);
        they count against ``max_upload_bytes`` like the message.
        """
        self.ensure_open()
        with self.aborting_on_error():
            for answer in answers:
                self.count_bytes(len(answer.text.encode("utf-8")))
            self._uploads.answers.extend(answers)

    def open_file(self, filename: str, content_type: str) -> FileUpload:
        """Start a file; its bytes stream into an age encryptor over a temp blob.

        The manifest keeps the name made safe by
        :func:`~tipbox.services.submissions.file_names.filter_file_name` (the name the
        inbox shows and the download saves). Raises its
        :class:`~tipbox.services.submissions.file_names.FileNameRefused` (an
        ``InvalidInput``) for a name it refuses and :class:`TooLarge` past
        ``max_files``.
        """
        self.ensure_open()
        with self.aborting_on_error():
            name = filter_file_name(filename)
            if len(self._uploads.files) >= self._ctx.settings.max_files:
                raise TooLarge(f"a submission has at most {self._ctx.settings.max_files} files",
                               code="too_many_files",
                               params={"limit": "max_files", "num": self._ctx.settings.max_files})
            upload = self._start_file(name, content_type)
            self._uploads.files.append(upload)
            return upload

    def _start_file(self, filename: str, content_type: str) -> FileUpload:
        writer = self._ctx.store.blobs.writer()
        try:
            encryptor = Encryptor(self._recipients, cast(BinaryIO, writer), detached=True,
                                  threads=self._ctx.settings.crypto_threads)
        except BaseException:
            writer.abort()
            raise
        entry: dict[str, object] = {"name": filename, "content_type": _content_type(content_type)}
        part = Sealed(kind=ItemKind.FILE, writer=writer, header=encryptor.header, entry=entry)
        self._uploads.parts.append(part)
        return FileUpload(self, part, encryptor)

    def commit(self, want_codename: bool = True) -> Receipt:
        """Store the submission atomically and return the receipt.

        A new source (no ``login``) gets a codename if ``want_codename``,
        else it can never log in or be replied to. A logged-in source's
        submission joins its conversation (``want_codename`` is ignored).
        Raises ``InvalidInput`` if there is no message and no non-empty file,
        or a file was not closed; the draft is aborted on any error.
        """
        self.ensure_open()
        with self.aborting_on_error():
            self._check_complete()
            # The message reads first, whatever order the form streamed in.
            self._uploads.parts.sort(key=lambda part: part.kind != ItemKind.MESSAGE)
            self._add_manifest()
            new_source = None if self._login else self._new_source(want_codename)
            self._commit_blobs()
            designation = self._record(new_source)
            self.state = "committed"
        codename = new_source.codename if new_source else None
        return Receipt(codename=str(codename) if codename else None, designation=designation,
                       files=self._received_files(), has_message=self._uploads.has_message)

    def abort(self) -> None:
        """Discard everything written so far. Idempotent; nothing becomes visible."""
        if self.state == "committed":
            return
        self.state = "aborted"
        for upload in self._uploads.files:
            upload.cancel()
        for part in self._uploads.parts:
            part.writer.abort()

    def count_bytes(self, size: int) -> None:
        """Account ``size`` more plaintext bytes against ``max_upload_bytes``."""
        self._uploads.total_bytes += size
        if self._uploads.total_bytes > self._ctx.settings.max_upload_bytes:
            raise TooLarge("the submission is larger than this server accepts",
                           params={"limit": "max_upload_bytes",
                                   "num": self._ctx.settings.max_upload_bytes})

    def aborting_on_error(self) -> _AbortOnError:
        """A context manager that aborts the draft if its block raises."""
        return _AbortOnError(self)

    def ensure_open(self) -> None:
        """Raise ``InvalidInput`` once the draft is committed or aborted."""
        if self.state != "open":
            raise InvalidInput(f"this submission was already {self.state}")

    def _received_files(self) -> tuple[tuple[str, int], ...]:
        entries = [part.entry for part in self._uploads.parts if part.kind == ItemKind.FILE]
        return tuple((str(entry["name"]), cast(int, entry["size"])) for entry in entries if entry)

    def _check_complete(self) -> None:
        if any(not upload.closed for upload in self._uploads.files):
            raise InvalidInput("a file upload was not finished")
        has_content = any(
            part.entry is None or cast(int, part.entry["size"]) > 0 for part in self._uploads.parts
        )
        if not has_content and not self._uploads.answers:
            raise InvalidInput("the submission is empty: write a message or attach a file")

    def _add_manifest(self) -> None:
        entries = []
        for position, part in enumerate(self._uploads.parts):
            if part.entry is not None:
                entries.append({"position": position, **part.entry})
        answers = [answer.to_json() for answer in self._uploads.answers]
        if not entries and not answers:
            return
        document: dict[str, object] = {"version": MANIFEST_VERSION, "files": entries}
        if answers:
            document["answers"] = answers
        data = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
        part = seal_bytes(self._ctx.store, self._recipients, data, kind=ItemKind.MANIFEST)
        self._uploads.parts.append(part)

    def _new_source(self, want_codename: bool) -> _NewSource:
        if not want_codename:
            return _NewSource(codename=None, lookup_id=None, reply_recipient=None)
        codename = Codename.generate(self._ctx.rand)
        keys = self._ctx.kdf.keys(str(codename), purpose="submission")
        identity = identity_from_seed(keys.identity_seed, self._ctx.key.kind)
        return _NewSource(
            codename=codename,
            lookup_id=keys.lookup_id,
            reply_recipient=str(identity.recipient()),
        )

    def _commit_blobs(self) -> None:
        for part in self._uploads.parts:
            part.writer.commit(sync_dir=False)
        self._ctx.store.blobs.sync()

    def _record(self, new_source: _NewSource | None) -> str:
        try:
            return self._insert_rows(new_source)
        except sqlite3.IntegrityError as error:
            if "destroyed" not in str(error):
                raise
            # Encrypted to a key destroyed while this upload ran (longer than
            # the destroy delay): nobody could ever read it, so refuse it.
            raise StorageUnavailable("the newsroom key changed; please send again") from None

    def _insert_rows(self, new_source: _NewSource | None) -> str:
        stamp = hour(self._ctx.now())
        with self._ctx.store.db.transaction() as conn:
            if new_source is None:
                source_id, designation = self._touch_source(conn, stamp)
            else:
                source_id, designation = _insert_source(
                    conn, new_source, stamp, self._ctx.rand, desk_id=self._ctx.key.desk_id
                )
            submission_id = insert_submission(conn, source_id, created_hour=stamp)
            for position, part in enumerate(self._uploads.parts):
                item = NewItem(
                    part.kind, position, self._ctx.key.id, part.header, part.writer.name
                )
                insert_item(conn, source_id, submission_id, item, created_hour=stamp)
        return designation

    def _touch_source(self, conn: sqlite3.Connection, stamp: int) -> tuple[int, str]:
        login = cast("SourceLogin", self._login)
        designation = touch_source(conn, login.source_id, stamp)
        if designation is None:
            raise NotFound("this source no longer exists")
        return login.source_id, designation


class _AbortOnError:
    def __init__(self, draft: SubmissionDraft) -> None:
        self._draft = draft

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._draft.abort()


def _encode_text(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the text contains invalid characters") from None


def _insert_source(
    conn: sqlite3.Connection, source: _NewSource, stamp: int, rand: codenames.Rand, *,
    desk_id: int,
) -> tuple[int, str]:
    """Insert a source under a fresh random designation (retrying on a clash)."""
    for _ in range(_DESIGNATION_ATTEMPTS):
        designation = codenames.designation(rand)
        try:
            source_id = insert_source(
                conn, designation, source.lookup_id, source.reply_recipient, created_hour=stamp,
                desk_id=desk_id,
            )
        except sqlite3.IntegrityError as error:
            if "designation" not in str(error):
                raise
            continue
        return source_id, designation
    raise TipboxError("could not find a free designation")


class Submissions:
    """Starts drafts against the instance's active newsroom key.

    ``live`` gives the settings in force (limits admins edit apply to the
    next submission); without it ``settings`` are used throughout.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        keyring: Keyring,
        kdf: CodenameKdf,
        now: Callable[[], float] = time.time,
        rand: codenames.Rand = secrets.randbelow,
        live: Callable[[], Settings] | None = None,
    ) -> None:
        self._settings = settings
        self._live = live or (lambda: settings)
        self._store = store
        self._keyring = keyring
        self._kdf = kdf
        self._now = now
        self._rand = rand

    def has_room(self) -> bool:
        """Whether free disk is above the floor that :meth:`start` checks first.

        The form page asks, so that a source learns before typing that
        nothing can be sent right now.
        """
        try:
            self._store.blobs.check_space()
        except StorageFull:
            return False
        return True

    def start(self, login: SourceLogin | None, desk_id: int | None = None) -> SubmissionDraft:
        """Begin a submission, new (``None``) or from a logged-in source.

        Everything is encrypted to the active key of one desk: a returning
        source's own desk (``desk_id`` is ignored), else ``desk_id``, which
        must be open to new sources; ``None`` picks the only open desk.
        Raises :class:`~tipbox.errors.StorageFull` early if disk is low,
        ``InvalidInput`` (``choose_desk``) when a desk must be chosen and
        ``NotFound`` (``no_such_desk``) for a desk that is unknown or closed.
        """
        self._store.blobs.check_space()
        context = _Context(
            settings=self._live(),
            store=self._store,
            key=self._keyring.active_key(self._desk_for(login, desk_id)),
            kdf=self._kdf,
            now=self._now,
            rand=self._rand,
        )
        return SubmissionDraft(context, login)

    def _desk_for(self, login: SourceLogin | None, desk_id: int | None) -> int:
        with self._store.db.reading() as conn:
            if login is not None:
                own = source_desk_id(conn, login.source_id)
                if own is None:
                    raise NotFound("this source no longer exists")
                return own
            open_ids = [int(row["id"]) for row in desk_rows(conn) if row["open"]]
        if desk_id is None and len(open_ids) == 1:
            return open_ids[0]
        if desk_id is None:
            raise InvalidInput("choose the desk to send to", code="choose_desk")
        if desk_id not in open_ids:
            raise NotFound("no such desk is open to new sources", code="no_such_desk")
        return desk_id
