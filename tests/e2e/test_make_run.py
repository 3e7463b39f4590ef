"""``make run`` on a fresh instance, a scripted session of every action, and a log scan.

Issue 6, "Must show": the real Makefile target runs in the background
against temporary directories (the venv is the one ``make test`` built);
the first admin's credentials are read from its first-start output; a
source and a reviewer then do, over plain HTTP with a unique
``User-Agent``, everything either of them can do; Ctrl-C stops it all.

Then the log (make's stdout and stderr, which carry both gunicorns' error
logs, plus any log-like file written under the temporary directory, and the
audit log table) must hold no IP address but in the two lines that announce
where the apps listen, no user agent, no codename, no password chosen by the
reviewer and no submitted text, plain, UTF-16 or base64. Every other file
written under the temporary directory (database, blobs, temp files) is
scanned for the same secrets except addresses.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import CHEAP_ARGON2, free_port
from tests.e2e.make_run_kit import (
    ROOT,
    Client,
    FirstAdmin,
    MakeRun,
    addresses_in,
    files_under,
    is_log_like,
    leaks_in,
    make_env,
    parse_first_admin,
    port_open,
    send_raw,
)
from tipbox.services.accounts.totp import TOTP_STEP_SECONDS, totp_code

_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([^<]+)</strong></p>')
_SOURCE_LINK = re.compile(r'href="/sources/(\d+)"')
_REPLY_ID = re.compile(r'name="reply_id" value="(\d+)"')
_ITEM = re.compile(r'<li class="entry (\w+)[^"]*" id="item-(\d+)">')


@dataclass
class Session:
    """What the scripted session used and saw, for the assertions and the scan."""

    base: Path
    run: MakeRun
    source_port: int
    reviewer_port: int
    secrets: dict[str, str] = field(default_factory=dict)
    exit_status: int | None = None
    stop_seconds: float = 0.0


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    if shutil.which("make") is None:
        if os.environ.get("CI"):
            pytest.fail("make is not installed")
        pytest.skip("make is not installed")
    if subprocess.run(["make", "-C", str(ROOT), "-q", ".venv/.installed"],
                      capture_output=True, env=make_env(dict(os.environ))).returncode != 0:
        # `make run` would (re)install the venv from the network: not in a test.
        if os.environ.get("CI"):
            pytest.fail(".venv is missing or out of date; run `make test`")
        pytest.skip(".venv is missing or out of date (run make first)")
    base = tmp_path_factory.mktemp("make-run")
    (base / "tmp").mkdir()
    source_port, reviewer_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")}
    env = make_env(env, **CHEAP_ARGON2, TIPBOX_DATA_DIR=str(base / "data"),
                   TIPBOX_KEYS_DIR=str(base / "keys"),
                   TIPBOX_SOURCE_BIND=f"127.0.0.1:{source_port}",
                   TIPBOX_REVIEWER_BIND=f"127.0.0.1:{reviewer_port}",
                   TIPBOX_MIN_FREE_BYTES="0", TIPBOX_DEV="1", TMPDIR=str(base / "tmp"))
    run = MakeRun(env=env, log=base / "make-run.log")
    run.start()
    try:
        result = Session(base, run, source_port, reviewer_port)
        run.wait_for_output(r"^Reviewer app on ")
        admin = parse_first_admin(run.output())
        run.wait_ready(source_port, "/")
        run.wait_ready(reviewer_port, "/login")
        play(result, admin)
        stop_started = time.monotonic()
        result.exit_status = run.interrupt()
        result.stop_seconds = time.monotonic() - stop_started
        yield result
    finally:
        run.kill_everything()


def play(session: Session, admin: FirstAdmin) -> None:
    """Every source and reviewer action, checking each answer on the way."""
    tag = secrets.token_hex(8)
    found = session.secrets
    found.update(
        user_agent=f"TipboxCanaryAgent/{secrets.token_hex(12)}",
        message=f"message-canary-{tag}-{secrets.token_hex(8)}",
        file_name=f"filename-canary-{tag}-{secrets.token_hex(8)}",
        file_content=f"file-canary-{tag}-{secrets.token_hex(8)}",
        anonymous=f"anonymous-canary-{tag}-{secrets.token_hex(8)}",
        follow_up=f"follow-up-canary-{tag}-{secrets.token_hex(8)}",
        reply=f"reply-canary-{tag}-{secrets.token_hex(8)}",
        forged=f"forged-canary-{tag}-{secrets.token_hex(8)}",
        wrong_codename=f"wrong codename canary {tag}",
        new_password=f"new password canary {tag} {secrets.token_hex(8)}",
        changed_password=f"changed password canary {tag} {secrets.token_hex(8)}",
        wrong_password=f"wrong password canary {tag} {secrets.token_hex(8)}",
    )
    agent = found["user_agent"]
    file_name = f"{found['file_name']}.txt"
    file_content = f"first line\n{found['file_content']}\n".encode() + os.urandom(3000)

    def source() -> Client:
        return Client(session.source_port, agent)

    # A source: reads the pages, submits a message and a file, gets a codename.
    first = source()
    assert first.get("/").status == 200
    assert first.get("/public-key").text.startswith("age1")
    submitted = first.post_multipart("/submit", {"message": found["message"]},
                                     [(file_name, file_content)], token_from="/submit")
    assert (submitted.status, submitted.location) == (303, "/submit/receipt"), submitted.text
    submitted = first.get("/submit/receipt")
    assert submitted.status == 200, submitted.text
    match = _CODENAME.search(submitted.text)
    assert match is not None, "no codename on the receipt page"
    found["codename"] = match.group(1)
    # Another source, without a codename; and a mistyped codename.
    anonymous = source()
    received = anonymous.post_multipart("/submit", {"message": found["anonymous"],
                                                    "no_codename": "1"}, [],
                                        token_from="/submit")
    assert (received.status, received.location) == (303, "/submit/receipt")
    received = anonymous.get("/submit/receipt")
    assert received.status == 200
    assert _CODENAME.search(received.text) is None
    assert anonymous.post("/login", {"codename": found["wrong_codename"]},
                          token_from="/login").status == 403
    # Refused submissions: no CSRF token, and nothing in it.
    forged = anonymous.request("POST", "/submit", f"message={found['forged']}".encode(),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert forged.status == 400
    assert anonymous.post_multipart("/submit", {"message": " "}, [],
                                    token_from="/submit").status == 400

    # The first admin: a wrong password, then enrolment with the one-time password.
    reviewer = Client(session.reviewer_port, agent)
    assert reviewer.post("/login", {"username": admin.username, "code": "",
                                    "password": found["wrong_password"]},
                         token_from="/login").status == 403
    first_login = reviewer.post("/login", {"username": admin.username, "code": "",
                                           "password": admin.password}, token_from="/login")
    assert (first_login.status, first_login.location) == (303, "/enrol")
    assert admin.secret_text in reviewer.get("/enrol").text
    # TOTP allows one step of drift either way and never the same step twice:
    # enrol with the current step's code, log in with the next step's.
    enrolled = reviewer.post("/enrol", {
        "new_password": found["new_password"], "confirm_password": found["new_password"],
        "code": totp_code(admin.totp_secret, time.time()),
    }, token_from="/enrol")
    assert (enrolled.status, enrolled.location) == (303, "/"), enrolled.text
    logged_out = reviewer.post("/logout", {}, token_from="/")
    assert (logged_out.status, logged_out.location) == (303, "/login")
    assert reviewer.get("/").location == "/login"
    logged_in = reviewer.post("/login", {
        "username": admin.username, "password": found["new_password"],
        "code": totp_code(admin.totp_secret, time.time() + TOTP_STEP_SECONDS),
    }, token_from="/login")
    assert (logged_in.status, logged_in.location) == (303, "/"), logged_in.text

    # Inbox: two sources; find the one with a codename by its message.
    inbox = reviewer.get("/")
    ids = sorted(set(_SOURCE_LINK.findall(inbox.text)), key=int)
    assert len(ids) == 2, inbox.text
    pages = {source_id: reviewer.get(f"/sources/{source_id}").text for source_id in ids}
    named = next(i for i, page in pages.items() if found["message"] in page)
    nameless = next(i for i, page in pages.items() if found["anonymous"] in page)
    page = pages[named]
    assert file_name in page
    items = dict(_ITEM.findall(page))
    download = reviewer.get(f"/sources/{named}/items/{items['file']}/download")
    assert download.status == 200
    assert download.body == file_content
    assert "attachment" in download.headers["content-disposition"]
    export = reviewer.get(f"/sources/{named}/items/{items['file']}/export")
    assert export.body.startswith(b"age-encryption.org/v1\n")
    assert reviewer.get(f"/sources/{named}/zip?unread=1").body.startswith(b"PK")
    for path, fields in ((f"/sources/{named}/star", {"starred": "1"}),
                         (f"/sources/{named}/seen", {"all": "1", "seen": "1"}),
                         (f"/sources/{named}/reply", {"reply": found["reply"]}),
                         (f"/sources/{nameless}/delete", {"confirm": "yes"})):
        done = reviewer.post(path, fields, token_from=f"/sources/{named}")
        assert done.status == 303, (path, done.status, done.text)
    assert found["reply"] in reviewer.get(f"/sources/{named}").text
    assert reviewer.get(f"/sources/{nameless}").status == 404
    assert reviewer.get(f"/sources/{named}/items/999999/download").status == 404
    changed = reviewer.post("/account/password", {
        "old_password": found["new_password"], "new_password": found["changed_password"],
        "confirm_password": found["changed_password"],
    }, token_from="/account/password")
    assert changed.status == 200, changed.text
    assert "Your password was changed." in changed.text
    audit = reviewer.get("/admin/audit")
    assert audit.status == 200
    assert found["message"] not in audit.text

    # The source comes back: reads the reply, sends more, deletes the reply, logs out.
    back = source()
    entered = back.post("/login", {"codename": found["codename"]}, token_from="/login")
    assert (entered.status, entered.location) == (303, "/replies")
    replies = back.get("/replies").text
    assert found["reply"] in replies
    reply_id = _REPLY_ID.search(replies)
    assert reply_id is not None
    more = back.post_multipart("/submit", {"message": found["follow_up"]}, [],
                               token_from="/replies")
    assert (more.status, more.location) == (303, "/submit/receipt")
    more = back.get("/submit/receipt")
    assert more.status == 200
    assert _CODENAME.search(more.text) is None
    deleted = back.post("/replies/delete", {"reply_id": reply_id.group(1)},
                        token_from="/replies")
    assert (deleted.status, deleted.location) == (303, "/replies")
    assert found["reply"] not in back.get("/replies").text
    left = back.post("/logout", {}, token_from="/replies")
    assert (left.status, left.location) == (303, "/logged-out")  # the closing advice
    assert back.get("/replies").location == "/login"

    # The reviewer sees the follow-up, deletes it, logs out.
    page = reviewer.get(f"/sources/{named}").text
    assert found["follow_up"] in page
    newest = max(int(item) for kind, item in _ITEM.findall(page) if kind == "message")
    asked = reviewer.post(f"/sources/{named}/items/{newest}/delete", {},
                          token_from=f"/sources/{named}")
    assert asked.status == 200
    assert "This cannot be undone." in asked.text
    assert found["follow_up"] in reviewer.get(f"/sources/{named}").text
    gone = reviewer.post(f"/sources/{named}/items/{newest}/delete", {"confirm": "yes"},
                         token_from=f"/sources/{named}")
    assert gone.status == 303
    assert found["follow_up"] not in reviewer.get(f"/sources/{named}").text
    out = reviewer.post("/logout", {}, token_from="/")
    assert (out.status, out.location) == (303, "/login")
    assert "clear-site-data" in out.headers
    assert reviewer.get("/").location == "/login"

    # A malformed request on each port: gunicorn logs it, with the address blanked.
    for port in (session.source_port, session.reviewer_port):
        assert b"400" in send_raw(port, b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n").split(b"\r\n")[0]


def announcements(session: Session) -> set[str]:
    """The only lines allowed to carry an address: where the two apps listen."""
    return {
        f"Source app on http://127.0.0.1:{session.source_port}/ (Ctrl-C to stop).",
        f"Reviewer app on http://127.0.0.1:{session.reviewer_port}/",
    }


def test_make_run_serves_both_apps_and_stops_on_ctrl_c(session: Session) -> None:
    output = session.run.output()
    # GNU make waits for its child, then re-raises the SIGINT: killed by SIGINT
    # (or 0) is make's normal Ctrl-C exit; a failing `tipbox run` shows below.
    assert session.exit_status in (0, -2, 130), (session.exit_status, session.run.tail())
    assert "Stopping..." in output, session.run.tail()
    for failure in ("Traceback", "A server stopped"):
        assert failure not in output, session.run.tail()
    # make reports a failed recipe ("Error 1") even when interrupted.
    assert re.search(r"^make(\[\d+\])?: \*\*\*", output, re.MULTILINE) is None, \
        session.run.tail()
    assert not port_open(session.source_port)
    assert not port_open(session.reviewer_port)
    assert session.run.server_pids() == [], "server processes left behind"
    lines = output.splitlines()
    for announced in announcements(session):
        assert lines.count(announced) == 1, session.run.tail()
    assert session.stop_seconds < 45


def test_no_log_line_holds_an_address_agent_codename_or_submitted_text(
    session: Session,
) -> None:
    leaked = session.secrets
    assert {"codename", "user_agent", "message", "reply"} <= leaked.keys()
    logs = [session.run.log] + [path for path in files_under(session.base)
                                if is_log_like(path) and path != session.run.log]
    allowed = announcements(session)
    problems = []
    request_lines = 0
    for log in logs:
        for number, line in enumerate(log.read_text("utf-8", errors="replace").splitlines(), 1):
            if line in allowed and log == session.run.log:
                continue
            request_lines += "ip=[not recorded]" in line
            if addresses_in(line):
                problems.append(f"{log.name}:{number}: address in {line!r}")
            if "ip=[not recorded]" in line and re.search(r"\d\d:\d\d:\d\d", line):
                problems.append(f"{log.name}:{number}: exact time in {line!r}")
    problems += [f"{path.relative_to(session.base)}: {label}"
                 for path in files_under(session.base)
                 for label in leaks_in(path, leaked)]
    database = session.base / "data" / "tipbox.db"
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT * FROM audit_log").fetchall()
    finally:
        connection.close()
    assert len(rows) >= 8
    for row in rows:
        text = " ".join(str(value) for value in row)
        if addresses_in(text) or any(secret in text for secret in leaked.values()):
            problems.append(f"audit_log: {row!r}")
    assert not problems, "\n".join(problems)
    # Both malformed requests were logged, so request-time lines were scanned.
    assert request_lines == 2, session.run.tail()
