"""Fuzzing the form handlers: hostile multipart and URL-encoded bodies, headers, names.

Two levels, each a fixed-seed (derandomized) hypothesis run:

- the streaming multipart parser (``tipbox/web/uploads.py``) fed mutated
  bodies in reads of any size: it returns bounded fields or raises one of
  its documented errors, and every file it opened is either finished or
  left to the owner to abort;
- the source app's POST routes through the Flask test client: the status is
  always one the route documents (never a 500), every response carries the
  security headers, and a refused submission stores nothing (no row, no blob,
  no temporary);
- issue 11: every part counts against a limit (empty file parts too) and a
  refusal comes at the offending part (a model of the limits says which
  error); hostile bodies (many fields, huge fields, many empty parts) sent
  honestly, chunked, with a lying or a bomb ``Content-Length`` to every POST
  route of both apps get their specific status, read at most the route's cap
  and store nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_test_settings
from tests.web.hostile_bodies import (
    BOMB_BYTES,
    MULTIPART,
    URLENCODED,
    Body,
    empty_file_part,
    multipart,
    post_rules,
    post_stream,
)
from tipbox import errors
from tipbox.reviewer import create_reviewer_app
from tipbox.services.instance import init_instance
from tipbox.services.submissions.file_names import filter_file_name
from tipbox.source import create_source_app
from tipbox.web import instance as app_instance
from tipbox.web.app import upload_limits
from tipbox.web.errors import BadFileName, MalformedUpload, TooManyFiles
from tipbox.web.uploads import DEFAULT_READ_SIZE, StreamingMultipartParser, UploadLimits

FUZZ = settings(derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
LIMITS = dict(max_files=3, max_file_bytes=4096, max_field_bytes=1024, max_fields=8,
              max_pending_bytes=2048)
#: What the parser may raise; anything else is a bug.
DOCUMENTED = (MalformedUpload, BadFileName, errors.TooLarge)

NAMES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["csrf_token", "message", "files", "no_codename", "", "x" * 300,
                     'quo"te', "semi;colon", "nul\x00", "naïve", "\u202efiles"]),
    st.text(max_size=12),
)
FILENAMES = st.one_of(
    st.none(),
    st.sampled_from(["report.pdf", "", "../../etc/passwd", "C:\\Users\\me\\leak.doc",
                     "a\x00b.txt", "x" * 300, "\u202egnp.exe", ".", "..", "résumé.odt",
                     "new\nline.txt", "%2e%2e%2fescape"]),
    st.text(max_size=24),
)
CONTENT = st.one_of(
    st.binary(max_size=600),
    st.sampled_from([b"", b"--", b"\r\n--", b"\r\n", b"\r", b"\n--BOUNDARY--\r\n", b"\xff\xfe"]),
)
CONTENT_TYPES = st.one_of(st.none(), st.sampled_from(
    ["application/pdf", "text/plain; charset=latin-1", "", "x" * 400, "ünïcode/type"]))
BOUNDARIES = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?", min_size=1,
            max_size=70),
    st.sampled_from(["", " ", "a b", "ü", "x" * 300, '"quoted"', "--"]),
)


@dataclass(frozen=True)
class Part:
    name: str | None  # None: no name parameter at all
    filename: str | None
    content_type: str | None
    content: bytes
    extra_header: bytes


PARTS = st.builds(
    Part, st.one_of(NAMES, st.none()), FILENAMES, CONTENT_TYPES, CONTENT,
    st.sampled_from([b"", b"X-Junk: 1\r\n", b"Content-Transfer-Encoding: base64\r\n",
                     b"continued\r\n", b"\x00\xff: v\r\n", b"Content-Disposition: inline\r\n"]),
)


def encode_part(part: Part, boundary: bytes) -> bytes:
    disposition = "form-data" if part.name is None else f'form-data; name="{part.name}"'
    if part.filename is not None:
        disposition += f'; filename="{part.filename}"'
    head = f"Content-Disposition: {disposition}\r\n".encode("utf-8", "surrogateescape")
    if part.content_type is not None:
        head += f"Content-Type: {part.content_type}\r\n".encode()
    return b"--" + boundary + b"\r\n" + head + part.extra_header + b"\r\n" + part.content + b"\r\n"


def encode(parts: list[Part], boundary: bytes, *, closed: bool = True) -> bytes:
    body = b"".join(encode_part(part, boundary) for part in parts)
    return body + (b"--" + boundary + b"--\r\n" if closed else b"")


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` as sent, or cut, flipped, spliced or repeated somewhere."""
    kind = draw(st.sampled_from(["same", "cut", "flip", "insert", "repeat"]))
    if kind == "same" or not body:
        return body
    at = draw(st.integers(0, len(body) - 1))
    if kind == "cut":
        return body[:at]
    if kind == "flip":
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
    if kind == "insert":
        return body[:at] + draw(st.binary(min_size=1, max_size=40)) + body[at:]
    end = draw(st.integers(at, min(len(body), at + 200)))
    return body[:end] + body[at:end] * draw(st.integers(1, 20)) + body[end:]


