"""Offline export of every submission, decrypted or as standard age files.

Layout: ``OUT/<designation>/`` per source.

- Decrypted (identities given): each file under the name the inbox shows
  and a download saves (:func:`safe_name`; clashes get `` (2)``,
  `` (3)``...), each message as
  ``message-<n>.txt`` (``n`` counts the source's submissions from 1), the
  answers to a desk's questions as ``answers-<n>.txt`` (each question, then
  its answer) and each reply the identities can open as ``reply-<n>.txt``.
- Encrypted: ``<item id>-<kind>.age`` per item, each an age file (stored
  header + payload) for decryption on an air-gapped machine; file names stay
  inside the encrypted ``manifest`` items. Needs no identity; with one, each
  padded payload (:mod:`tipbox.crypto.padding`) is cut where its trailer
  says, so every file is a standard age file any age tool decrypts. Without
  one, padded files keep their padding: ``python -m tipbox age decrypt``
  reads them, other age tools report trailing data.

Security contract: OUT must be new or empty; directories are created 0700
and files 0600 with ``O_EXCL`` (never following or replacing anything).
Decrypted output is only renamed into place after its payload verified
completely; a failing item leaves no partial file and is counted in
:attr:`ExportSummary.failed`. Nothing decrypted is written anywhere else.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from tipbox.crypto import DecryptionError, Identity, decrypt_detached, padded_payload_size
from tipbox.crypto.padding import Bounded
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.custody.keyring import KeyIdentity, Keyring
from tipbox.services.desks.questions import Answer
from tipbox.services.submissions.file_names import numbered_file_name, saved_file_name
from tipbox.store import Store
from tipbox.store.items import ItemKind, items_of_source, sources_in_order

__all__ = ["ExportSummary", "export_submissions", "safe_name", "unlock_identities"]

_FALLBACK_NAME = "file"


@dataclass
class ExportSummary:
    """What an export wrote: sources, files, and items that could not be opened."""

    sources: int = 0
    files: int = 0
    failed: int = 0


def safe_name(name: str) -> str:
    """A file name that is safe on any common file system and never a path.

    The upload-time filter (:func:`~tipbox.services.submissions.file_names.saved_file_name`),
    so exactly the name the inbox shows and a download saves; for older or
    damaged names, path separators and control characters become ``_``.
    Never empty (``file`` when nothing is left).
    """
    return saved_file_name(name, fallback=_FALLBACK_NAME)


@dataclass
class _SourceDir:
    """One source's output directory and the names already used in it."""

    path: Path
    used: set[str] = field(default_factory=set)
    submissions: int = 0
    replies: int = 0
    notes: int = 0

    def claim(self, name: str) -> Path:
        """A fresh path for ``name`` (made safe), adding `` (n)`` on a clash."""
        name = safe_name(name)
        candidate, number = name, 1
        while candidate.casefold() in self.used:
            number += 1
            candidate = numbered_file_name(name, number)
        self.used.add(candidate.casefold())
        return self.path / candidate


def unlock_identities(keyring: Keyring, given: Sequence[KeyIdentity]) -> list[KeyIdentity]:
    """The newsroom identities ``given`` opens: its grants' identities, then itself.

    A recovery identity opens every newsroom key's grant; a newsroom
    identity is usable as it is. Raises
    :class:`~tipbox.crypto.DecryptionError` for a tampered grant.
    """
    opened: list[KeyIdentity] = []
    for identity in given:
        opened.extend(keyring.open_identities(identity))
    return [*opened, *given]


def export_submissions(
    store: Store,
    out_dir: Path,
    *,
    identities: Sequence[Identity] = (),
    encrypted: bool = False,
) -> ExportSummary:
    """Write every source's items under ``out_dir`` (see the module docstring).

    ``identities`` are newsroom identities (already opened from grants by
    the caller); they are required unless ``encrypted``. Raises
    ``InvalidInput`` if ``out_dir`` exists and is not an empty directory.
    """
    if not encrypted and not identities:
        raise InvalidInput("a decrypted export needs at least one identity")
    _prepare_out_dir(out_dir)
    summary = ExportSummary()
    for designation, rows in _sources_with_items(store):
        folder = _SourceDir(out_dir / safe_name(designation))
        folder.path.mkdir(mode=0o700)
        summary.sources += 1
        if encrypted:
            _export_encrypted(store, folder, rows, identities, summary)
        else:
            _export_decrypted(store, folder, rows, identities, summary)
    return summary


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise InvalidInput(f"{out_dir} exists and is not an empty directory")
    else:
        out_dir.mkdir(mode=0o700, parents=True)


