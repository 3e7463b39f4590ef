"""Streaming ``multipart/form-data`` parsing: file parts go straight to a sink.

Werkzeug's stock parser spools every file part into a ``SpooledTemporaryFile``
(plaintext on disk past 500 kB) and hands the view a :class:`FileStorage`.
tipbox cannot allow that, so :class:`UploadRequest` swaps in
:class:`StreamingFormDataParser`, which drives Werkzeug's sans-I/O
:class:`~werkzeug.sansio.multipart.MultipartDecoder` itself and writes each
file part, as it arrives, into a writer obtained from a :class:`FileSink`
(in the source app: ``draft.open_file``, an age encryptor over a temporary
blob).

Security contract:

- File bytes are never buffered beyond one read (``read_size``) plus a
  possible partial boundary, never written anywhere but the sink, and never
  appear in ``request.files`` (which stays empty).
- Every request's body is capped before anything reads it
  (:meth:`UploadRequest.cap_body`): an upload (``multipart/form-data`` to
  the one route that accepts files) at ``max_upload_body``, every other
  body at the small ``max_form_body``. A longer ``Content-Length`` is
  refused with 413 at once; a body without one (chunked) is cut off with
  413 while it is read.
- Text fields are kept in memory, each at most ``max_field_bytes`` bytes,
  together at most ``max_text_bytes``, and at most ``max_fields`` of them;
  the decoder's pending buffer (preamble, part headers) is bounded by
  ``max_pending_bytes``. Memory per request is therefore bounded whatever
  the client sends.
- Every part counts against a limit: a text field against ``max_fields``, a
  file part against ``max_files``, chosen or not. A part with an empty
  file name and no data (a file input left empty) is otherwise ignored; one
  with data is malformed. More than ``max_files`` file parts raise
  :class:`TooManyFiles`. More than ``max_file_bytes`` of file content in
  total, or oversized text, raise :class:`~tipbox.errors.TooLarge` before
  the excess reaches the sink.
- URL-encoded bodies are read in small pieces and refused as soon as they
  have more than ``max_fields`` fields (:class:`MalformedUpload`) or more
  than ``max_form_body`` bytes (:class:`~tipbox.errors.TooLarge`), before
  Werkzeug parses them.
- Anything the decoder cannot read (no boundary, truncated body, endless
  preamble or headers, parts without a name, text fields that are not
  UTF-8, too many fields)
  raises :class:`MalformedUpload`, as do file parts where no sink is
  installed. A file name the sink refuses (``InvalidInput`` from
  ``open_file``; the source app's draft raises ``FileNameRefused`` for
  ``../``, NUL, bidi overrides, over 255 characters, bytes that are not
  UTF-8) raises :class:`BadFileName`.
- No file byte reaches the sink before a valid CSRF token field has been
  received (:meth:`UploadRequest.check_before_files`).
- A client that sends nothing for ``TIPBOX_CLIENT_IDLE_SECONDS`` while its
  body is read is dropped by the worker (:mod:`tipbox.web.worker`), as if it
  had disconnected: the read fails and the sink's owner aborts.
- The parser never commits anything: on any exception the owner of the sink
  must discard whatever was written (the source app aborts the draft).
- File names are passed to the sink exactly as decoded (they may contain
  ``../``, NUL, thousands of characters): the sink runs the one file-name
  filter (:mod:`tipbox.services.submissions.file_names`), stores the result encrypted
  and never uses it as a path.
"""

from __future__ import annotations

import io
import time
import typing as t
from dataclasses import dataclass

from flask import Request, current_app
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.multipart import (
    HEADER_CONTINUATION_RE,
    LINE_BREAK_RE,
    SEARCH_EXTRA_LENGTH,
    Data,
    Epilogue,
    Event,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    State,
)
from wtforms import ValidationError

from tipbox.errors import InvalidInput, TooLarge
from tipbox.web.errors import BadFileName, MalformedUpload, TooManyFiles

#: One read from the client: large enough that the per-read Python overhead
#: is negligible, small enough to stay well under the RSS budget.
DEFAULT_READ_SIZE = 1024 * 1024
FIRST_READ_SIZE = 64 * 1024
FAST_READ_SECONDS = 0.05

