"""The reviewer app's JSON API over real HTTP, under the shipped gunicorn configuration.

A script's day: a token from username, password and TOTP code; the sources
list and its filters; a source's decrypted messages and files; a star; a
reply; a file's bytes as an attachment; the source deleted; the token
deleted. Every refusal on the way is JSON, and the services write the same
audit rows as the pages.
"""

from __future__ import annotations

import http.client
import io
import json
import sqlite3
import time
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.servers import (
    AppServer,
    FormClient,
    init_with_first_admin,
    instance_env,
    process_env,
)
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.totp import totp_code
from tipbox.services.wiring import Instance, ReviewerServices, open_instance
from tipbox.web.app import form_limit

PASSWORD = "correct horse battery staple"
MESSAGE = "the ministry is lying about the budget"
FILE_NAME = "budget 2026.pdf"
FILE_BYTES = b"%PDF-1.4 " + bytes(range(256)) * 400


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> t.Any:
        assert self.headers.get_content_type() == "application/json", self.body[:300]
        return json.loads(self.body)


@dataclass
class ApiServer:
    settings: Settings
    server: AppServer
    totp_secret: bytes
    source_id: int

    def call(self, method: str, path: str, body: object = None, *, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Answer:
        """One request on a fresh connection; ``body`` is sent as JSON."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def token(self) -> str:
        """A token for the admin, with the code of the current TOTP step."""
        answer = self.call("POST", "/api/v1/token", {
            "username": "admin", "password": PASSWORD,
            "code": totp_code(self.totp_secret, time.time())})
        assert answer.status == 200, answer.body
        return t.cast(str, answer.json()["token"])

    def audit(self) -> list[tuple[str, str | None]]:
        connection = sqlite3.connect(f"file:{self.settings.database_path}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT action, reviewer FROM audit_log ORDER BY id")
            return [(str(action), reviewer) for action, reviewer in rows]
        finally:
            connection.close()


def _prepare(settings: Settings) -> tuple[bytes, int]:
    """The first admin enrolled (a minute ago, so the API's code is a new one) and a source."""
    _, enrolment = init_with_first_admin(settings)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        then = time.time() - 60
        pending = services.logins.login("admin", enrolment.password, "", now=then)
        services.logins.complete_enrolment(
            pending.token, PASSWORD, totp_code(enrolment.totp_secret, then), now=then)
        return enrolment.totp_secret, _submit(instance)
    finally:
        instance.close()


def _submit(instance: Instance) -> int:
    """A source's first submission: a message and a file; the source's id."""
    draft = instance.submissions.start(None)
    draft.add_message(MESSAGE)
    upload = draft.open_file(FILE_NAME, "application/pdf")
    stream = io.BytesIO(FILE_BYTES)
    while chunk := stream.read(65536):
        upload.write(chunk)
    upload.close()
    receipt = draft.commit()
    with instance.store.db.connection() as conn:
        row = conn.execute("SELECT id FROM sources WHERE designation = ?",
                           (receipt.designation,)).fetchone()
    return int(row[0])


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiServer]:
    env = instance_env(tmp_path)
    settings = load_settings(env)
    secret, source_id = _prepare(settings)
    server = AppServer("reviewer", process_env(env), tmp_path / "reviewer.log")
    server.start()
    try:
        yield ApiServer(settings, server, secret, source_id)
    finally:
        server.stop()


def test_a_script_reads_stars_replies_downloads_and_deletes(api: ApiServer) -> None:
    token = api.token()
    listed = api.call("GET", "/api/v1/sources", token=token).json()
    assert [source["id"] for source in listed["sources"]] == [api.source_id]
    assert listed["next_cursor"] is None
    assert api.call("GET", "/api/v1/sources?starred=true", token=token).json()["sources"] == []

    detail = api.call("GET", f"/api/v1/sources/{api.source_id}", token=token).json()
    message, document = detail["items"]
    assert (message["kind"], message["text"]) == ("message", MESSAGE)
    assert (document["kind"], document["name"], document["size"]) == (
        "file", FILE_NAME, len(FILE_BYTES))

    patched = api.call("PATCH", f"/api/v1/sources/{api.source_id}", {"starred": True},
                       token=token)
    assert patched.json()["source"]["starred"] is True
    starred = api.call("GET", "/api/v1/sources?starred=1&unread=1", token=token).json()
    assert [source["id"] for source in starred["sources"]] == [api.source_id]

    reply = api.call("POST", f"/api/v1/sources/{api.source_id}/replies",
                     {"text": "Thank you. Can you send the 2025 figures?"}, token=token)
    assert reply.status == 201
    replies = api.call("GET", f"/api/v1/sources/{api.source_id}", token=token).json()["replies"]
    assert [(r["id"], r["text"], r["author"]) for r in replies] == [
        (reply.json()["id"], "Thank you. Can you send the 2025 figures?", "admin")]

    content = api.call("GET", f"/api/v1/items/{document['id']}/content", token=token)
    assert content.status == 200
    assert content.body == FILE_BYTES
    assert content.headers["Content-Type"] == "application/octet-stream"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Content-Security-Policy"].endswith("; sandbox")
    assert content.headers["Content-Disposition"] == (
        "attachment; filename=\"budget 2026.pdf\"; filename*=UTF-8''budget%202026.pdf")

    assert api.call("DELETE", f"/api/v1/sources/{api.source_id}", token=token).status == 204
    assert api.call("GET", f"/api/v1/sources/{api.source_id}", token=token).status == 404
    assert api.call("DELETE", "/api/v1/token", token=token).status == 204
    assert api.call("GET", "/api/v1/sources", token=token).status == 401

    actions = [action for action, reviewer in api.audit() if reviewer == "admin"]
    for expected in ("login", "view", "reply", "download", "delete source", "logout"):
        assert expected in actions


def test_every_refusal_over_http_is_json(api: ApiServer) -> None:
    token = api.token()
    cap = form_limit(api.settings)
    refusals = [
        (api.call("GET", "/api/v1/sources"), 401, "token_refused"),
        (api.call("GET", "/api/v1/sources", token="x.y"), 401, "token_refused"),
        (api.call("GET", "/api/v1/nope", token=token), 404, "not_found"),
        (api.call("PUT", "/api/v1/token", token=token), 405, "method_not_allowed"),
        (api.call("POST", "/api/v1/token", raw=b"{", headers={
            "Content-Type": "application/json"}), 400, "json_malformed"),
        (api.call("POST", "/api/v1/token", raw=b"username=admin", headers={
            "Content-Type": "application/x-www-form-urlencoded"}), 415, "json_expected"),
        (api.call("POST", f"/api/v1/sources/{api.source_id}/replies", token=token,
                  raw=b"x" * (cap + 1), headers={"Content-Type": "application/json"}),
         413, "too_large"),
        (api.call("GET", "/api/v1/sources?sort=budget", token=token), 400, "unknown_parameter"),
        (api.call("POST", "/api/v1/token", {"username": "admin", "password": "wrong password",
                                            "code": "123456"}), 403, "login_failed"),
    ]
    for answer, status, code in refusals:
        assert (answer.status, answer.json()["error"]) == (status, code), answer.body
        assert "Set-Cookie" not in answer.headers


def test_the_login_cookie_of_the_pages_opens_nothing_under_api(api: ApiServer) -> None:
    """A browser logged in to the pages holds a live session cookie: not a token."""
    browser = FormClient(api.server.port)
    form = urlencode({"csrf_token": browser.token("/login"), "username": "admin",
                      "password": PASSWORD, "code": totp_code(api.totp_secret, time.time())})
    status, _ = browser.request("POST", "/login", form.encode(), {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303
    assert browser.request("GET", "/")[0] == 200
    assert browser.cookie is not None
    answer = api.call("GET", "/api/v1/sources", headers={"Cookie": browser.cookie})
    assert (answer.status, answer.json()["error"]) == (401, "token_refused")


def test_a_script_triages_searches_and_leaves_a_note(api: ApiServer) -> None:
    token = api.token()
    source = f"/api/v1/sources/{api.source_id}"
    changed = api.call("PATCH", source, {"status": "in_progress", "labels": ["Urgent", "legal"],
                                         "assignees": ["admin"]}, token=token)
    assert changed.status == 200, changed.body
    assert {k: changed.json()["source"][k] for k in ("status", "labels", "assignees")} == {
        "status": "in_progress", "labels": ["legal", "Urgent"], "assignees": ["admin"]}
    note = api.call("POST", f"{source}/notes", {"text": "verify with the registry"},
                    token=token)
    assert note.status == 201
    detail = api.call("GET", source, token=token).json()
    assert [(n["text"], n["author"]) for n in detail["notes"]] == [
        ("verify with the registry", "admin")]

    def listed(query: str) -> list[int]:
        answer = api.call("GET", f"/api/v1/sources?{query}", token=token)
        assert answer.status == 200, (query, answer.body)
        return [s["id"] for s in answer.json()["sources"]]

    assert listed("status=in_progress&label=urgent&assignee=me") == [api.source_id]
    assert listed("status=closed") == []
    assert listed("q=registry") == [api.source_id]  # a note's words
    assert listed("q=budget+2026.pdf") == [api.source_id]  # a file's name
    assert listed("q=nowhere-to-be-found") == []
    cleared = api.call("PATCH", source, {"labels": [], "assignees": []}, token=token)
    assert cleared.json()["source"]["labels"] == []
    for body, code in (({"status": "archived"}, "unknown_status"),
                       ({"labels": "Urgent"}, "choice_invalid"),
                       ({"labels": ["x" * 41]}, "label_too_long"),
                       ({"assignees": ["nobody"]}, "unknown_reviewer")):
        refused = api.call("PATCH", source, body, token=token)
        assert refused.status in {400, 404}, body
        assert refused.json()["error"] == code, (body, refused.body)
    assert api.call("GET", "/api/v1/sources?q=", token=token).json()["error"] == "search_empty"
    actions = [action for action, _ in api.audit()]
    assert {"set status", "label", "unlabel", "assign", "unassign", "note"} <= set(actions)
