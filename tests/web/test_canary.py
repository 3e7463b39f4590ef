"""No plaintext anywhere: a canary in the message, file content and file name.

The file is over 5 MiB, past the size at which Werkzeug's default parser
would spool it to a temporary file. The request body is built in memory
(the test client's own encoder would spool it to a temp file itself).
Afterwards the canary must not appear, plain, UTF-16 or base64, in any file
under the data dir, the keys dir or the system temp dir, nor in any log
record; and the recovery key must give back exactly what was sent.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

BOUNDARY = "----canaryboundary"


def canary_forms(canary: str) -> list[bytes]:
    raw = canary.encode()
    forms = [raw, canary.encode("utf-16-le"), canary.encode("utf-16-be")]
    for shift in range(3):  # base64 of the canary at each alignment
        encoded = base64.b64encode(b"\0" * shift + raw)
        forms.append(encoded[4:-4] if shift else encoded[:-4])
        forms.append(base64.urlsafe_b64encode(b"\0" * shift + raw)[4:-4])
    return [form for form in forms if len(form) >= 16]


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                if path.is_file() and not path.is_symlink():
                    yield path


def contains_any(path: Path, needles: list[bytes]) -> bool:
    overlap = max(len(needle) for needle in needles)
    tail = b""
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                window = tail + chunk
                if any(needle in window for needle in needles):
                    return True
                tail = window[-overlap:]
    except OSError:
        return False
    return False


def multipart_body(token: str, message: str, filename: str, content: bytes) -> bytes:
    def part(headers: str, value: bytes) -> bytes:
        return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + value + b"\r\n"

    return b"".join([
        part('Content-Disposition: form-data; name="csrf_token"', token.encode()),
        part('Content-Disposition: form-data; name="message"', message.encode()),
        part(f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
             "Content-Type: application/pdf", content),
        f"--{BOUNDARY}--\r\n".encode(),
    ])


def test_canary_leaves_no_plaintext(
    client: FlaskClient, token: Callable[..., str], site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "canary-" + secrets.token_hex(16)
    message = f"The report is at {canary}. Щ ünïcode"
    filename = f"leak-{canary}.pdf"
    content = (canary.encode() + os.urandom(4000)) * 1300  # ~5.2 MiB
    assert len(content) >= 5 * 1024 * 1024
    body = multipart_body(token(), message, filename, content)
    response = client.post(
        "/submit", input_stream=io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        content_length=len(body),
    )
    assert (response.status_code, response.location) == (303, "/submit/receipt")
    del body
    receipt = client.get("/submit/receipt")
    assert receipt.status_code == 200
    assert filename in receipt.get_data(as_text=True)

    needles = canary_forms(canary)
    roots = [site.settings.data_dir, site.settings.keys_dir, Path(tempfile.gettempdir())]
    leaks = [path for path in files_under(*roots) if contains_any(path, needles)]
    assert leaks == []
    assert not any(canary in record.getMessage() for record in caplog.records)

    items = {kind: data for _, kind, data in site.decrypt_items()}
    assert items["message"].decode() == message
    assert items["file"] == content
    manifest = json.loads(items["manifest"])
    assert [entry["name"] for entry in manifest["files"]] == [filename]
    assert manifest["files"][0]["content_type"] == "application/pdf"