#: One read of a URL-encoded body: a form bomb is refused after the first.
FORM_READ_SIZE = 64 * 1024

#: Where :func:`tipbox.web.init_web` puts the app's :class:`UploadLimits`.
LIMITS_KEY = "TIPBOX_UPLOAD_LIMITS"


class FileWriter(t.Protocol):
    """Where the bytes of one file part go (e.g. an age encryptor)."""

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class FileSink(t.Protocol):
    """Something that opens one :class:`FileWriter` per uploaded file."""

    def open_file(self, filename: str, content_type: str) -> FileWriter: ...


#: Called with the text fields received so far, just before the first file
#: part reaches the sink; raising stops the upload there.
FieldCheck = t.Callable[[MultiDict[str, str]], None]


@dataclass(frozen=True)
class UploadLimits:
    """Bounds that keep one request's memory small and its shape sane.

    ``max_text_bytes`` (all text fields of a multipart body together)
    defaults to what ``max_fields`` fields of ``max_field_bytes`` add up to;
    ``max_upload_body`` (the body of an upload) to no cap beyond the app's
    ``MAX_CONTENT_LENGTH``.
    """

    max_files: int
    max_file_bytes: int
    max_field_bytes: int
    max_fields: int = 16
    max_text_bytes: int | None = None
    max_form_body: int = 64 * 1024
    max_upload_body: int | None = None
    max_pending_bytes: int = 64 * 1024
    read_size: int = DEFAULT_READ_SIZE

    @property
    def text_budget(self) -> int:
        """Bytes all text fields of one multipart body may have together."""
        if self.max_text_bytes is not None:
            return self.max_text_bytes
        return self.max_fields * self.max_field_bytes


@dataclass
class UploadStats:
    """What was streamed into the sink: counts only, never names or content."""

    files: int = 0
    file_bytes: int = 0


class _Decoder(MultipartDecoder):
    """Werkzeug 3.1.9's decoder with three fixes (overriding private methods).

    - Part headers that are not UTF-8 do not fail the body: undecodable bytes
      become lone surrogates, which no valid name contains, so such a file
      name reaches the sink and is refused there as a bad file name.
    - A read that ends inside the closing delimiter no longer appends a CR
      to the last file (see :meth:`_last_partial_boundary_index`).
    - Part data is copied once instead of three times (the upload hot path).
    """

    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        # Werkzeug 3.1's own implementation, with a lenient decode.
        headers: list[tuple[str, str]] = []
        for line in HEADER_CONTINUATION_RE.sub(b" ", bytes(data)).splitlines():
            line = line.strip(b" \t")
            if line:
                name, _, value = line.decode("utf-8", "surrogateescape").partition(":")
                headers.append((name.strip(" \t"), value.strip(" \t")))
        return Headers(headers)

    def _parse_data(self, data: bytes | bytearray, *, start: bool) -> tuple[bytes, int, bool]:
        # Werkzeug 3.1.9's logic with one copy of the data instead of three
        # (it sliced the buffer twice and copied the slice into bytes).
        data_start = 0
        if start:
            line_break = LINE_BREAK_RE.match(data)
            data_start = line_break.end() if line_break else 0
        match = None
        if data.find(b"--" + self.boundary) != -1:
            # From 0: an empty part's delimiter shares the header block's CRLF.
            match = self.boundary_re.search(data)
        if match is None:
            data_end = del_index = self._last_partial_boundary_index(data, data_start)
        else:
            self.state = State.EPILOGUE if match.group(1).startswith(b"--") else State.PART
            data_end, del_index = match.start(), match.end()
        with memoryview(data) as view:
            chunk = bytes(view[data_start:data_end])
        return chunk, del_index, match is None

    def _last_partial_boundary_index(self, data: bytes | bytearray, start: int = 0) -> int:
        # Werkzeug 3.1.9 holds back a partial delimiter only while it is no
        # longer than CRLF--boundary; a read ending inside the closing "--" or
        # transport padding then leaked the delimiter's CR into the file.
        # Hold back from the first CR or LF that could start a delimiter.
        start = max(start, len(data) - len(self.boundary) - 4 - SEARCH_EXTRA_LENGTH)
        found = [index for index in (data.find(b"\r", start), data.find(b"\n", start))
                 if index >= 0]
        return min(found, default=len(data))


