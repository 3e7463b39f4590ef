"""Stored sizes don't identify documents (issue 17), and every way out gives the exact bytes.

Two files whose sizes fall in one PADMÉ bucket leave blobs of one size; the
inbox download, the zip, the offline export and the "Encrypted .age" file
give back exactly what was sent, and the ``.age`` files decrypt with npm's
``age-encryption`` (the newsroom keys are post-quantum, which Debian's ``age``
does not read; tests/crypto/test_padding.py cuts X25519 files for it).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from reviewer_kit import Person, login, submit

from tipbox.crypto import parse_identity
from tipbox.crypto.padding import padded_size, payload_size
from tipbox.services.instance import InitResult
from tipbox.services.ops.export import export_submissions, unlock_identities
from tipbox.services.wiring import Instance, ReviewerServices

ROOT = Path(__file__).resolve().parents[2]
FIRST = b"%PDF-1.4 first report " * 3182  # 70,004 bytes
SECOND = b"%PDF-1.4 second, longer " * 2958  # 70,992 bytes: the same bucket


def stored_sizes(instance: Instance) -> dict[int, int]:
    """Item id -> size of its blob on disk."""
    with instance.store.db.reading() as conn:
        rows = conn.execute("SELECT id, blob FROM items WHERE kind = 'file'").fetchall()
    return {int(i): (instance.settings.blobs_dir / b).stat().st_size for i, b in rows}


def test_two_files_in_one_bucket_leave_blobs_of_one_size(instance: Instance) -> None:
    assert padded_size(payload_size(len(FIRST))) == padded_size(payload_size(len(SECOND)))
    submit(instance, "first", files={"a.pdf": FIRST})
    submit(instance, "second", files={"b.pdf": SECOND})
    sizes = set(stored_sizes(instance).values())
    assert sizes == {padded_size(payload_size(len(FIRST)))}
    assert max(sizes) <= len(SECOND) * 1.12


def test_every_way_out_gives_the_exact_bytes(services: ReviewerServices, admin: Person,
                                             instance: Instance, init_result: InitResult,
                                             tmp_path: Path) -> None:
    sent = submit(instance, "see the file", files={"report.pdf": FIRST})
    _, session = login(services, admin)
    identities = session.identities()
    conversation = services.inbox.conversation(sent.source_id, identities, reviewer="admin")
    [entry] = [e for e in conversation.entries if e.kind == "file"]
    assert "see the file" in [e.text for e in conversation.entries]
    download = services.inbox.open_file(sent.source_id, entry.id, identities, reviewer="admin")
    assert b"".join(download.chunks) == FIRST
    archive = b"".join(services.inbox.zip_items(sent.source_id, [entry.id], identities,
                                                reviewer="admin"))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.read(opened.namelist()[0]) == FIRST
    recovery = parse_identity(init_result.recovery_identity)
    newsroom = unlock_identities(instance.keyring, [recovery])
    export_submissions(instance.store, tmp_path / "plain", identities=newsroom)
    [folder] = (tmp_path / "plain").iterdir()
    assert (folder / "report.pdf").read_bytes() == FIRST
    export_submissions(instance.store, tmp_path / "age", identities=newsroom, encrypted=True)
    [age_folder] = (tmp_path / "age").iterdir()
    files = sorted(age_folder.glob("*-file.age"))
    assert len(files) == 1
    _decrypts_with_age_encryption(files[0], newsroom, FIRST)
    _, chunks = services.inbox.export_age(sent.source_id, entry.id, identities, reviewer="admin")
    exported = tmp_path / "download.age"
    exported.write_bytes(b"".join(chunks))
    _decrypts_with_age_encryption(exported, newsroom, FIRST)


def _decrypts_with_age_encryption(path: Path, identities: list,  # type: ignore[type-arg]
                                  expected: bytes) -> None:
    node = shutil.which("node")
    script = ROOT / "tests" / "interop" / "decrypt.mjs"
    if node is None or not (ROOT / "tests" / "node_modules" / "age-encryption").is_dir():
        pytest.skip("node with npm age-encryption is not installed (make node)")
    argv = [node, str(script)] + [arg for identity in identities for arg in ("-i", str(identity))]
    result = subprocess.run(argv, input=path.read_bytes(), capture_output=True, cwd=ROOT,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected
