"""The full loop through the two real apps (issue 4, "must show").

A source submits a message and a file through the source app; a reviewer
logs in with a TOTP code computed here, reads the message, downloads the
file byte-identical and replies; the source logs in with its codename,
reads the reply and deletes it.
"""

from __future__ import annotations

import io
import re

from reviewer_kit import ReviewerSite, csrf, csrf_of

from tipbox.source import create_source_app
from tipbox.web import instance as app_instance

_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')
DOCUMENT = bytes(range(256)) * 3000 + b"the end"


def test_source_to_reviewer_and_back(site: ReviewerSite) -> None:
    source_app = create_source_app(site.services.instance.settings)
    try:
        run_loop(site, source_app)
    finally:
        with source_app.app_context():
            app_instance().close()


def run_loop(site: ReviewerSite, source_app) -> None:  # noqa: ANN001 - a Flask app
    source = source_app.test_client()
    # 1. The source submits a message and a document.
    token = csrf_of(source.get("/submit").get_data(as_text=True))
    response = source.post("/submit", follow_redirects=True,
                           content_type="multipart/form-data", data={
        "csrf_token": token, "message": "Minister X took bribes <b>really</b>",
        "files": (io.BytesIO(DOCUMENT), "accounts 2025.xlsx")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    match = _CODENAME.search(response.get_data(as_text=True))
    assert match is not None
    codename = match.group(1)

    # 2. The reviewer logs in (TOTP computed by the test) and finds the source.
    reviewer = site.client()
    site.log_in(reviewer)
    inbox = reviewer.get("/").get_data(as_text=True)
    link = re.search(r'href="(/sources/\d+)">([a-z\- ]+)</a>', inbox)
    assert link is not None

    # 3. Reads the message (escaped) and downloads the file byte-identical.
    page = reviewer.get(link.group(1)).get_data(as_text=True)
    assert "Minister X took bribes &lt;b&gt;really&lt;/b&gt;" in page
    assert "accounts 2025.xlsx" in page
    download = re.search(r'href="(/sources/\d+/items/\d+/download)"', page)
    assert download is not None
    response = reviewer.get(download.group(1))
    assert response.data == DOCUMENT
    assert response.headers["Content-Disposition"].startswith("attachment;")

    # 4. Replies.
    response = reviewer.post(f"{link.group(1)}/reply", data={
        "csrf_token": csrf_of(page), "reply": "Thank you. Can you send the 2024 accounts?"})
    assert response.status_code == 303

    # 5. The source logs in with its codename, reads the reply, deletes it.
    response = source.post("/login", data={
        "csrf_token": csrf(source, "/login"), "codename": codename})
    assert response.status_code == 303
    replies = source.get("/replies").get_data(as_text=True)
    assert "Can you send the 2024 accounts?" in replies
    reply_id = re.search(r'name="reply_id" value="(\d+)"', replies)
    assert reply_id is not None
    response = source.post("/replies/delete", data={
        "csrf_token": csrf_of(replies), "reply_id": reply_id.group(1)})
    assert response.status_code == 303
    assert "Can you send the 2024 accounts?" not in source.get("/replies").get_data(as_text=True)

    # The newsroom keeps its copy, marked as deleted by the source.
    page = reviewer.get(link.group(1)).get_data(as_text=True)
    assert "Can you send the 2024 accounts?" in page
    assert "Deleted by the source around" in page
