"""What ``python -m tipbox age`` does: an offline age tool for an air-gapped laptop.

The commands mirror the reference ``age`` and ``age-keygen`` tools (same
flags, same identity-file format), so files and keys move freely between
tipbox, ``age`` and other age v1 implementations. Their options are parsed
by :mod:`tipbox.cli.age` (click, the command tree) or by
:mod:`tipbox.cli.age_args` (the fast start); both call the functions here,
which import neither.

Security contract:

* Plaintext is only ever released after the chunk that holds it has been
  authenticated (``tipbox.crypto.decrypt_stream``). With ``-o``, output goes
  to a temporary file next to OUT that is renamed into place on success and
  deleted on any failure, so OUT never holds data from a file that failed to
  verify. On stdout, a failure part-way leaves the verified prefix written.
* Files written by this tool (keys, ``-o`` outputs) are created mode 0600.
* Passphrases are read from the terminal (``/dev/tty``) without echo, never
  from arguments, files or the environment.
* Every failure is :class:`AgeError` or an exception that :func:`describe`
  turns into one line ``error: ...`` (exit status 1); messages never
  contain key material or plaintext.

Start-up time is part of every run of this tool, so each module that only
one command or one kind of key needs is imported where it is used
(``tests/cli/test_age_startup.py`` lists what must stay out).
"""

from __future__ import annotations

import binascii
import io
import os
import stat
import sys

from tipbox.crypto.age import Encryptor, decrypt_stream
from tipbox.crypto.errors import (
    ArmorError,
    DecryptionError,
    HeaderError,
    MacError,
    NoIdentityMatch,
    PayloadError,
)
from tipbox.crypto.ordered import default_threads
from tipbox.crypto.recipients import parse_identity_file, parse_recipient

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence
    from typing import BinaryIO, NoReturn, TextIO

    from tipbox.crypto.hybrid import HybridIdentity
    from tipbox.crypto.interfaces import Identity, Recipient
    from tipbox.crypto.x25519 import X25519Identity

    #: An identity that has a recipient (not a passphrase).
    KeyIdentity = X25519Identity | HybridIdentity

#: Buffer of a pipe's reader (the core reads runs of 512 KiB).
BUFFER_SIZE = 1 << 20
#: A file smaller than this is encrypted or decrypted on one thread: in a fresh
#: process, starting workers (imports, threads, the runs they keep in flight)
#: costs more than they save below it (bench/crypto.py, 2 cores: 16 MiB 5 ms
#: slower with two threads, 32 MiB even, 64 MiB and up faster).
THREADS_FROM = 32 << 20

_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_SCRYPT_HEADER = b"age-encryption.org/v1\n-> scrypt "
_PEEK_SIZE = 1024


class AgeError(Exception):
    """A failure the tool explains itself: one ``error: <message>`` line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise AgeError(message)


def describe(error: BaseException) -> str:
    """The one-line message for any failure of a command (never a traceback)."""
    if isinstance(error, AgeError):
        message = str(error)
    elif isinstance(error, DecryptionError):
        message = _describe_decryption_error(error)
    elif isinstance(error, ValueError):
        message = str(error) or type(error).__name__
    elif isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        message = f"{where}{error.strerror or error}"
    elif isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = f"unexpected {type(error).__name__}"
    return " ".join(message.split())


def _describe_decryption_error(err: DecryptionError) -> str:
    """Name the failure category (the offline tool may be precise)."""
    kinds: list[tuple[type[DecryptionError], str]] = [
        (NoIdentityMatch, "no identity matched the file's recipients"),
        (MacError, "header authentication failed (the header was altered)"),
        (HeaderError, "invalid age header"),
        (PayloadError, "payload failed to verify (corrupt or truncated file)"),
        (ArmorError, "invalid ASCII armor"),
    ]
    summary = next((text for kind, text in kinds if isinstance(err, kind)), "decryption failed")
    detail = str(err)
    if isinstance(err, NoIdentityMatch):
        return summary
    return f"{summary}: {detail}" if detail and detail not in summary else summary


# -- input, output and the terminal ------------------------------------------


class _Input:
    """A binary reader for PATH, or stdin for None or ``-``, closed (unless stdin) on exit.

    A file is read unbuffered: the core reads runs straight into its buffers.
    """

    def __init__(self, path: str | None) -> None:
        self._path = path if path != "-" else None
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        if self._path is None:
            return sys.stdin.buffer
        self._file = open(self._path, "rb", buffering=0)  # noqa: SIM115 - closed on exit
        return self._file

    def __exit__(self, *exception: object) -> None:
        if self._file is not None:
            self._file.close()


class _FileSink:
    """Writes to a file descriptor as given: the core writes whole runs (512 KiB),
    so a buffer of ours would only add a copy."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)


