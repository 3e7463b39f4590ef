"""Hostile input: each gets its specific status and page, and nothing is stored."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

BOUNDARY = b"----tipboxtestboundary"
MAX_UPLOAD = 8 * 1024 * 1024  # see conftest
MAX_FILES = 3


def raw_part(name: bytes, value: bytes, filename: bytes | None = None,
             content_type: bytes = b"application/octet-stream") -> bytes:
    disposition = b'form-data; name="' + name + b'"'
    headers = b""
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
        headers = b"Content-Type: " + content_type + b"\r\n"
    return (b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n"
            + headers + b"\r\n" + value + b"\r\n")


def raw_body(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (b"--" + BOUNDARY + b"--\r\n" if close else b"")


def post_raw(client: FlaskClient, body: bytes, content_type: str | None = None,
             path: str = "/submit") -> tuple[int, str]:
    content_type = content_type or f"multipart/form-data; boundary={BOUNDARY.decode()}"
    response = client.post(path, data=body, content_type=content_type, follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def post_form(client: FlaskClient, data: dict[str, object],
              path: str = "/submit") -> tuple[int, str]:
    response = client.post(path, data=data, content_type="multipart/form-data",
                           follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def test_missing_csrf_token(client: FlaskClient, site) -> None:
    status, page = post_form(client, {"message": "hi", "files": [(io.BytesIO(b"x" * 10), "a")]})
    assert status == 400
    assert "This form has expired" in page
    site.assert_nothing_stored()


def test_invalid_csrf_token(client: FlaskClient, token: Callable[..., str], site) -> None:
    token()  # the session has a real token; the form sends another one
    status, page = post_form(client, {"csrf_token": "IjEyMyI.forged.token", "message": "hi",
                                      "files": [(io.BytesIO(b"x" * 10), "a")]})
    assert status == 400
    assert "This form has expired" in page
    site.assert_nothing_stored()


def test_csrf_token_from_another_session(site, token: Callable[..., str]) -> None:
    stolen = token()
    other = site.app.test_client()
    status, page = post_form(other, {"csrf_token": stolen, "message": "hi"})
    assert status == 400
    assert "This form has expired" in page
    site.assert_nothing_stored()


def test_csrf_on_every_post_route(client: FlaskClient, site) -> None:
    for path in ("/submit", "/login", "/logout", "/replies/delete"):
        response = client.post(path, data={"codename": "x", "reply_id": "1"})
        assert response.status_code == 400, path
        assert "This form has expired" in response.get_data(as_text=True)


def test_oversized_content_length_is_refused_before_a_draft_starts(
    client: FlaskClient, token: Callable[..., str], site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_draft(*_: object) -> None:
        raise AssertionError("a draft was started for an oversized body")

    csrf = token()
    monkeypatch.setattr(site.instance.submissions, "start", no_draft)
    body = raw_body(raw_part(b"csrf_token", csrf.encode()),
                    raw_part(b"files", b"x" * 1000, b"big.bin"))
    response = client.post(
        "/submit", data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}",
        environ_overrides={"CONTENT_LENGTH": str(20 * MAX_UPLOAD)},
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    site.assert_nothing_stored()


def test_files_over_the_limit_while_streaming(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    # Within the body limit (which has room for framing), over the file limit.
    files = [(io.BytesIO(b"x" * (MAX_UPLOAD // 2 + 1)), f"f{i}") for i in range(2)]
    status, page = post_form(client, {"csrf_token": token(), "files": files})
    assert status == 413
    assert "too large" in page
    site.assert_nothing_stored()


def test_message_too_long(client: FlaskClient, token: Callable[..., str], site) -> None:
    status, page = post_form(client, {"csrf_token": token(), "message": "é" * 2001})
    assert status == 413
    assert "too large" in page
    status, page = post_form(client, {"csrf_token": token(), "message": "x" * 100_000})
    assert status == 413
    site.assert_nothing_stored()


def test_too_many_files(client: FlaskClient, token: Callable[..., str], site) -> None:
    files = [(io.BytesIO(b"x"), f"f{i}.txt") for i in range(MAX_FILES + 1)]
    status, page = post_form(client, {"csrf_token": token(), "message": "hi", "files": files})
    assert status == 413
    assert "Too many files" in page
    site.assert_nothing_stored()


@pytest.mark.parametrize(
    "filename",
    [b"../../etc/passwd", b"..", b"a/b.txt", b"a\\\\b.txt", b"nul\x00byte.txt", b"x" * 2000,
     b"bad\xff\xfeutf8.txt", b"\xc3(", b"tab\tname", "\u202etxt.exe".encode()],
    ids=["dotdot", "dots", "slash", "backslash", "nul", "2000chars", "bad-utf8",
         "bad-utf8-2", "control", "bidi"],
)
def test_hostile_file_names(client: FlaskClient, token: Callable[..., str], site,
                            filename: bytes) -> None:
    body = raw_body(raw_part(b"csrf_token", token().encode()),
                    raw_part(b"message", b"hello"),
                    raw_part(b"files", b"content", filename))
    status, page = post_raw(client, body)
    assert status == 400
    assert "file name could not be accepted" in page
    site.assert_nothing_stored()


def test_percent_encoded_utf8_file_name_is_accepted(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    part = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"files\"; "
            b"filename*=UTF-8''%D0%B4%D0%BE%D0%BA.pdf\r\n\r\ncontent\r\n")
    body = raw_body(raw_part(b"csrf_token", token().encode()), part)
    status, _ = post_raw(client, body)
    assert status == 200
    assert site.submission_count() == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not multipart at all", None),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"files\"; "
         b"filename=\"a\"\r\n\r\nunterminated", None),
        (raw_body(b"--" + BOUNDARY + b"\r\nno-disposition: x\r\n\r\nvalue\r\n"), None),
        (b"PREAMBLE", None),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"a\"\r\n"
         + b"X-Long: " + b"y" * 200_000, None),
        (raw_body(raw_part(b"message", b"\xff\xfe bad text")), None),
        (raw_body(raw_part(b"message", b"hi")), "multipart/form-data"),
        (raw_body(raw_part(b"message", b"hi")), "multipart/form-data; boundary=\u00e9"),
    ],
    ids=["garbage", "truncated", "no-disposition", "endless-preamble", "endless-headers",
         "bad-utf8-field", "no-boundary", "non-ascii-boundary"],
)
def test_malformed_multipart(client: FlaskClient, token: Callable[..., str], site,
                             body: bytes, content_type: str | None) -> None:
    csrf = raw_part(b"csrf_token", token().encode())
    if body == b"PREAMBLE":  # an endless preamble: no boundary ever comes
        body, csrf = b"x" * 200_000 + csrf, b""
    status, page = post_raw(client, csrf + body, content_type)
    assert status == 400
    assert "could not be read" in page
    site.assert_nothing_stored()


def test_too_many_fields(client: FlaskClient, token: Callable[..., str], site) -> None:
    fields = [raw_part(b"f%d" % i, b"v") for i in range(100)]
    status, page = post_raw(client, raw_body(raw_part(b"csrf_token", token().encode()), *fields))
    assert status == 400
    assert "could not be read" in page
    site.assert_nothing_stored()


def test_files_where_none_are_accepted(client: FlaskClient, token: Callable[..., str],
                                       site) -> None:
    body = raw_body(raw_part(b"csrf_token", token("/login").encode()),
                    raw_part(b"codename", b"a b c"),
                    raw_part(b"files", b"payload", b"a.txt"))
    status, page = post_raw(client, body, path="/login")
    assert status == 400
    assert "could not be read" in page
    site.assert_nothing_stored()


@pytest.mark.parametrize(
    "fields",
    [{}, {"message": ""}, {"message": "   \n\t "},
     {"message": "", "files": [(io.BytesIO(b""), "")]},
     {"message": "", "files": [(io.BytesIO(b""), "empty.txt")]}],
    ids=["nothing", "empty-message", "blank-message", "no-file-chosen", "empty-file"],
)
def test_empty_submission(client: FlaskClient, token: Callable[..., str], site,
                          fields: dict[str, object]) -> None:
    status, page = post_form(client, {"csrf_token": token(), **fields})
    assert status == 400
    assert "Nothing was sent" in page
    site.assert_nothing_stored()


def test_unselected_file_input_is_ignored(client: FlaskClient, token: Callable[..., str],
                                          site) -> None:
    # What a browser sends for <input type=file> left empty: filename="" and no data.
    body = raw_body(raw_part(b"csrf_token", token().encode()),
                    raw_part(b"message", b"just text"),
                    raw_part(b"files", b"", b""))
    status, _ = post_raw(client, body)
    assert status == 200
    assert site.submission_count() == 1


def test_urlencoded_submission_without_files(client: FlaskClient, token: Callable[..., str],
                                             site) -> None:
    response = client.post("/submit", data={"csrf_token": token(), "message": "plain form"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert site.submission_count() == 1


def test_disk_low_is_507(make_site: Callable[..., object]) -> None:
    site = make_site(TIPBOX_MIN_FREE_BYTES=str(2**62))
    client = site.app.test_client()  # type: ignore[attr-defined]
    # /submit shows no form while the disk is low; a client posting anyway
    # (a page loaded earlier) takes its token from another form.
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    status, page = post_form(client, {"csrf_token": csrf, "message": "hi",
                                      "files": [(io.BytesIO(b"x" * 100), "a.txt")]})
    assert status == 507
    assert "short of space" in page
    site.assert_nothing_stored()  # type: ignore[attr-defined]


def test_storage_error_mid_upload_is_not_a_crash(
    client: FlaskClient, token: Callable[..., str], site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tipbox.errors import StorageFull
    from tipbox.services.submissions.intake import FileUpload

    def full(self: FileUpload, data: bytes) -> int:
        raise StorageFull("disk full")

    monkeypatch.setattr(FileUpload, "write", full)
    status, page = post_form(client, {"csrf_token": token(),
                                      "files": [(io.BytesIO(b"x" * 100), "a.txt")]})
    assert status == 507
    site.assert_nothing_stored()


class StallingStream(io.RawIOBase):
    """Gives ``data`` then times out, like a stalled client under the idle timeout."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:  # the test client rewinds
        return 0

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if not self.data:
            raise TimeoutError("timed out")
        size = min(len(buffer), len(self.data))
        buffer[:size], self.data = self.data[:size], self.data[size:]
        return size