class Sink:
    """The draft's part of the contract: refuse bad names, count what is written."""

    def __init__(self) -> None:
        self.writers: list[Sink.Writer] = []

    def open_file(self, filename: str, content_type: str) -> Sink.Writer:
        filter_file_name(filename)  # InvalidInput, which the parser turns into BadFileName
        writer = Sink.Writer()
        self.writers.append(writer)
        return writer

    class Writer:
        def __init__(self) -> None:
            self.data = bytearray()
            self.closed = False

        def write(self, data: bytes, /) -> int:
            assert not self.closed
            self.data += data
            return len(data)

        def close(self) -> None:
            self.closed = True


class Trickle(io.RawIOBase):
    """A client stream that delivers at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data[self._at:self._at + min(self._step, len(buffer))]
        buffer[:len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


@settings(FUZZ, max_examples=1500)
@given(parts=st.lists(PARTS, max_size=6), boundary=BOUNDARIES.filter(str.isascii),
       data=st.data(), read_size=st.sampled_from([1, 3, 64, 1000, 1 << 16]),
       step=st.sampled_from([1, 7, 100, 1 << 20]), closed=st.booleans())
def test_parser_only_raises_documented_errors(parts: list[Part], boundary: str, data: st.DataObject,
                                              read_size: int, step: int, closed: bool) -> None:
    raw = boundary.encode("ascii")
    body = data.draw(mutated(encode(parts, raw, closed=closed)))
    sink = Sink()
    limits = UploadLimits(**LIMITS, read_size=read_size)
    try:
        fields = StreamingMultipartParser(sink, limits).parse(Trickle(body, step), raw)
    except DOCUMENTED:
        return
    assert len(fields) <= LIMITS["max_fields"]
    assert all(len(value.encode()) <= LIMITS["max_field_bytes"] for value in fields.values())
    assert len(sink.writers) <= LIMITS["max_files"]
    assert sum(len(writer.data) for writer in sink.writers) <= LIMITS["max_file_bytes"]
    assert all(writer.closed for writer in sink.writers)  # a complete body finishes every file


# --- the source app's POST routes -------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


@dataclass
class App:
    client: FlaskClient
    token: str
    blobs: Path

    def stored(self) -> tuple[int, list[Path]]:
        with self.client.application.app_context(), app_instance().store.db.connection() as conn:
            count = int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])
        return count, sorted(path for path in self.blobs.iterdir())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    config = make_test_settings(
        tmp_path_factory.mktemp("fuzz-app"), TIPBOX_MAX_UPLOAD_BYTES="4096",
        TIPBOX_MAX_FILES="3", TIPBOX_MAX_MESSAGE_CHARS="200", TIPBOX_DEV="1",
    )
    init_instance(config)
    flask_app = create_source_app(config)
    client = flask_app.test_client()
    match = _CSRF.search(client.get("/submit").get_data(as_text=True))
    assert match is not None
    yield App(client, match.group(1), config.blobs_dir)
    with flask_app.app_context():
        app_instance().close()


def check_response(response: object, allowed: set[int]) -> int:
    status = response.status_code  # type: ignore[attr-defined]
    assert status in allowed, status
    headers = response.headers  # type: ignore[attr-defined]
    assert all(name in headers for name in SECURITY_HEADERS)
    assert b"Traceback" not in response.get_data()  # type: ignore[attr-defined]
    return int(status)


CONTENT_TYPE_FORMS = st.sampled_from([
    "multipart/form-data; boundary={b}", 'multipart/form-data; boundary="{b}"',
    "multipart/form-data; charset=utf-8; boundary={b}", "multipart/form-data",
    "multipart/form-data; boundary=", "multipart/mixed; boundary={b}", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary={b}; boundary=other",
    "MULTIPART/FORM-DATA; BOUNDARY={b}",
])


@settings(FUZZ, max_examples=700)
@given(parts=st.lists(PARTS, max_size=5), boundary=BOUNDARIES.filter(str.isascii),
       csrf=st.sampled_from(["first", "last", "missing", "garbage"]),
       content_type=CONTENT_TYPE_FORMS, data=st.data())
def test_submit_answers_documented_statuses_and_stores_nothing_on_refusal(
    app: App, parts: list[Part], boundary: str, csrf: str, content_type: str,
    data: st.DataObject,
) -> None:
    token = {"first": app.token, "last": app.token, "garbage": "x" * 40}.get(csrf)
    if token is not None:
        token_part = Part("csrf_token", None, None, token.encode(), b"")
        parts = [token_part, *parts] if csrf != "last" else [*parts, token_part]
    body = data.draw(mutated(encode(parts, boundary.encode("ascii"))))
    before_count, before_blobs = app.stored()

    response = app.client.post("/submit", follow_redirects=True, data=body,
                               content_type=content_type.format(b=boundary))
    status = check_response(response, {200, 400, 413})

    count, blobs = app.stored()
    assert not [path for path in blobs if path.name.startswith(".tmp-")]
    if status == 200:
        assert count == before_count + 1
    else:
        assert (count, blobs) == (before_count, before_blobs)


FORM_ROUTES = {"/login": {303, 400, 403}, "/replies/delete": {303, 400}, "/logout": {303, 400}}


@settings(FUZZ, max_examples=400)
@given(route=st.sampled_from(sorted(FORM_ROUTES)),
       fields=st.lists(st.tuples(NAMES, st.text(max_size=80)), max_size=6),
       with_token=st.booleans(), data=st.data())
def test_url_encoded_forms_answer_documented_statuses(
    app: App, route: str, fields: list[tuple[str, str]], with_token: bool, data: st.DataObject
) -> None:
    if with_token:
        fields = [("csrf_token", app.token), *fields]
    encoded = "&".join(f"{quote(name)}={quote(value)}" for name, value in fields).encode()
    body = data.draw(mutated(encoded))
    before = app.stored()
    response = app.client.post(route, data=body,
                               content_type="application/x-www-form-urlencoded")
    check_response(response, FORM_ROUTES[route])
    assert app.stored() == before


# Found by the fuzzer above: Werkzeug decoded URL-encoded bodies as UTF-8 unchecked
# (a 500) and read them whole into memory, up to the source app's upload limit; and
# a multipart part without a name became a form key of None, which broke CSRF (a 500).


@pytest.mark.parametrize("token_first", [True, False])
def test_part_without_a_name_is_refused(app: App, token_first: bool) -> None:
    token = Part("csrf_token", None, None, app.token.encode(), b"")
    nameless = [Part(None, None, None, b"who am I", b""), Part(None, "a.txt", None, b"x", b"")]
    parts = [token, *nameless] if token_first else nameless
    before = app.stored()
    response = app.client.post("/submit", data=encode(parts, b"B"),
                               content_type="multipart/form-data; boundary=B")
    assert check_response(response, {400}) == 400
    assert app.stored() == before


@pytest.mark.parametrize("route", sorted(FORM_ROUTES) + ["/submit"])
def test_url_encoded_body_that_is_not_utf8_is_refused(app: App, route: str) -> None:
    response = app.client.post(route, data=b"csrf_token=" + app.token.encode() + b"&x=\xff",
                               content_type="application/x-www-form-urlencoded")
    assert check_response(response, {400}) == 400


def test_url_encoded_body_is_bounded_whatever_the_upload_limit(app: App) -> None:
    body = b"csrf_token=" + app.token.encode() + b"&codename=" + b"a" * (8 * 1024 * 1024)
    config = app.client.application.config
    saved, config["MAX_CONTENT_LENGTH"] = config["MAX_CONTENT_LENGTH"], 64 * 1024 * 1024
    try:  # the body is within the app's limit (that of an upload), not within a form's
        response = app.client.post("/login", data=body,
                                   content_type="application/x-www-form-urlencoded")
    finally:
        config["MAX_CONTENT_LENGTH"] = saved
    assert check_response(response, {413}) == 413


# --- issue 11: counted parts and capped bodies ------------------------------------------
#
# Each part a client sends counts against a limit (empty file parts too), and
# a refusal comes as soon as the offending part is read, not after the body.

MODEL_LIMITS = UploadLimits(**LIMITS, max_text_bytes=3000)


@dataclass(frozen=True)
class Shape:
    """One part: ``text``, a chosen ``file``, an ``empty`` file input, or ``smuggled``
    data under an empty file name."""

    kind: str
    size: int

    def encode(self, boundary: bytes, index: int) -> bytes:
        disposition = {"text": f'name="t{index}"', "file": f'name="files"; filename="f{index}"'
                       }.get(self.kind, 'name="files"; filename=""')
        return (b"--" + boundary + f"\r\nContent-Disposition: form-data; {disposition}\r\n\r\n"
                .encode() + b"x" * self.size + b"\r\n")


SHAPES = st.one_of(
    st.builds(Shape, st.just("text"), st.sampled_from([0, 5, 1024, 1025, 2000])),
    st.builds(Shape, st.just("file"), st.sampled_from([0, 1, 3000, 4097])),
    st.builds(Shape, st.just("empty"), st.just(0)),
    st.builds(Shape, st.just("smuggled"), st.sampled_from([1, 100])),
)


def model_outcome(shapes: list[Shape], limits: UploadLimits) -> tuple[type | None, int]:
    """The error the parser must raise (or None) and the index of the part that causes it."""
    fields = files = text = file_bytes = 0
    for index, shape in enumerate(shapes):
        if shape.kind == "text":
            fields += 1
            text += shape.size
            if fields > limits.max_fields:
                return MalformedUpload, index
            if shape.size > limits.max_field_bytes or text > limits.text_budget:
                return errors.TooLarge, index
            continue
        files += 1
        file_bytes += shape.size if shape.kind == "file" else 0
        if files > limits.max_files:
            return TooManyFiles, index
        if shape.kind == "smuggled":
            return MalformedUpload, index
        if file_bytes > limits.max_file_bytes:
            return errors.TooLarge, index
    return None, len(shapes)


class Counted(io.RawIOBase):
    """``data`` in reads of at most ``step`` bytes, counting what was read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self.read_bytes = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data[self.read_bytes:self.read_bytes + min(self._step, len(buffer))]
        buffer[:len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


@settings(FUZZ, max_examples=400)
@given(shapes=st.lists(SHAPES, max_size=12), last=SHAPES,
       repeat=st.sampled_from([1, 2, 4, 20, 1000, 100_000]),
       read_size=st.sampled_from([7, 1000, 1 << 16]))
def test_every_part_counts_and_refusal_comes_at_the_offending_part(
    shapes: list[Shape], last: Shape, repeat: int, read_size: int
) -> None:
    boundary = b"B0undary"
    shapes = [*shapes, *[last] * repeat]
    encoded = [shape.encode(boundary, index) for index, shape in enumerate(shapes)]
    body = b"".join(encoded) + b"--" + boundary + b"--\r\n"
    expected, culprit = model_outcome(shapes, MODEL_LIMITS)
    sink, stream = Sink(), Counted(body, read_size)
    limits = UploadLimits(**{**MODEL_LIMITS.__dict__, "read_size": read_size})
    try:
        StreamingMultipartParser(sink, limits).parse(stream, boundary)
        raised: type | None = None
    except DOCUMENTED as error:
        raised = type(error)
    assert raised is expected, (raised, expected, culprit)
    if expected is not None:  # refused without reading much past the culprit
        assert stream.read_bytes <= sum(map(len, encoded[:culprit + 1])) + read_size + 64
    assert len(sink.writers) <= sum(shape.kind == "file" for shape in shapes[:culprit + 1])


# Whole requests: hostile shapes over honest, chunked and lying transports, on every
# POST route of both apps. A length over the route's cap is refused unread (413); an
# honest transport gets the shape's own refusal; nothing is ever stored, and no more
# than the cap plus one read is consumed.


@dataclass(frozen=True)
class Hostile:
    """A hostile body: ``count`` repetitions of a piece after an optional CSRF field."""

    shape: str  # "fields", "huge-field" or "empty-parts"
    multipart: bool
    count: int

    def body(self, token: str) -> Body:
        if self.multipart:
            head = multipart([("csrf_token", token.encode(), None)], close=False)
            piece = {"fields": multipart([("a", b"", None)], close=False),
                     "huge-field": b"x",
                     "empty-parts": empty_file_part()}[self.shape]
            if self.shape == "huge-field":
                head += multipart([("message", b"", None)], close=False)[:-2]
        else:
            head = f"csrf_token={token}&".encode()
            piece = {"fields": b"a=&", "huge-field": b"x"}[self.shape]
            head += b"message=" if self.shape == "huge-field" else b""
        return Body(piece, size=len(head) + self.count * len(piece), prefix=head)


HOSTILE = st.one_of(
    st.builds(Hostile, st.just("fields"), st.booleans(), st.integers(17, 400_000)),
    st.builds(Hostile, st.just("huge-field"), st.booleans(), st.integers(70_000, 3_000_000)),
    st.builds(Hostile, st.just("empty-parts"), st.just(True), st.integers(4, 100_000)),
)
TRANSPORTS = st.sampled_from(["honest", "chunked", "short", "long", "bomb"])


@pytest.fixture(scope="module")
def reviewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    config = make_test_settings(tmp_path_factory.mktemp("fuzz-reviewer"),
                                TIPBOX_MAX_MESSAGE_CHARS="200", TIPBOX_DEV="1")
    init_instance(config)
    flask_app = create_reviewer_app(config)
    yield flask_app
    with flask_app.app_context():
        app_instance().close()


def send(client: FlaskClient, path: str, body: Body, content_type: str, size: int,
         transport: str) -> object:
    """POST ``body`` (``size`` bytes) the way ``transport`` says."""
    if transport in ("honest", "bomb", "chunked"):
        length = {"honest": size, "bomb": BOMB_BYTES, "chunked": None}[transport]
        return post_stream(client, path, body, content_type, length=length)
    # A server that trusts Content-Length reads exactly that much (no input_terminated).
    lie = size // 2 if transport == "short" else size + 1000
    return client.post(path, input_stream=body, content_type=content_type,
                       environ_overrides={"CONTENT_LENGTH": str(lie)})


def expected_refusal(hostile: Hostile, path: str, announced: int | None, cap: int) -> int:
    """The exact status an honest transport must get."""
    if announced is not None and announced > cap:
        return 413
    if hostile.shape == "huge-field":
        return 413
    if hostile.shape == "fields":
        return 400
    return 413 if path == "/submit" else 400  # empty parts: too many files, or no files here


@settings(FUZZ, max_examples=300)
@given(which=st.sampled_from(["source", "reviewer"]), hostile=HOSTILE, transport=TRANSPORTS,
       data=st.data())
def test_hostile_bodies_get_a_specific_refusal_and_store_nothing(
    app: App, reviewer: Flask, which: str, hostile: Hostile, transport: str,
    data: st.DataObject,
) -> None:
    flask_app = app.client.application if which == "source" else reviewer
    client = app.client if which == "source" else flask_app.test_client()
    path = data.draw(st.sampled_from(post_rules(flask_app)))
    body = hostile.body(app.token)
    size = body.size
    assert size is not None
    content_type = MULTIPART if hostile.multipart else URLENCODED
    with flask_app.app_context():
        limits = upload_limits(app_instance().instance_settings.effective())
    is_upload = which == "source" and path == "/submit" and hostile.multipart
    cap = limits.max_upload_body if is_upload else limits.max_form_body
    assert cap is not None
    before = app.stored()

    response = send(client, path, body, content_type, size, transport)

    status = check_response(response, set(range(200, 500)))
    assert app.stored() == before
    assert body.read_bytes <= cap + DEFAULT_READ_SIZE
    if transport == "bomb":
        assert (status, body.read_bytes) == (413, 0)
    elif transport == "honest":
        assert status == expected_refusal(hostile, path, size, cap)
    elif transport == "chunked":
        assert status == expected_refusal(hostile, path, None, cap)
    elif transport == "long" or hostile.multipart:  # never completes, or cut mid-part
        assert status in {400, 413}
