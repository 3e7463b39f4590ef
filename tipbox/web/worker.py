"""The gunicorn worker both apps run: threads for requests, none for slow clients.

gunicorn's threaded worker hands every new connection to a pool thread, which
then blocks reading the request headers with no deadline: a few hundred
sockets trickling header bytes (slowloris; five Tor circuits carry a hundred)
hold every thread and the site stops answering. It also closes a connection
whose request body it did not read with at most 64 KiB drained, so the
client's kernel gets a reset and a refusal page (413, 507, 503) is lost.

:class:`GatedThreadWorker` keeps gunicorn's design (a selector loop plus a
thread pool) and changes three things:

- **Headers are gathered by the loop, not a thread.** A connection goes to
  the pool only once its request headers are complete (and its body too, when
  it is a small one of declared length: a form, a login); until then it
  costs a file descriptor and a few KiB. They must arrive within
  ``header_seconds`` of the first byte, or the socket is closed; the loop
  never blocks on it. Headers over :data:`MAX_HEAD_BYTES` get a 431.
- **A stalled body frees its thread.** While a thread serves a request, a
  socket read or write that waits longer than ``idle_seconds`` fails, so
  an upload that stops sending ends (nothing is stored) instead of holding
  its thread forever. A slow upload that keeps sending is never cut off.
- **Refusals are delivered.** A connection closed after a response whose
  request body was not read is half-closed and drained by the loop (at most
  :data:`LINGER_BYTES` or :data:`LINGER_SECONDS`) before it is closed, so the
  client reads the page instead of a reset.

A stopping worker closes its copy of the listening socket at once, so that a
new master can bind while old requests finish. Responses carry no ``Server``
header. Nothing here logs or keeps a client address.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
import struct
import time
import typing as t
from functools import partial

from gunicorn.http import wsgi
from gunicorn.workers.gthread import TConn, ThreadWorker

__all__ = ["GatedThreadWorker"]

HEADER_SECONDS = 20.0
IDLE_SECONDS = 120.0
LINGER_SECONDS = 30.0
LINGER_BYTES = 64 * 1024 * 1024
MAX_LINGERING = 512
MAX_HEAD_BYTES = 64 * 1024
SMALL_BODY_BYTES = 64 * 1024
RECV_BYTES = 64 * 1024
_END_OF_HEADERS = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]{1,19})[ \t]*\r\n", re.IGNORECASE)
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n\r\n"
              b"Request headers too large.\r\n")


def bytes_wanted(head: bytes | bytearray) -> int | None:
    """How many bytes of this request the loop gathers before a thread takes it.

    ``None`` while the headers are incomplete. Once they are complete: the
    headers plus the body when it is small and its length is declared (a form,
    a login); the headers alone otherwise (an upload, a chunked or malformed
    request: gunicorn's parser and the app deal with those on a thread).
    """
    end = head.find(_END_OF_HEADERS)
    if end < 0:
        return None
    headers_end = end + len(_END_OF_HEADERS)
    match = _CONTENT_LENGTH.search(head, 0, headers_end)
    if match is None or int(match.group(1)) > SMALL_BODY_BYTES:
        return headers_end
    return headers_end + int(match.group(1))


def _limit_waits(sock: socket.socket, seconds: float) -> None:
    """Make a blocking read or write on ``sock`` fail after ``seconds`` without progress.

    Kernel timeouts (``SO_RCVTIMEO``/``SO_SNDTIMEO``), not ``settimeout``: a
    Python-level timeout polls before every ``recv``, which cost a fifth of
    the upload throughput. A wait that runs out raises ``BlockingIOError``.
    """
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def _receive(client: socket.socket) -> bytes | None:
    """What a readable socket has: ``None`` if nothing after all, ``b""`` once it is gone."""
    try:
        return client.recv(RECV_BYTES)
    except BlockingIOError:
        return None
    except OSError:
        return b""


class QuietResponse(wsgi.Response):  # type: ignore[misc]
    """gunicorn's response without the ``Server`` header (it names the software)."""

    def default_headers(self) -> list[str]:
        headers: list[str] = super().default_headers()
        return [line for line in headers if not line.startswith("Server:")]


class GatedConn(TConn):  # type: ignore[misc]
    """A connection whose request bytes the loop gathers before a thread takes it.

    ``head`` holds the bytes gathered so far; they are given back to gunicorn's
    parser before it reads the socket. ``deadline`` (monotonic) is when the
    loop gives up waiting for them, or ends the linger.
    """

    def __init__(self, cfg: t.Any, sock: socket.socket, client: t.Any, server: t.Any,
                 linger: t.Callable[[GatedConn], None], idle_seconds: float) -> None:
        super().__init__(cfg, sock, client, server)
        self.idle_seconds = idle_seconds
        self.head = bytearray()
        self.ready = False
        self.deadline = 0.0
        self.drained = 0
        self._linger = linger

    def init(self) -> None:
        """Set up the parser (once), hand it the gathered bytes, bound every socket wait."""
        super().init()
        if self.head:
            self.parser.unreader.unread(bytes(self.head))
            self.head.clear()
        _limit_waits(self.sock, self.idle_seconds)

    def take_buffered(self) -> None:
        """Move what gunicorn's parser read ahead (a pipelined request) into ``head``."""
        if self.parser is not None:
            self.head[:0] = self.parser.unreader.take_buffered()

    def gathered(self) -> bool:
        wanted = bytes_wanted(self.head)
        return wanted is not None and len(self.head) >= wanted

    def close(self, graceful: bool = False) -> None:
        """Close now, or (``graceful``) hand the socket to the loop's linger."""
        if graceful:
            self._linger(self)
        else:
            super().close()


class GatedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker with requests gathered by the loop (see the module doc).

    ``header_seconds`` and ``idle_seconds`` default to the module's constants;
    the gunicorn configuration sets them from the settings in ``post_fork``.
    """

    header_seconds = HEADER_SECONDS
    idle_seconds = IDLE_SECONDS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.gathering: dict[GatedConn, None] = {}
        self.lingering: dict[GatedConn, None] = {}

    def init_process(self) -> None:
        wsgi.Response = QuietResponse
        super().init_process()

    def set_accept_enabled(self, enabled: bool) -> None:
        """Stop accepting; when the worker is stopping, let go of the port as well.

        A stopping worker finishes its requests for up to ``graceful_timeout``.
        gunicorn keeps its copy of the listening socket open until the end, so
        a master started meanwhile (after a crash of the old one) could not
        bind, and connections queued on the old socket would never be served.
        """
        super().set_accept_enabled(enabled)
        if not enabled and (not self.alive or self.ppid != os.getppid()):
            for listener in self.sockets:
                listener.close()

    # -- gathering requests ------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError:
            return
        self.nr_conns += 1
        conn = GatedConn(self.cfg, client_sock, client_addr, listener.getsockname(),
                         self.linger, self.idle_seconds)
        self.enqueue_req(conn)

    def enqueue_req(self, conn: GatedConn) -> None:
        """Give ``conn`` to a thread once its request is gathered; gather it first otherwise.

        Every path to the thread pool comes through here (new, kept-alive and
        pipelined connections alike).
        """
        if conn.ready:
            conn.ready = False
            super().enqueue_req(conn)
            return
        conn.take_buffered()
        if conn.gathered():
            conn.ready = True
            self.enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + self.header_seconds
        self.gathering[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))

    def on_request_bytes(self, conn: GatedConn, client: socket.socket) -> None:
        data = _receive(client)
        if data is None:
            return
        if not data:
            self.stop_gathering(conn)
            self.nr_conns -= 1
            conn.close()
            return
        conn.head += data
        if conn.gathered():
            self.stop_gathering(conn)
            conn.ready = True
            conn.data_ready = True
            self.enqueue_req(conn)
        elif bytes_wanted(conn.head) is None and len(conn.head) > MAX_HEAD_BYTES:
            self.stop_gathering(conn)
            self.nr_conns -= 1
            with contextlib.suppress(OSError):
                client.send(_TOO_LARGE)
            self.linger(conn)

    def stop_gathering(self, conn: GatedConn) -> None:
        self.poller.unregister(conn.sock)
        del self.gathering[conn]

    # -- lingering close ---------------------------------------------------------------

    def linger(self, conn: GatedConn) -> None:
        """Half-close after the response, then drain what the client still sends."""
        if len(self.lingering) >= MAX_LINGERING:
            TConn.close(conn)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            TConn.close(conn)
            return
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self.lingering[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_linger_bytes, conn))

    def on_linger_bytes(self, conn: GatedConn, client: socket.socket) -> None:
        data = _receive(client)
        if data is None:
            return
        conn.drained += len(data)
        if not data or conn.drained >= LINGER_BYTES:
            self.end_linger(conn)

    def end_linger(self, conn: GatedConn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.lingering.pop(conn, None)
        TConn.close(conn)

    # -- deadlines ---------------------------------------------------------------------

    def murder_pending(self) -> None:
        """gunicorn's sweep of waiting connections, plus ours: late requests, long lingers."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.gathering if c.deadline <= now]:
            self.stop_gathering(conn)
            self.nr_conns -= 1
            conn.close()
        for conn in [c for c in self.lingering if c.deadline <= now]:
            self.end_linger(conn)