@dataclass
class _Part:
    """The part being decoded: a text field (``chunks``) or a file (``writer``)."""

    name: str
    chunks: list[bytes] | None = None
    writer: FileWriter | None = None
    size: int = 0


@dataclass
class _Counts:
    """What the parts of one body have used of the limits (text bytes, file parts)."""

    text_bytes: int = 0
    file_parts: int = 0


class StreamingMultipartParser:
    """Decode one multipart body, streaming file parts into ``sink``.

    Returns the text fields; see the module docstring for the contract.
    """

    def __init__(
        self,
        sink: FileSink | None,
        limits: UploadLimits,
        stats: UploadStats | None = None,
        *,
        before_files: FieldCheck | None = None,
    ) -> None:
        self._sink = sink
        self._limits = limits
        self._stats = stats if stats is not None else UploadStats()
        self._before_files = before_files
        self._fields: list[tuple[str, str]] = []
        self._part: _Part | None = None
        self._counts = _Counts()

    def parse(self, stream: t.IO[bytes], boundary: bytes) -> MultiDict[str, str]:
        decoder = _Decoder(boundary)
        reads = _Reads(self._limits.read_size)
        while True:
            data = reads.next(stream)
            decoder.receive_data(data if data else None)  # type: ignore[arg-type]
            if self._drain(decoder):
                return MultiDict(self._fields)
            if not data:
                raise MalformedUpload("the body ended inside a part")
            if len(decoder.buffer) > self._limits.max_pending_bytes:
                raise MalformedUpload("part headers or preamble too long")

    def _drain(self, decoder: MultipartDecoder) -> bool:
        """Handle every event the decoder has; true once the body is complete."""
        while True:
            event = _next_event(decoder)
            if isinstance(event, NeedData):
                return False
            if isinstance(event, Epilogue):
                return True
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, File | Field) and event.name is None:
            # Werkzeug passes on a part without a name; as a form key it breaks CSRF lookup.
            raise MalformedUpload("a form part has no name")
        if isinstance(event, File):
            self._start_file(event)
        elif isinstance(event, Field):
            self._start_field(event)
        elif isinstance(event, Data):
            self._receive(event)

    def _start_field(self, event: Field) -> None:
        if len(self._fields) >= self._limits.max_fields:
            raise MalformedUpload("too many form fields")
        self._part = _Part(name=event.name, chunks=[])

    def _start_file(self, event: File) -> None:
        sink = self._claim_file_slot()
        part = _Part(name=event.name)
        self._part = part
        if event.filename == "":
            return  # a file input left empty: ignored (but counted, and refused with data)
        if self._stats.files == 0 and self._before_files is not None:
            self._before_files(MultiDict(self._fields))
        self._stats.files += 1
        content_type = event.headers.get("content-type", "application/octet-stream")
        try:
            part.writer = sink.open_file(event.filename, content_type)
        except InvalidInput as error:
            raise BadFileName("the sink refused a file name", params=error.params) from error

    def _claim_file_slot(self) -> FileSink:
        """Count a file part, chosen or empty, against ``max_files``; the sink it goes to."""
        if self._sink is None:
            raise MalformedUpload("this form does not accept files")
        self._counts.file_parts += 1
        if self._counts.file_parts > self._limits.max_files:
            raise TooManyFiles(f"more than {self._limits.max_files} file parts",
                               params={"limit": "max_files", "num": self._limits.max_files})
        return self._sink

    def _receive(self, event: Data) -> None:
        part = self._part
        if part is None:
            raise MalformedUpload("data outside a part")
        if part.writer is not None:
            self._write_file_data(part.writer, event.data)
        elif part.chunks is not None:
            self._append_field_data(part, event.data)
        elif event.data:
            raise MalformedUpload("a file part without a file name carries data")
        if not event.more_data:
            self._finish(part)

    def _write_file_data(self, writer: FileWriter, data: bytes) -> None:
        self._stats.file_bytes += len(data)
        if self._stats.file_bytes > self._limits.max_file_bytes:
            raise TooLarge("the files are too large",
                           params={"limit": "max_file_bytes", "num": self._limits.max_file_bytes})
        writer.write(data)

    def _append_field_data(self, part: _Part, data: bytes) -> None:
        part.size += len(data)
        self._counts.text_bytes += len(data)
        if part.size > self._limits.max_field_bytes:
            raise TooLarge("a form field is too long", params={"limit": "max_field_bytes"})
        if self._counts.text_bytes > self._limits.text_budget:
            raise TooLarge("the form fields are too long together",
                           params={"limit": "text_budget"})
        t.cast(list[bytes], part.chunks).append(data)

    def _finish(self, part: _Part) -> None:
        self._part = None
        if part.writer is not None:
            part.writer.close()
        elif part.chunks is not None:
            self._fields.append((part.name, _decode_text(b"".join(part.chunks))))