def _sources_with_items(store: Store) -> Iterator[tuple[str, list[sqlite3.Row]]]:
    """Each source's designation with its items in order (one source in memory)."""
    with store.db.connection() as conn:
        sources = sources_in_order(conn)
    for source in sources:
        with store.db.connection() as conn:
            rows = items_of_source(conn, source["id"])
        if rows:
            yield source["designation"], rows


def _export_encrypted(
    store: Store,
    folder: _SourceDir,
    rows: Iterable[sqlite3.Row],
    identities: Sequence[Identity],
    summary: ExportSummary,
) -> None:
    for row in rows:
        target = folder.path / f"{row['id']:08d}-{row['kind']}.age"
        header = bytes(row["header"])
        try:
            with store.blobs.open_blob(row["blob"]) as stored:
                payload = _standard(stored, header, identities)
                _write_exclusive(target, itertools.chain([header], _blocks(payload)))
        except NotFound:
            summary.failed += 1
            continue
        summary.files += 1


def _export_decrypted(
    store: Store,
    folder: _SourceDir,
    rows: Sequence[sqlite3.Row],
    identities: Sequence[Identity],
    summary: ExportSummary,
) -> None:
    manifests, answers = _manifests(store, rows, identities, summary)
    seen_submissions: set[int] = set()
    for row in rows:
        if row["submission_id"] is not None and row["submission_id"] not in seen_submissions:
            seen_submissions.add(row["submission_id"])
            folder.submissions += 1
        if row["kind"] == ItemKind.MANIFEST:
            _write_answers(folder, answers.get(int(row["submission_id"]), []), summary)
            continue
        target = _target(folder, row, manifests)
        if _decrypt_to(store, row, identities, target):
            summary.files += 1
        else:
            summary.failed += 1


def _standard(stored: BinaryIO, header: bytes, identities: Sequence[Identity]) -> BinaryIO:
    """The stored payload cut where its padding starts, when ``identities`` open it."""
    try:
        size = padded_payload_size(identities, header, stored) if identities else None
    except DecryptionError:
        return stored
    return stored if size is None else cast(BinaryIO, Bounded(stored, size))


def _target(folder: _SourceDir, row: sqlite3.Row, manifests: dict[tuple[int, int], str]) -> Path:
    if row["kind"] == ItemKind.MESSAGE:
        return folder.claim(f"message-{folder.submissions}.txt")
    if row["kind"] == ItemKind.REPLY:
        folder.replies += 1
        return folder.claim(f"reply-{folder.replies}.txt")
    if row["kind"] == ItemKind.NOTE:
        folder.notes += 1
        return folder.claim(f"note-{folder.notes}.txt")
    name = manifests.get((row["submission_id"], row["position"]), _FALLBACK_NAME)
    return folder.claim(name)


def _write_answers(folder: _SourceDir, answers: list[Answer], summary: ExportSummary) -> None:
    """``answers-<n>.txt``: each question as the source saw it, then the answer."""
    if not answers:
        return
    text = "\n".join(f"{answer.label}\n{answer.text}\n" for answer in answers)
    _write_exclusive(folder.claim(f"answers-{folder.submissions}.txt"), [text.encode("utf-8")])
    summary.files += 1


def _manifests(
    store: Store,
    rows: Iterable[sqlite3.Row],
    identities: Sequence[Identity],
    summary: ExportSummary,
) -> tuple[dict[tuple[int, int], str], dict[int, list[Answer]]]:
    """File names by (submission id, position) and answers by submission id, from each
    decrypted manifest."""
    names: dict[tuple[int, int], str] = {}
    answers: dict[int, list[Answer]] = {}
    for row in rows:
        if row["kind"] != ItemKind.MANIFEST:
            continue
        try:
            with store.blobs.open_blob(row["blob"]) as payload:
                document = json.loads(
                    b"".join(decrypt_detached(identities, row["header"], payload))
                )
            for entry in document["files"]:
                names[(row["submission_id"], int(entry["position"]))] = str(entry["name"])
            found = [Answer.from_json(value) for value in document.get("answers", [])]
            answers[int(row["submission_id"])] = [a for a in found if a is not None]
        except (DecryptionError, NotFound, ValueError, KeyError, TypeError, AttributeError):
            summary.failed += 1
    return names, answers


def _decrypt_to(
    store: Store, row: sqlite3.Row, identities: Sequence[Identity], target: Path
) -> bool:
    try:
        with store.blobs.open_blob(row["blob"]) as payload:
            _write_exclusive(target, decrypt_detached(identities, row["header"], payload))
    except (DecryptionError, NotFound):
        return False
    return True


def _write_exclusive(target: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a 0600 temporary, then link it to ``target`` (never replacing).

    If iterating ``chunks`` raises (a payload that fails to verify), no
    file is left behind.
    """
    temp = target.with_name(f".{secrets.token_hex(8)}.part")
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        os.link(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def _blocks(payload: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while block := payload.read(size):
        yield block