class _Output:
    """Where a command's output goes: stdout, a device or pipe, or a regular file.

    A regular-file OUT is written through a 0600 temporary file in the same
    directory (through symlinks, like age) and renamed over OUT by
    :meth:`finish`, only once the whole output was written; :meth:`discard`
    removes it instead. Devices and pipes (``-o /dev/null``) are written in place.
    """

    def __init__(self, path: str | None) -> None:
        self._temp_path: str | None = None
        self._final_path = ""
        if path is None or path == "-":
            self.fd = -1
            self.sink: _FileSink | BinaryIO = sys.stdout.buffer
        elif os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            self.fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            self.sink = _FileSink(self.fd)
        else:
            self._final_path = os.path.realpath(path)
            directory, name = os.path.split(self._final_path)
            self.fd, self._temp_path = _create_private(directory, name)
            self.sink = _FileSink(self.fd)

    def finish(self) -> None:
        """Flush stdout, or close the file and put it in place."""
        if self.fd < 0:
            sys.stdout.buffer.flush()
            return
        os.close(self.fd)
        self.fd = -1
        if self._temp_path is not None:
            os.replace(self._temp_path, self._final_path)

    def discard(self) -> None:
        """After a failure: close the file and remove what was written to a temporary one."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._temp_path is not None:
            os.unlink(self._temp_path)


def _threads_for(source: BinaryIO) -> int:
    """The threads worth using on SOURCE: one for a small regular file (see
    :data:`THREADS_FROM`), else those of the machine (a pipe may be long)."""
    try:
        status = os.fstat(source.fileno())
    except (OSError, ValueError):  # io.UnsupportedOperation: no file underneath
        return default_threads()
    small = stat.S_ISREG(status.st_mode) and status.st_size < THREADS_FROM
    return 1 if small else default_threads()


def _create_private(directory: str, name: str) -> tuple[int, str]:
    """A new empty file ``.NAME.<random>.part`` in DIRECTORY, mode 0600: (fd, path)."""
    while True:
        path = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.part")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue


def read_passphrase(prompt: str, *, confirm: bool) -> str:
    """Read a passphrase from the terminal without echo.

    stdin and stdout carry data, so like age this insists on ``/dev/tty``.
    Raises :class:`AgeError` when there is no terminal or the two entries
    differ.
    """
    import getpass  # noqa: PLC0415 - see the note on start-up at the top

    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        fail("a passphrase can only be entered on a terminal")
    passphrase = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Confirm passphrase: ") != passphrase:
        fail("passphrases didn't match")
    if not passphrase:
        fail("empty passphrase")
    return passphrase


# -- keys --------------------------------------------------------------------


def identity_file_text(identity: KeyIdentity, created: datetime.datetime) -> str:
    """The age-keygen identity file: two comment lines, then the secret key."""
    stamp = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        f"# created: {stamp}\n"
        f"# public key: {identity.recipient()}\n"
        f"{identity}\n"
    )


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8")
    with open(path, encoding="utf-8") as file:
        return file.read()


def _load_identities(paths: Sequence[str]) -> list[KeyIdentity]:
    identities: list[KeyIdentity] = []
    for path in paths:
        try:
            found = parse_identity_file(_read_text(path))
        except (ValueError, UnicodeDecodeError) as err:
            fail(f"{path}: not a valid identity file: {err}")
        if not found:
            fail(f"{path}: no identities found")
        identities.extend(found)
    return identities


def _load_recipients_file(path: str) -> list[Recipient]:
    """Parse an age recipients file: one recipient a line, ``#`` comments."""
    recipients: list[Recipient] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            recipients.append(parse_recipient(line))
        except ValueError as err:
            fail(f"{path}:{number}: invalid recipient: {err}")
    if not recipients:
        fail(f"{path}: no recipients found")
    return recipients


def _parse_recipients(texts: Sequence[str]) -> list[Recipient]:
    recipients: list[Recipient] = []
    for text in texts:
        try:
            recipients.append(parse_recipient(text))
        except ValueError as err:
            fail(f"invalid recipient {text!r}: {err}")
    return recipients


# -- commands ----------------------------------------------------------------


def keygen(*, pq: bool, output: str | None) -> None:
    """Generate a new identity file (X25519, or mlkem768x25519 with ``pq``).

    To stdout, or to OUTPUT, created mode 0600 (never over an existing
    file), the public key then going to stderr.
    """
    import datetime  # noqa: PLC0415 - see the note on start-up at the top

    if pq:
        from tipbox.crypto.hybrid import HybridIdentity  # noqa: PLC0415 - as above

        identity: KeyIdentity = HybridIdentity.generate()
    else:
        from tipbox.crypto.x25519 import X25519Identity  # noqa: PLC0415 - as above

        identity = X25519Identity.generate()
    text = identity_file_text(identity, datetime.datetime.now().astimezone())
    if output is None or output == "-":
        _print(text, end="")
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as file:
        file.write(text)
    _print(f"Public key: {identity.recipient()}", stream=sys.stderr)


