"""The streaming multipart parser on its own: any split of the body, bounded memory."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbox.errors import TooLarge
from tipbox.web.errors import BadFileName, MalformedUpload, TooManyFiles
from tipbox.web.uploads import StreamingMultipartParser, UploadLimits, UploadStats

BOUNDARY = b"xyzBOUNDARYxyz"


class Recorder:
    """A sink that keeps what it is given (tests only)."""

    def __init__(self) -> None:
        self.files: list[tuple[str, str, bytearray, list[bool]]] = []

    def open_file(self, filename: str, content_type: str) -> Recorder.Writer:
        if "/" in filename:
            from tipbox.errors import InvalidInput

            raise InvalidInput("bad name")
        buffer, closed = bytearray(), [False]
        self.files.append((filename, content_type, buffer, closed))
        return Recorder.Writer(buffer, closed)

    class Writer:
        def __init__(self, buffer: bytearray, closed: list[bool]) -> None:
            self.buffer, self.closed = buffer, closed

        def write(self, data: bytes, /) -> int:
            assert not self.closed[0]
            self.buffer += data
            return len(data)

        def close(self) -> None:
            self.closed[0] = True


class Trickle(io.RawIOBase):
    """A stream returning at most ``step`` bytes per read, like a slow client."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self.data[self.pos:self.pos + min(self.step, len(buffer))]
        self.pos += len(chunk)
        buffer[:len(chunk)] = chunk
        return len(chunk)


def body(*parts: tuple[str, bytes, str | None]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += b"--" + BOUNDARY + f"\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: text/plain\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


LIMITS = UploadLimits(max_files=3, max_file_bytes=10_000, max_field_bytes=1000, read_size=64)


def parse(data: bytes, step: int = 1 << 20, limits: UploadLimits = LIMITS,
          sink: Recorder | None = None) -> tuple[dict[str, str], Recorder, UploadStats]:
    sink = sink if sink is not None else Recorder()
    stats = UploadStats()
    form = StreamingMultipartParser(sink, limits, stats).parse(Trickle(data, step), BOUNDARY)
    return dict(form), sink, stats


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(max_size=3000),
    message=st.text(max_size=200),
    step=st.integers(min_value=1, max_value=300),
    read_size=st.integers(min_value=1, max_value=200),
)
def test_any_split_gives_the_same_result(content: bytes, message: str, step: int,
                                         read_size: int) -> None:
    limits = UploadLimits(max_files=3, max_file_bytes=10_000, max_field_bytes=1000,
                          read_size=read_size)
    data = body(("message", message.encode(), None), ("files", content, "a.bin"),
                ("files", content[::-1], "b.bin"))
    form, sink, stats = parse(data, step, limits)
    assert form == {"message": message}
    assert [(name, bytes(buf), closed[0]) for name, _, buf, closed in sink.files] == [
        ("a.bin", content, True), ("b.bin", content[::-1], True)]
    assert stats.files == 2
    assert stats.file_bytes == 2 * len(content)


@pytest.mark.parametrize("content", [b"", b"\r", b"\n", b"a\r\n", b"\r\n-", b"x" * 70])
def test_every_split_point(content: bytes) -> None:
    # Werkzeug 3.1.9 alone appends a CR to the last file when a read ends
    # inside the closing "--"; every one-byte split must give the exact bytes.
    data = body(("message", b"m", None), ("files", content, "a"), ("files", content, "b"))
    limits = UploadLimits(max_files=3, max_file_bytes=10_000, max_field_bytes=1000,
                          read_size=1)
    _, sink, _ = parse(data, step=1, limits=limits)
    assert [bytes(buf) for _, _, buf, _ in sink.files] == [content, content]
    for cut in range(1, len(data)):
        _, sink, _ = parse(data, step=cut)
        assert [bytes(buf) for _, _, buf, _ in sink.files] == [content, content], cut


def test_boundary_like_content_is_kept() -> None:
    tricky = b"\r\n--" + BOUNDARY[:-1] + b"\r\n--" + BOUNDARY + b"x\r\n\r\n-"
    _, sink, _ = parse(body(("files", tricky, "t")), step=3)
    assert bytes(sink.files[0][2]) == tricky


def test_limits() -> None:
    with pytest.raises(TooManyFiles):
        parse(body(*[("files", b"x", f"{i}") for i in range(4)]))
    with pytest.raises(TooLarge):
        parse(body(("files", b"x" * 6000, "a"), ("files", b"x" * 6000, "b")))
    with pytest.raises(TooLarge):
        parse(body(("message", b"x" * 1001, None)))
    with pytest.raises(BadFileName):
        parse(body(("files", b"x", "../a")))
    with pytest.raises(MalformedUpload):
        parse(body(*[(f"f{i}", b"x", None) for i in range(17)]))


def test_empty_file_parts_count_against_the_file_limit() -> None:
    # What a browser sends for a file input left empty: ignored, but counted.
    form, sink, stats = parse(body(("message", b"m", None), *[("files", b"", "")] * 3))
    assert (form, sink.files, stats.files) == ({"message": "m"}, [], 0)
    with pytest.raises(TooManyFiles):
        parse(body(*[("files", b"", "")] * 4))
    with pytest.raises(TooManyFiles):
        parse(body(("files", b"x", "a"), ("files", b"y", "b"), ("files", b"", ""),
                   ("files", b"", "")))
    with pytest.raises(MalformedUpload):  # no browser sends data without a file name
        parse(body(("files", b"smuggled", "")))
    with pytest.raises(MalformedUpload):  # nor a file part to a form without files
        StreamingMultipartParser(None, LIMITS).parse(
            io.BytesIO(body(("files", b"", ""))), BOUNDARY)


def test_text_fields_have_a_total_budget() -> None:
    limits = replace(LIMITS, max_text_bytes=2000)
    fields = [(f"f{i}", b"x" * 900, None) for i in range(3)]
    assert len(parse(body(*fields[:2]), limits=limits)[0]) == 2
    with pytest.raises(TooLarge):
        parse(body(*fields), limits=limits)


def test_no_sink_refuses_files() -> None:
    with pytest.raises(MalformedUpload):
        StreamingMultipartParser(None, LIMITS).parse(
            io.BytesIO(body(("files", b"x", "a"))), BOUNDARY)


def test_pending_buffer_is_bounded() -> None:
    endless_headers = b"--" + BOUNDARY + b"\r\nX: " + b"a" * 100_000
    with pytest.raises(MalformedUpload):
        parse(endless_headers, step=1000, limits=UploadLimits(
            max_files=1, max_file_bytes=1, max_field_bytes=1, read_size=1000,
            max_pending_bytes=4096))


def test_truncated_body_is_malformed() -> None:
    data = body(("files", b"x" * 500, "a"))
    for cut in (10, 100, len(data) - 10):
        with pytest.raises(MalformedUpload):
            parse(data[:cut])


def test_streams_without_readinto_work() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self.stream = io.BytesIO(data)

        def read(self, size: int) -> bytes:
            return self.stream.read(min(size, 7))

    data = body(("message", b"hello", None), ("files", b"content\r\n", "a"))
    form = StreamingMultipartParser(Recorder(), LIMITS).parse(ReadOnly(data), BOUNDARY)  # type: ignore[arg-type]
    assert dict(form) == {"message": "hello"}