class _Reads:
    """Reads of a body into one reused buffer that grows only for a fast client.

    The first reads take :data:`FIRST_READ_SIZE`; a read that completes
    within :data:`FAST_READ_SECONDS` doubles the size, up to ``limit``. A
    fast client soon gets large reads (few system calls, few GIL switches),
    while a slow one (a Tor circuit, a trickling attacker) never makes the
    server hold more than a small buffer: hundreds of slow uploads then cost
    kilobytes each, not megabytes.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray(min(FIRST_READ_SIZE, limit))

    def next(self, stream: t.IO[bytes]) -> memoryview:
        """The next bytes of ``stream`` (empty at its end), valid until the next call."""
        started = time.monotonic()
        size = _read_into(stream, self._buffer)
        fast = time.monotonic() - started < FAST_READ_SECONDS
        data = memoryview(self._buffer)[:size]
        if fast and size == len(self._buffer) < self._limit:
            self._buffer = bytearray(min(2 * size, self._limit))  # ``data`` keeps the old one
        return data


def _read_into(stream: t.IO[bytes], buffer: bytearray) -> int:
    """Fill ``buffer`` from ``stream`` once; 0 at the end of the body."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(buffer) or 0)
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


def _read_urlencoded(stream: t.IO[bytes], limits: UploadLimits) -> bytes:
    """The whole URL-encoded body, refused as soon as it has too many fields or bytes.

    Fields are counted by their ``&`` separators as each piece arrives, so
    a body of ``a=&a=&...`` costs one read, never a parse.
    """
    chunks: list[bytes] = []
    size = separators = 0
    while chunk := stream.read(FORM_READ_SIZE):
        size += len(chunk)
        separators += chunk.count(b"&")
        if separators >= limits.max_fields:
            raise MalformedUpload("too many form fields")
        if size > limits.max_form_body:
            raise TooLarge("a form without files is too large",
                           params={"limit": "max_form_body"})
        chunks.append(chunk)
    return b"".join(chunks)


def _tightest(*limits: int | None) -> int | None:
    """The smallest of ``limits``; ``None`` (no limit) only if all are."""
    return min((limit for limit in limits if limit is not None), default=None)


def _next_event(decoder: MultipartDecoder) -> Event:
    """One decoder event, with its ``ValueError`` turned into :class:`MalformedUpload`."""
    try:
        return decoder.next_event()
    except ValueError as error:  # includes UnicodeDecodeError on non-UTF-8 part headers
        raise MalformedUpload("the multipart body could not be decoded") from error