def recipient(*, identity_path: str) -> None:
    """Print the recipient of each identity in the file IDENTITY_PATH (``-``: stdin)."""
    for identity in _load_identities([identity_path]):
        _print(str(identity.recipient()))


def _print(text: str, *, end: str = "\n", stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(text + end)
    out.flush()


def encrypt(
    *,
    recipient_texts: Sequence[str],
    recipient_files: Sequence[str],
    identity_files: Sequence[str],
    passphrase: bool,
    armor: bool,
    output: str | None,
    input_path: str | None,
) -> None:
    """Encrypt INPUT_PATH (default stdin) to OUTPUT (default stdout).

    To the recipients given as strings, in recipients files and as identity
    files, or with a passphrase typed at the terminal (not both). Binary
    output is not written to a terminal.
    """
    keyed = bool(recipient_texts or recipient_files or identity_files)
    if passphrase == keyed:
        fail("give recipients with -r/-R/-i, or -p for a passphrase (not both)")
    if "-" in (*recipient_files, *identity_files) and input_path in (None, "-"):
        fail("stdin cannot hold both the recipients and the data to encrypt")
    if output is None and not armor and sys.stdout.buffer.isatty():
        fail("refusing to write binary to the terminal: use -a, or -o - to force")
    recipients = _encryption_recipients(recipient_texts, recipient_files, identity_files)
    if passphrase:
        from tipbox.crypto.scrypt import ScryptRecipient  # noqa: PLC0415 - see the top

        recipients = [ScryptRecipient(read_passphrase("Enter passphrase", confirm=True))]
    with _Input(input_path) as source:
        out = _Output(output)
        try:
            with Encryptor(recipients, out.sink, armor=armor,
                           threads=_threads_for(source)) as encryptor:
                encryptor.write_from(source)
        except BaseException:
            out.discard()
            raise
        out.finish()


def _encryption_recipients(
    texts: Sequence[str], files: Sequence[str], identity_files: Sequence[str]
) -> list[Recipient]:
    recipients = _parse_recipients(texts)
    for path in files:
        recipients.extend(_load_recipients_file(path))
    recipients.extend(i.recipient() for i in _load_identities(identity_files))
    return recipients


def decrypt(*, identity_files: Sequence[str], output: str | None,
            input_path: str | None) -> None:
    """Decrypt INPUT_PATH (default stdin, binary or armored) to OUTPUT (default stdout).

    With the identity files given, or with a passphrase asked at the
    terminal when the file was encrypted with one. Nothing is written
    unless it has been authenticated; with OUTPUT, it only appears once the
    whole file has verified.
    """
    if "-" in identity_files and input_path in (None, "-"):
        fail("stdin cannot hold both the identity file and the encrypted file")
    with _Input(input_path) as raw_source:
        source, needs_passphrase = _detect_passphrase(raw_source)
        identities = _decryption_identities(identity_files, needs_passphrase)
        try:
            # The header is checked here, before OUT exists.
            plaintext = decrypt_stream(identities, source, threads=_threads_for(source))
        except NoIdentityMatch:
            if needs_passphrase:
                fail("incorrect passphrase")
            raise
        out = _Output(output)
        try:
            plaintext.write_to(out.sink)
        except BaseException:
            out.discard()
            raise
        out.finish()


def _decryption_identities(identity_files: Sequence[str], passphrase: bool) -> list[Identity]:
    if passphrase:
        from tipbox.crypto.scrypt import ScryptIdentity  # noqa: PLC0415 - see the top

        return [ScryptIdentity(read_passphrase("Enter passphrase", confirm=False))]
    if not identity_files:
        fail("missing identity: use -i FILE (or decrypt a passphrase-encrypted file)")
    return list(_load_identities(identity_files))


def _detect_passphrase(source: BinaryIO) -> tuple[BinaryIO, bool]:
    """Peek at the start of SOURCE: is it a passphrase (scrypt) file?

    Returns a reader positioned at the start of the file and the answer.
    """
    prefix = source.read(_PEEK_SIZE)
    if source.seekable():
        source.seek(-len(prefix), io.SEEK_CUR)
        replay: BinaryIO = source
    else:
        replay = io.BufferedReader(_Replay(prefix, source), buffer_size=BUFFER_SIZE)
    return replay, _is_scrypt_header(prefix)


def _is_scrypt_header(prefix: bytes) -> bool:
    text = prefix.lstrip()
    if text.startswith(_ARMOR_BEGIN):
        lines = text.splitlines()
        first = lines[1].strip() if len(lines) > 1 else b""
        try:
            text = binascii.a2b_base64(first[: len(first) // 4 * 4], strict_mode=True)
        except binascii.Error:
            return False
    return text.startswith(_SCRYPT_HEADER)


class _Replay(io.RawIOBase):
    """A raw reader that returns PREFIX, then the rest of SOURCE."""

    def __init__(self, prefix: bytes, source: BinaryIO) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
