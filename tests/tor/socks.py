"""A SOCKS5 client for Tor's SocksPort (RFC 1928, with Tor's extended errors).

Host names go to Tor unresolved, as a browser configured for Tor sends them.
A failed connect raises :class:`SocksError` carrying the reply code; with the
``ExtendedErrors`` port flag Tor names onion-service failures precisely
(``socks-extensions.txt``): 0xF0 descriptor not found, 0xF4 missing client
authorization, 0xF5 wrong client authorization, and so on.
"""

from __future__ import annotations

import http.client
import socket
import struct

__all__ = ["ONION_ERRORS", "SocksError", "SocksHTTPConnection", "open_stream"]

ONION_ERRORS = {
    0xF0: "onion service descriptor can not be found",
    0xF1: "onion service descriptor is invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service missing client authorization",
    0xF5: "onion service wrong client authorization",
    0xF6: "onion service invalid address",
    0xF7: "onion service introduction timed out",
}


class SocksError(OSError):
    """The SOCKS server refused the connect; ``code`` is its reply code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"SOCKS5 reply 0x{code:02X}: {ONION_ERRORS.get(code, 'failure')}")
        self.code = code


def open_stream(socks_port: int, host: str, port: int, *, isolation: str = "",
                timeout: float = 60.0) -> socket.socket:
    """A connected stream to ``host:port`` through the SOCKS5 proxy on loopback.

    A non-empty ``isolation`` is sent as the SOCKS user name, which Tor's
    default ``IsolateSOCKSAuth`` turns into a circuit of its own.
    """
    sock = socket.create_connection(("127.0.0.1", socks_port), timeout=timeout)
    try:
        _negotiate(sock, isolation)
        name = host.encode("ascii")
        sock.sendall(struct.pack("!BBBBB", 5, 1, 0, 3, len(name)) + name
                     + struct.pack("!H", port))
        _version, code, _reserved, kind = _read(sock, 4)
        if code != 0:
            raise SocksError(code)
        length = _read(sock, 1)[0] if kind == 3 else {1: 4, 4: 16}[kind]
        _read(sock, length + 2)  # the bound address and port, which Tor leaves empty
        return sock
    except BaseException:
        sock.close()
        raise


def _negotiate(sock: socket.socket, isolation: str) -> None:
    if not isolation:
        sock.sendall(b"\x05\x01\x00")
        assert _read(sock, 2) == b"\x05\x00"
        return
    sock.sendall(b"\x05\x01\x02")
    assert _read(sock, 2) == b"\x05\x02"
    user = isolation.encode()
    sock.sendall(bytes([1, len(user)]) + user + b"\x01x")
    assert _read(sock, 2)[1] == 0


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the SOCKS server closed the connection")
        data += chunk
    return data


class SocksHTTPConnection(http.client.HTTPConnection):
    """``http.client`` through Tor's SOCKS port: ``host`` may be a ``.onion`` name."""

    def __init__(self, socks_port: int, host: str, *, isolation: str = "",
                 timeout: float = 60.0) -> None:
        super().__init__(host, 80, timeout=timeout)
        self.socks_port = socks_port
        self.isolation = isolation

    def connect(self) -> None:
        self.sock = open_stream(self.socks_port, self.host, self.port,
                                isolation=self.isolation, timeout=self.timeout or 60.0)