def _decode_text(raw: bytes) -> str:
    """Text fields are UTF-8 (the pages say so); undecodable bytes are rejected."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedUpload("a form field is not valid UTF-8") from error


class StreamingFormDataParser(FormDataParser):
    """A :class:`FormDataParser` whose multipart branch streams into a sink.

    URL-encoded bodies are parsed as usual, but only once they are known to
    have at most ``max_fields`` fields and ``max_form_body`` bytes (Werkzeug
    reads the whole body into memory and parses it with no field limit) and
    only if they are UTF-8. Parsing errors are never silenced: they raise the
    web errors above.
    """

    def __init__(
        self,
        sink: FileSink | None,
        limits: UploadLimits,
        max_content_length: int | None,
        stats: UploadStats | None = None,
        before_files: FieldCheck | None = None,
    ) -> None:
        super().__init__(max_content_length=max_content_length, silent=False)
        self._sink = sink
        self._limits = limits
        self._before_files = before_files
        self.stats = stats if stats is not None else UploadStats()

    def _parse_urlencoded(
        self,
        stream: t.IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[t.IO[bytes], MultiDict[str, str], MultiDict[str, FileStorage]]:
        body = _read_urlencoded(stream, self._limits)
        try:
            return super()._parse_urlencoded(io.BytesIO(body), mimetype, len(body), options)
        except UnicodeDecodeError as error:
            raise MalformedUpload("a form field is not valid UTF-8") from error

    def _parse_multipart(
        self,
        stream: t.IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[t.IO[bytes], MultiDict[str, str], MultiDict[str, FileStorage]]:
        boundary = options.get("boundary", "")
        if not boundary or not boundary.isascii():
            raise MalformedUpload("missing or invalid multipart boundary")
        parser = StreamingMultipartParser(
            self._sink, self._limits, self.stats, before_files=self._before_files
        )
        form = parser.parse(stream, boundary.encode("ascii"))
        return stream, form, MultiDict()


class UploadRequest(Request):
    """Flask request whose form parsing streams file parts into a sink.

    The limits come from ``app.config["TIPBOX_UPLOAD_LIMITS"]`` (set by
    :func:`tipbox.web.init_web`), once per request. An app subclasses this
    and overrides :meth:`accepts_files` and :meth:`open_sink` to say which
    requests accept files and where they go. The sink is asked for lazily,
    when the body is first parsed (by CSRF protection or by the view,
    whichever comes first). The body cap, though, must be fixed first:
    :func:`tipbox.web.init_web` calls :meth:`cap_body` from the app's first
    ``before_request`` hook.
    """

    _upload_stats: UploadStats | None = None
    _limits: UploadLimits | None = None

    def accepts_files(self) -> bool:
        """Whether this request's route takes files (only routing is looked at)."""
        return False

    def open_sink(self) -> FileSink | None:
        """The sink for this request's files; ``None`` rejects file parts."""
        return None

    @property
    def is_upload(self) -> bool:
        """A ``multipart/form-data`` body to a route that takes files."""
        return self.mimetype == "multipart/form-data" and self.accepts_files()

    @property
    def upload_limits(self) -> UploadLimits:
        """The limits in force for this request (read once, then kept)."""
        if self._limits is None:
            self._limits = t.cast(t.Callable[[], UploadLimits], current_app.config[LIMITS_KEY])()
        return self._limits

    def cap_body(self) -> None:
        """Fix this request's body cap; refuse a longer ``Content-Length`` (413).

        Must run before anything reads the body. An upload may be as large
        as ``max_upload_body``, anything else only ``max_form_body``; the
        app's ``MAX_CONTENT_LENGTH`` stays the ceiling. Werkzeug enforces the
        cap again while reading a body that announces no length (chunked).
        """
        limits = self.upload_limits
        chosen = limits.max_upload_body if self.is_upload else limits.max_form_body
        cap = _tightest(chosen, current_app.config["MAX_CONTENT_LENGTH"])
        self.max_content_length = cap
        if cap is not None and self.content_length is not None and self.content_length > cap:
            raise RequestEntityTooLarge()

    @property
    def upload_stats(self) -> UploadStats:
        """How many files and file bytes went to the sink (parses the body if needed)."""
        self._load_form_data()
        return self._upload_stats or UploadStats()

    def make_form_data_parser(self) -> FormDataParser:
        limits = self.upload_limits
        sink = self.open_sink() if self.is_upload else None
        self._upload_stats = UploadStats()
        return StreamingFormDataParser(
            sink,
            limits,
            max_content_length=self.max_content_length,
            stats=self._upload_stats,
            before_files=self.check_before_files,
        )

    def check_before_files(self, fields: MultiDict[str, str]) -> None:
        """Refuse a missing or bad CSRF token before any file byte is stored.

        Our forms send ``csrf_token`` first, so it has arrived when the first
        file part starts; a body that puts files first is refused too. The
        full check by CSRFProtect still runs once the body is parsed.
        """
        if not current_app.config.get("WTF_CSRF_ENABLED", True):
            return
        field_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        try:
            validate_csrf(fields.get(field_name))
        except ValidationError as error:
            raise CSRFError(error.args[0] if error.args else "bad CSRF token") from None
