"""File names end to end: the inbox shows exactly the name the download saves.

A source uploads files whose names broke before (issue 11: an extension cut
off at 150 characters, invisible format characters, ``:``, Windows device
names, trailing dots); the reviewer's conversation page, the download's
``Content-Disposition`` and the zip all carry the one filtered name. Items
stored before the filter existed display and download the same way.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import ReviewerSite, csrf_of, submit

from tests.domain.test_file_names import file_names
from tipbox.reviewer.downloads import content_disposition
from tipbox.services.submissions import intake as submissions
from tipbox.services.submissions.file_names import (
    FileNameRefused,
    filter_file_name,
    saved_file_name,
)
from tipbox.source import create_source_app
from tipbox.web import instance as app_instance

NAMES = [
    "Служебная записка о закупках " * 8 + "scan.pdf",  # over 255 bytes: shortened
    "scan\u200f.pdf",  # RLM
    "sc\u200ban.pdf",  # ZWSP
    "sc\u00adan.pdf",  # soft hyphen
    "scan\U000e0001\U000e0065\U000e006e.pdf",  # tag characters
    "\u2764\ufe0f notes.txt",  # variation selector
    "minutes 10:30.txt",
    "CON.txt",
    "lpt1",
    "report.pdf. ",
    "Cafe\u0301.odt",
]
_FILE = re.compile(
    r'<p class="file-name"><bdi>([^<]*)</bdi>.*?'
    r'href="(/sources/\d+/items/\d+/download)"', re.DOTALL)
_STAR = re.compile(r"filename\*=UTF-8''(\S+)$")


@pytest.fixture
def source(site: ReviewerSite) -> Iterator[FlaskClient]:
    """A client of the source app on the same instance as the reviewer site."""
    app: Flask = create_source_app(site.services.instance.settings)
    yield app.test_client()
    with app.app_context():
        app_instance().close()


def shown_and_saved(reviewer: FlaskClient, source_id: int) -> list[tuple[str, str, bytes]]:
    """Each file of the conversation: the name shown, the name saved, the bytes."""
    page = reviewer.get(f"/sources/{source_id}").get_data(as_text=True)
    found = []
    for shown, link in _FILE.findall(page):
        response = reviewer.get(link)
        assert response.status_code == 200
        found.append((html.unescape(shown), saved_as(response.headers["Content-Disposition"]),
                      response.data))
    return found


def saved_as(disposition: str) -> str:
    match = _STAR.search(disposition)
    assert match is not None, disposition
    return unquote(match.group(1), errors="strict")


def only_source_id(site: ReviewerSite) -> int:
    with site.services.instance.store.db.connection() as conn:
        (source_id,) = conn.execute("SELECT id FROM sources").fetchone()
    return int(source_id)


def test_the_inbox_shows_the_name_the_download_saves(
    site: ReviewerSite, source: FlaskClient
) -> None:
    contents = [f"file {number}".encode() for number in range(len(NAMES))]
    token = csrf_of(source.get("/submit").get_data(as_text=True))
    response = source.post("/submit", follow_redirects=True,
                           content_type="multipart/form-data", data={
        "csrf_token": token, "message": "names",
        "files": [(io.BytesIO(data), name) for name, data in zip(NAMES, contents, strict=True)]})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]

    reviewer = site.client()
    site.log_in(reviewer)
    found = shown_and_saved(reviewer, only_source_id(site))
    assert [data for _, _, data in found] == contents
    for name, (shown, saved, _) in zip(NAMES, found, strict=True):
        assert shown == saved == filter_file_name(name)
    shown = [name for name, _, _ in found]
    assert shown[0].endswith(".pdf")
    assert len(shown[0].encode()) <= 254
    assert shown[1:] == ["scan.pdf", "scan.pdf", "scan.pdf", "scan.pdf", "\u2764 notes.txt",
                         "minutes 10_30.txt", "_CON.txt", "_lpt1", "report.pdf", "Café.odt"]


def test_zip_members_are_the_names_shown(site: ReviewerSite) -> None:
    submitted = submit(site.services.instance,
                       files={"CON.txt": b"one", "C\u200bON.txt": b"two", "a:b.pdf": b"three"})
    reviewer = site.client()
    site.log_in(reviewer)
    response = reviewer.get(f"/sources/{submitted.source_id}/zip?unread=1")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert members["_CON.txt"] == b"one"
    assert members["_CON (2).txt"] == b"two"
    assert members["a_b.pdf"] == b"three"


OLD_NAMES = [  # what the check before this filter accepted and stored as given
    "x\u200by:CON.txt",
    "я" * 200 + ".pdf",
    'q"<>|?*.txt',
    "NUL",
    ".hidden. ",
    "\u200b\u200b",
]


def test_items_stored_before_the_filter_show_and_save_one_safe_name(
    site: ReviewerSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old_code:
        old_code.setattr(submissions, "filter_file_name", lambda name: name)
        submitted = submit(site.services.instance,
                           files={name: name.encode() for name in OLD_NAMES})
    reviewer = site.client()
    site.log_in(reviewer)
    found = shown_and_saved(reviewer, submitted.source_id)
    assert [data for _, _, data in found] == [name.encode() for name in OLD_NAMES]
    for shown, saved, _ in found:
        assert shown == saved
        assert filter_file_name(saved) == saved
    assert [saved for _, saved, _ in found][:5] == [
        "xy_CON.txt", "я" * 124 + ".pdf", "q______.txt", "_NUL", "hidden"]
    assert re.fullmatch(r"file-\d+", found[5][1])


SETTINGS = settings(
    max_examples=1500, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)


@SETTINGS
@given(name=file_names())
def test_content_disposition_carries_the_filtered_name_unchanged(name: str) -> None:
    try:
        shown = filter_file_name(name)
    except FileNameRefused:
        return
    assert saved_as(content_disposition(shown)) == shown


@SETTINGS
@given(name=st.one_of(file_names(), st.text(st.characters(codec=None, exclude_categories=()))))
def test_content_disposition_is_safe_for_any_name(name: str) -> None:
    value = content_disposition(name)
    assert value.isascii()
    assert "\r" not in value
    assert "\n" not in value
    fallback = value.split("filename*=")[0]
    assert fallback.count('"') == 2
    assert "/" not in fallback
    assert saved_as(value) == saved_file_name(name, fallback="download")
