"""A tiny SMTP server for tests: EHLO, STARTTLS or implicit TLS, AUTH PLAIN, one mail.

Just enough of RFC 5321 for :mod:`smtplib` as tipbox uses it. Records what
each session did (TLS or not, who logged in) and every message received.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    """One message as the server saw it."""

    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    user: str | None
    helo: str


@dataclass
class Mailbox:
    """Everything the server received, plus its accepted credentials."""

    user: str = "tipbox"
    password: str = "correct horse"
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1/localhost and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tipbox test relay")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay-cert.pem", directory / "relay-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Session(socketserver.StreamRequestHandler):
    server: SmtpServer

    def handle(self) -> None:
        self.tls = False
        self.user: str | None = None
        self.helo = ""
        self.envelope: tuple[str, list[str]] = ("", [])
        if self.server.mode == "tls":
            self._start_tls()
        self._reply("220 relay.test ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line or not self._command(line.decode("ascii").rstrip("\r\n")):
                return

    def _reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _start_tls(self) -> None:
        self.connection = self.server.tls_context.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb")
        self.tls = True

    def _command(self, line: str) -> bool:
        verb, _, argument = line.partition(" ")
        handler = getattr(self, f"_do_{verb.lower()}", None)
        if handler is None:
            self._reply("502 command not implemented")
            return True
        return handler(argument) is not False

    def _do_ehlo(self, argument: str) -> None:
        self.helo = argument
        lines = ["250-relay.test"]
        if self.server.mode == "starttls" and not self.tls:
            lines.append("250-STARTTLS")
        if self.tls:
            lines.append("250-AUTH PLAIN")
        lines.append("250 SMTPUTF8")
        self._reply("\r\n".join(lines))

    def _do_starttls(self, _argument: str) -> None:
        self._reply("220 go ahead")
        self._start_tls()

    def _do_auth(self, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        fields = base64.b64decode(initial).split(b"\0") if mechanism == "PLAIN" else []
        mailbox = self.server.mailbox
        if fields[1:] == [mailbox.user.encode(), mailbox.password.encode()]:
            self.user = mailbox.user
            self._reply("235 authenticated")
        else:
            self._reply("535 authentication failed")

    def _do_mail(self, argument: str) -> None:
        self.envelope = (argument.removeprefix("FROM:").strip("<>"), [])
        self._reply("250 ok")

    def _do_rcpt(self, argument: str) -> None:
        self.envelope[1].append(argument.removeprefix("TO:").strip("<>"))
        self._reply("250 ok")

    def _do_data(self, _argument: str) -> None:
        self._reply("354 end with <CRLF>.<CRLF>")
        lines: list[bytes] = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        received = Received(
            sender=self.envelope[0],
            recipients=self.envelope[1],
            data=b"".join(lines),
            tls=self.tls,
            user=self.user,
            helo=self.helo,
        )
        with self.server.mailbox.lock:
            self.server.mailbox.messages.append(received)
        self._reply("250 queued")

    def _do_rset(self, _argument: str) -> None:
        self._reply("250 ok")

    def _do_noop(self, _argument: str) -> None:
        self._reply("250 ok")

    def _do_quit(self, _argument: str) -> bool:
        self._reply("221 bye")
        return False


class SmtpServer(socketserver.ThreadingTCPServer):
    """``SmtpServer(mode, cert, key)``; ``mode`` is "starttls", "tls" or "plain"."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str, cert: Path, key: Path, mailbox: Mailbox) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.mode = mode
        self.mailbox = mailbox
        self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls_context.load_cert_chain(cert, key)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.shutdown()
        self.server_close()
