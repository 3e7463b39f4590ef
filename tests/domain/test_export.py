"""Export: exact bytes and names back, safe names, standard .age files, a canary scan."""

from __future__ import annotations

import base64
import os
import stat
import tempfile
from pathlib import Path

import pytest

from tests.domain.conftest import Reader
from tipbox.crypto import decrypt, parse_identity
from tipbox.errors import InvalidInput
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance import InitResult
from tipbox.services.ops.export import export_submissions, safe_name, unlock_identities
from tipbox.services.submissions.file_names import saved_file_name
from tipbox.services.submissions.intake import SubmissionDraft
from tipbox.services.wiring import Instance


def add_file(draft: SubmissionDraft, name: str, data: bytes) -> None:
    upload = draft.open_file(name, "application/octet-stream")
    view = memoryview(data)
    for start in range(0, len(data), 1 << 20):
        upload.write(bytes(view[start : start + (1 << 20)]))
    upload.close()


def submit(instance: Instance, message: str, files: dict[str, bytes]) -> str:
    draft = instance.submissions.start(None)
    draft.add_message(message)
    for name, data in files.items():
        add_file(draft, name, data)
    return draft.commit().designation


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def recovery_identities(instance: Instance, init_result: InitResult) -> list[KeyIdentity]:
    recovery = parse_identity(init_result.recovery_identity)
    return unlock_identities(instance.keyring, [recovery])


def test_export_gives_back_exact_bytes_and_names(
    instance: Instance, init_result: InitResult, tmp_path: Path
) -> None:
    files = {
        "report.pdf": os.urandom(200_000),
        "Ünïcødé (draft).docx": b"doc",
        "message-1.txt": b"clash",
    }
    designation = submit(instance, "the message ✓", files)
    codename = instance.submissions.start(None)
    codename.add_message("second source")
    other = codename.commit(want_codename=False).designation

    out = tmp_path / "export"
    identities = recovery_identities(instance, init_result)
    summary = export_submissions(instance.store, out, identities=identities)
    assert (summary.sources, summary.files, summary.failed) == (2, 5, 0)
    assert tree(out) == {
        f"{designation}/message-1.txt": "the message ✓".encode(),
        f"{designation}/report.pdf": files["report.pdf"],
        f"{designation}/Ünïcødé (draft).docx": b"doc",
        f"{designation}/message-1 (2).txt": b"clash",
        f"{other}/message-1.txt": b"second source",
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.rglob("*") if p.is_file())


def test_follow_ups_and_replies_are_numbered(
    instance: Instance, init_result: InitResult, tmp_path: Path
) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("first")
    receipt = draft.commit()
    assert receipt.codename is not None
    login = instance.sources.login(receipt.codename)
    instance.sources.add_reply(login.source_id, "a reply", author="reviewer")
    follow = instance.submissions.start(login)
    follow.add_message("second")
    follow.commit()
    out = tmp_path / "out"
    identities = recovery_identities(instance, init_result)
    export_submissions(instance.store, out, identities=identities)
    assert tree(out / receipt.designation) == {
        "message-1.txt": b"first",
        "reply-1.txt": b"a reply",
        "message-2.txt": b"second",
    }


def test_encrypted_export_writes_standard_age_files(
    instance: Instance, reader: Reader, tmp_path: Path
) -> None:
    designation = submit(instance, "msg", {"a.bin": b"A" * 70_000})
    out = tmp_path / "enc"
    summary = export_submissions(instance.store, out, encrypted=True)
    assert (summary.files, summary.failed) == (3, 0)
    names = sorted(os.listdir(out / designation))
    assert [name.split("-", 1)[1] for name in names] == ["message.age", "file.age", "manifest.age"]
    contents = [decrypt(reader.identities, (out / designation / n).read_bytes()) for n in names]
    assert contents[:2] == [b"msg", b"A" * 70_000]
    assert b'"name": "a.bin"' in contents[2]
    assert b"a.bin" not in b"".join((out / designation / n).read_bytes() for n in names)


def test_export_refuses_a_non_empty_directory(instance: Instance, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    with pytest.raises(InvalidInput, match="not an empty directory"):
        export_submissions(instance.store, tmp_path / "busy", encrypted=True)
    with pytest.raises(InvalidInput, match="identity"):
        export_submissions(instance.store, tmp_path / "new")
    assert (tmp_path / "busy" / "x").read_text() == "keep me"


def test_wrong_identity_writes_nothing_and_counts_failures(
    instance: Instance, tmp_path: Path
) -> None:
    from tipbox.crypto import HybridIdentity

    designation = submit(instance, "msg", {"f": b"data"})
    out = tmp_path / "out"
    summary = export_submissions(instance.store, out, identities=[HybridIdentity.generate()])
    assert summary.failed == 3  # manifest, message, file
    assert summary.files == 0
    assert os.listdir(out / designation) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("a\0b\nc", "a_b_c"),
        ('con:*?"<>|.txt', "con_______.txt"),
        ("", "file"),
        ("   ", "file"),
        ("cod\u202eexe.doc", "cod_exe.doc"),
        # the name the inbox shows and a download saves (tipbox.services.submissions.file_names):
        ("a\u200cb.pdf", "ab.pdf"),
        ("Cafe\u0301.txt", "Caf\u00e9.txt"),
        ("CON.txt", "_CON.txt"),
    ],
)
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_safe_name_truncates_keeping_the_extension() -> None:
    name = safe_name("é" * 250 + ".pdf")
    assert name == "é" * 124 + ".pdf"
    assert name == saved_file_name("é" * 250 + ".pdf", fallback="file")
    assert len(name.encode()) <= 254


CANARY = "CANARY-7f3a9c-tipbox"


def canary_forms() -> list[bytes]:
    plain = CANARY.encode()
    forms = [plain, CANARY.encode("utf-16-le"), CANARY.encode("utf-16-be"), CANARY.lower().encode()]
    for shift in range(3):  # base64 of the canary at each alignment inside a larger text
        encoded = base64.b64encode(b"x" * shift + plain)
        forms.append(encoded[4 : len(encoded) - 4])
    return forms


def test_canary_never_lands_on_disk_in_any_form(
    instance: Instance, init_result: InitResult, tmp_path: Path
) -> None:
    before_tmp = set(os.listdir(tempfile.gettempdir()))
    content = (CANARY.encode() + b"\n") * (5 * (1 << 20) // (len(CANARY) + 1))
    name = f"{CANARY}.txt"
    designation = submit(instance, f"message with {CANARY}", {name: content})
    instance.sources.add_reply(1, f"reply quoting {CANARY}", author="reviewer")
    aborted = instance.submissions.start(None)
    aborted.add_message(CANARY)
    aborted.abort()

    roots = [instance.settings.data_dir, instance.settings.keys_dir]
    scanned = [path for root in roots for path in root.rglob("*") if path.is_file()]
    assert len(scanned) >= 8  # db (+wal), secrets, blobs, key files
    for path in scanned:
        data = path.read_bytes()
        for form in canary_forms():
            assert form not in data, (path, form)
    new_tmp = set(os.listdir(tempfile.gettempdir())) - before_tmp
    for entry in new_tmp:
        path = Path(tempfile.gettempdir()) / entry
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes()

    out = tmp_path / "out"
    identities = recovery_identities(instance, init_result)
    export_submissions(instance.store, out, identities=identities)
    assert (out / designation / name).read_bytes() == content
