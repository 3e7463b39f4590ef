"""Submissions: round trips, limits, abort and crash safety, minimal metadata."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import make_test_settings
from tests.domain.conftest import Reader
from tipbox.codenames import Codename
from tipbox.errors import InvalidInput, NotFound, StorageFull, StorageUnavailable, TooLarge
from tipbox.services.instance import init_instance
from tipbox.services.submissions.file_names import FileNameRefused, filter_file_name
from tipbox.services.submissions.intake import SubmissionDraft
from tipbox.services.wiring import Instance, open_instance


def files_in(instance: Instance) -> list[str]:
    return sorted(os.listdir(instance.store.blobs.path))


def add_file(draft: SubmissionDraft, name: str, data: bytes, kind: str = "text/plain") -> None:
    upload = draft.open_file(name, kind)
    for start in range(0, len(data), 100_000):
        assert upload.write(data[start : start + 100_000]) == len(data[start : start + 100_000])
    upload.close()


def test_message_and_files_round_trip(instance: Instance, reader: Reader) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("héllo newsroom\n")
    big = os.urandom(300_000)
    add_file(draft, "report.pdf", big, "application/pdf")
    add_file(draft, "notes é.txt", b"notes")
    receipt = draft.commit()

    assert receipt.codename is not None
    assert len(receipt.designation.split()) == 2
    items = reader.items()
    assert [item.kind for item in items] == ["message", "file", "file", "manifest"]
    assert [item.position for item in items] == [0, 1, 2, 3]
    assert items[0].plaintext == "héllo newsroom\n".encode()
    assert items[1].plaintext == big
    assert items[2].plaintext == b"notes"
    assert items[3].manifest() == {
        "version": 1,
        "files": [
            {
                "position": 1,
                "name": "report.pdf",
                "content_type": "application/pdf",
                "size": len(big),
                "sha256": hashlib.sha256(big).hexdigest(),
            },
            {
                "position": 2,
                "name": "notes é.txt",
                "content_type": "text/plain",
                "size": 5,
                "sha256": hashlib.sha256(b"notes").hexdigest(),
            },
        ],
    }
    assert len({item.submission_id for item in items}) == 1
    assert files_in(instance) == sorted(item.blob for item in items)


def test_stored_metadata_is_minimal(instance: Instance, reader: Reader) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("m")
    draft.commit(want_codename=False)
    with instance.store.db.connection() as conn:
        source = dict(conn.execute("SELECT * FROM sources").fetchone())
        submission = dict(conn.execute("SELECT * FROM submissions").fetchone())
    columns = set(source) | set(submission)
    assert {"designation", "lookup_id", "reply_recipient", "created_hour"} <= columns
    for word in ("ip", "addr", "agent", "name", "size", "type", "time"):
        assert not any(word in column.split("_") for column in columns), word
    assert source["lookup_id"] is None
    assert source["reply_recipient"] is None
    assert source["created_hour"] % 3600 == 0
    assert submission["created_hour"] % 3600 == 0
    assert all(item.created_hour % 3600 == 0 for item in reader.items())


def test_times_are_rounded_down_to_the_hour(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    instance = open_instance(settings, now=lambda: 1_700_003_599.0)
    draft = instance.submissions.start(None)
    draft.add_message("m")
    draft.commit()
    with instance.store.db.connection() as conn:
        hours = conn.execute(
            "SELECT s.created_hour, i.created_hour FROM sources s JOIN items i"
        ).fetchone()
    assert tuple(hours) == (1_700_002_800, 1_700_002_800)
    instance.close()


def test_no_codename_means_no_login(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("anonymous and gone")
    receipt = draft.commit(want_codename=False)
    assert receipt.codename is None


def test_follow_up_joins_the_same_source(instance: Instance, reader: Reader) -> None:
    first = instance.submissions.start(None)
    first.add_message("first")
    receipt = first.commit()
    assert receipt.codename is not None
    login = instance.sources.login(receipt.codename)
    follow_up = instance.submissions.start(login)
    follow_up.add_message("second")
    again = follow_up.commit()
    assert again.codename is None
    assert again.designation == receipt.designation
    items = reader.items()
    assert [i.plaintext for i in items] == [b"first", b"second"]
    assert items[0].source_id == items[1].source_id
    assert items[0].submission_id != items[1].submission_id
    assert reader.count("sources") == 1


@pytest.mark.parametrize("message", ["", "   \n\t "])
def test_empty_submission_is_refused_and_leaves_nothing(
    instance: Instance, reader: Reader, message: str
) -> None:
    draft = instance.submissions.start(None)
    draft.add_message(message)
    add_file(draft, "empty.txt", b"")
    with pytest.raises(InvalidInput, match="empty"):
        draft.commit()
    assert files_in(instance) == []
    assert reader.count("sources") == reader.count("items") == 0


def test_an_empty_file_next_to_a_message_is_kept(instance: Instance, reader: Reader) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("see attachment")
    add_file(draft, "empty.txt", b"")
    draft.commit()
    assert [item.kind for item in reader.items()] == ["message", "file", "manifest"]


def test_abort_removes_every_blob(instance: Instance, reader: Reader) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("never mind")
    upload = draft.open_file("half.bin", "application/octet-stream")
    upload.write(b"x" * 70_000)
    assert len(files_in(instance)) == 2  # temporaries while in progress
    assert all(name.startswith(".tmp-") for name in files_in(instance))
    draft.abort()
    draft.abort()
    assert files_in(instance) == []
    assert reader.count("items") == 0
    with pytest.raises(InvalidInput, match="aborted"):
        draft.commit()


def test_too_many_files(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    for number in range(instance.settings.max_files):
        add_file(draft, f"f{number}", b"x")
    with pytest.raises(TooLarge, match="at most 20 files"):
        draft.open_file("one-too-many", "text/plain")
    assert files_in(instance) == []  # the whole draft is aborted


def test_message_too_long(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path, TIPBOX_MAX_MESSAGE_CHARS="10")
    init_instance(settings)
    instance = open_instance(settings)
    draft = instance.submissions.start(None)
    with pytest.raises(TooLarge, match="10 characters"):
        draft.add_message("x" * 11)
    assert files_in(instance) == []
    instance.close()


def test_upload_limit_counts_all_bytes(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path, TIPBOX_MAX_UPLOAD_BYTES="1000")
    init_instance(settings)
    instance = open_instance(settings)
    draft = instance.submissions.start(None)
    draft.add_message("m" * 400)
    upload = draft.open_file("a", "text/plain")
    upload.write(b"x" * 600)
    with pytest.raises(TooLarge):
        upload.write(b"x")
    assert files_in(instance) == []
    with pytest.raises(InvalidInput):
        draft.commit()
    instance.close()


def test_disk_full_refuses_before_writing(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    instance = open_instance(settings)
    instance.store.blobs.min_free_bytes = 1 << 62
    with pytest.raises(StorageFull):
        instance.submissions.start(None)
    instance.close()


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "a/b",
        "C:\\Users\\me\\doc.pdf",
        "nul\0byte",
        "x" * 2000,
        "",
        "..",
        "bad\udcff",
        "line\u2028break",
        "invoice\u202efdp.exe",
    ],
)
def test_hostile_file_names_are_refused(instance: Instance, name: str) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("m")
    with pytest.raises(InvalidInput):
        draft.open_file(name, "text/plain")
    assert files_in(instance) == []


def test_ordinary_names_are_accepted() -> None:
    persian = "\u0646\u0627\u0645\u0647\u200c\u0647\u0627.pdf"  # with a ZWNJ
    nfd = "Cafe\u0301.txt"
    for name in ["report.pdf", "Ünïcødé (1).docx", "日本語.txt", "x" * 248]:
        assert filter_file_name(name) == name
    # Accepted, as the inbox will show and the download will save them:
    assert filter_file_name(".hidden") == "hidden"
    assert filter_file_name("x" * 255) == "x" * 248
    assert filter_file_name(persian) == persian.replace("\u200c", "")
    assert filter_file_name(nfd) == "Caf\u00e9.txt"


def test_the_manifest_keeps_the_filtered_name(instance: Instance, reader: Reader) -> None:
    long = "Служебная записка " * 10 + "scan.pdf"
    names = ["CON.txt", "minutes 10:30\u200f.txt", "tag\U000e0041\u00ad.doc", long]
    draft = instance.submissions.start(None)
    for name in names:
        add_file(draft, name, b"data")
    draft.commit()
    manifest = reader.items()[-1].manifest()
    stored = [entry["name"] for entry in manifest["files"]]  # type: ignore[index, union-attr]
    assert stored == [filter_file_name(name) for name in names]
    assert stored[:3] == ["_CON.txt", "minutes 10_30.txt", "tag.doc"]
    assert stored[3].endswith(".pdf")
    assert len(stored[3].encode()) <= 254


def test_a_refused_name_aborts_the_draft(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    add_file(draft, "fine.txt", b"data")
    with pytest.raises(FileNameRefused):
        draft.open_file("invoice\u202efdp.exe", "text/plain")
    assert draft.state == "aborted"
    assert files_in(instance) == []


def test_content_type_is_sanitised(instance: Instance, reader: Reader) -> None:
    draft = instance.submissions.start(None)
    add_file(draft, "a", b"1", "text/html\r\nX-Evil: 1")
    add_file(draft, "b", b"2", "")
    draft.commit()
    manifest = reader.items()[-1].manifest()
    types = [entry["content_type"] for entry in manifest["files"]]  # type: ignore[index, union-attr]
    assert types == ["application/octet-stream", "application/octet-stream"]


def test_unclosed_file_is_refused(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    upload = draft.open_file("a", "text/plain")
    upload.write(b"interrupted")
    with pytest.raises(InvalidInput, match="not finished"):
        draft.commit()
    assert files_in(instance) == []


def test_failed_database_commit_leaves_nothing(
    instance: Instance, reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("m")
    add_file(draft, "f", b"data")

    def crash(*_: object) -> str:
        raise OSError("simulated failure after the blobs were renamed")

    monkeypatch.setattr(SubmissionDraft, "_record", crash)
    with pytest.raises(OSError, match="simulated"):
        draft.commit()
    assert files_in(instance) == []
    assert reader.count("items") == 0


def test_crash_mid_upload_is_cleaned_at_next_start(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    first = open_instance(settings)
    kept = first.submissions.start(None)
    kept.add_message("committed before the crash")
    kept.commit()
    draft = first.submissions.start(None)
    draft.add_message("in flight")
    upload = draft.open_file("f", "text/plain")
    upload.write(b"partial")
    # Simulate the process dying: drop the writers' locks without any cleanup.
    for part in draft._uploads.parts:
        os.close(part.writer._fd)
        part.writer.state = "dead"
    first.close()

    second = open_instance(settings)
    names = sorted(os.listdir(second.store.blobs.path))
    assert not any(name.startswith(".tmp-") for name in names)
    with second.store.db.connection() as conn:
        referenced = sorted(row[0] for row in conn.execute("SELECT blob FROM items"))
    assert names == referenced
    assert len(names) == 1
    second.close()


def test_login_of_a_deleted_source_cannot_submit(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("m")
    receipt = draft.commit()
    assert receipt.codename is not None
    login = instance.sources.login(receipt.codename)
    follow_up = instance.submissions.start(login)
    follow_up.add_message("again")
    with instance.store.db.transaction() as conn:
        conn.execute("DELETE FROM sources")
    with pytest.raises(NotFound):
        follow_up.commit()  # deleted while the upload ran
    with pytest.raises(NotFound):
        instance.submissions.start(login)  # deleted before it started
    assert files_in(instance) != []  # only the first submission's blob (orphaned by the test)


def test_codename_is_valid_and_shown_only_in_the_receipt(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("m")
    receipt = draft.commit()
    assert receipt.codename is not None
    Codename.parse(receipt.codename)
    assert receipt.codename not in repr(receipt)


def test_concurrent_submissions_all_land(instance: Instance, reader: Reader) -> None:
    import threading

    errors: list[BaseException] = []

    def submit(number: int) -> None:
        try:
            draft = instance.submissions.start(None)
            draft.add_message(f"tip {number}")
            add_file(draft, f"f{number}.bin", bytes([number]) * 100_000)
            draft.commit(want_codename=number % 2 == 0)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    messages = sorted(i.plaintext for i in reader.items() if i.kind == "message")
    assert messages == sorted(f"tip {n}".encode() for n in range(12))
    assert reader.count("sources") == 12
    assert not any(name.startswith(".tmp-") for name in files_in(instance))


def test_designation_clash_is_retried(instance: Instance) -> None:
    from tipbox.services.submissions.intake import Submissions

    draws = iter([0, 0, 0, 0, 1, 1])
    submissions = Submissions(
        settings=instance.settings,
        store=instance.store,
        keyring=instance.keyring,
        kdf=instance.sources._kdf,
        rand=lambda n: next(draws),
    )
    designations = []
    for _ in range(2):
        draft = submissions.start(None)
        draft.add_message("m")
        designations.append(draft.commit(want_codename=False).designation)
    assert designations == ["abacus abacus", "abdomen abdomen"]


def test_upload_to_a_key_destroyed_meanwhile_is_refused_and_leaves_nothing(
    instance: Instance, reader: Reader
) -> None:
    draft = instance.submissions.start(None)
    add_file(draft, "slow.bin", b"started before the key was destroyed")
    with instance.store.db.transaction() as conn:
        conn.execute("UPDATE newsroom_keys SET state = 'destroyed'")
    with pytest.raises(StorageUnavailable):
        draft.commit()
    assert reader.items() == []
    assert files_in(instance) == []


def test_message_comes_first_even_when_files_streamed_before_it(
    instance: Instance, reader: Reader
) -> None:
    draft = instance.submissions.start(None)
    add_file(draft, "a.txt", b"first file")
    draft.add_message("read me first")
    draft.commit()
    items = reader.items()
    assert [item.kind for item in items] == ["message", "file", "manifest"]
    assert items[2].manifest()["files"][0]["position"] == 1