def test_stalled_client_is_dropped_and_nothing_stored(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    body = raw_body(raw_part(b"csrf_token", token().encode()),
                    raw_part(b"files", b"x" * 300_000, b"a.bin"))
    cut = body[: len(body) // 2]
    response = client.post(
        "/submit", input_stream=StallingStream(cut), content_length=len(body),
        content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}",
    )
    assert response.status_code == 400
    site.assert_nothing_stored()


@pytest.mark.parametrize("order", ["bad-token", "no-token", "files-first"])
def test_no_file_byte_is_stored_before_a_valid_token(
    client: FlaskClient, token: Callable[..., str], site, monkeypatch: pytest.MonkeyPatch,
    order: str,
) -> None:
    from tipbox.services.submissions.intake import SubmissionDraft

    def never(*_: object) -> None:
        raise AssertionError("a file reached the draft before the CSRF token was checked")

    good = token().encode()
    monkeypatch.setattr(SubmissionDraft, "open_file", never)
    file_part = raw_part(b"files", b"x" * 1000, b"a.txt")
    parts = {
        "bad-token": [raw_part(b"csrf_token", b"forged"), file_part],
        "no-token": [raw_part(b"message", b"hi"), file_part],
        "files-first": [file_part, raw_part(b"csrf_token", good)],
    }[order]
    status, page = post_raw(client, raw_body(*parts))
    assert status == 400
    assert "This form has expired" in page
    site.assert_nothing_stored()


def test_limits_lowered_by_an_admin_apply_to_the_next_request_without_restart(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    site.instance.instance_settings.update({"max_files": "1", "max_upload_bytes": "1000"})
    files = [(io.BytesIO(b"x"), f"f{i}.txt") for i in range(2)]
    status, page = post_form(client, {"csrf_token": token(), "message": "hi", "files": files})
    assert status == 413
    assert "Too many files" in page
    big = [(io.BytesIO(b"x" * 5000), "big.bin")]
    status, _ = post_form(client, {"csrf_token": token(), "message": "hi", "files": big})
    assert status == 413
    site.assert_nothing_stored()
    assert "1 file" in client.get("/submit").get_data(as_text=True)
