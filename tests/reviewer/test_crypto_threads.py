"""``TIPBOX_CRYPTO_THREADS``: uploads sealed and downloads opened on several threads.

The default is one thread (measured best on two cores: bench/upload.py and
bench/inbox.py); with more, a file spanning several 1 MiB runs still round
trips byte for byte, and no worker thread outlives an upload or a download,
finished or not.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from reviewer_kit import Person, login, submit

from tests.conftest import make_test_settings
from tipbox.config import Settings
from tipbox.errors import ConfigError
from tipbox.services.wiring import Instance, ReviewerServices

BIG = os.urandom(3 * 1024 * 1024 + 7)  # past three runs of chunks: the workers take part


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_test_settings(tmp_path, TIPBOX_CRYPTO_THREADS="3")


def crypto_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("tipbox-crypto")]


def test_the_default_is_one_thread_and_zero_is_refused(tmp_path: Path) -> None:
    assert make_test_settings(tmp_path).crypto_threads == 1
    with pytest.raises(ConfigError, match="TIPBOX_CRYPTO_THREADS"):
        make_test_settings(tmp_path, TIPBOX_CRYPTO_THREADS="0")


def test_a_large_file_round_trips_on_several_threads(
    services: ReviewerServices, admin: Person, instance: Instance
) -> None:
    assert instance.settings.crypto_threads == 3
    submitted = submit(instance, files={"big.bin": BIG})
    _, session = login(services, admin)
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    download = services.inbox.open_file(submitted.source_id, entries[1].id,
                                        session.identities(), reviewer="admin")
    assert (download.name, download.size) == ("big.bin", len(BIG))
    assert b"".join(download.chunks) == BIG
    assert crypto_threads() == []


def test_a_download_left_half_way_ends_its_threads(
    services: ReviewerServices, admin: Person, instance: Instance
) -> None:
    submitted = submit(instance, files={"big.bin": BIG})
    _, session = login(services, admin)
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    download = services.inbox.open_file(submitted.source_id, entries[1].id,
                                        session.identities(), reviewer="admin")
    chunks = iter(download.chunks)
    for _ in range(20):
        next(chunks)
    assert crypto_threads()
    chunks.close()  # type: ignore[attr-defined]  # what the WSGI server does on a hang-up
    assert crypto_threads() == []


def test_an_upload_aborted_half_way_ends_its_threads(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    upload = draft.open_file("half.bin", "application/octet-stream")
    for start in range(0, len(BIG), 1 << 20):
        upload.write(BIG[start : start + (1 << 20)])
    draft.abort()
    assert crypto_threads() == []
    assert os.listdir(instance.settings.blobs_dir) == []
