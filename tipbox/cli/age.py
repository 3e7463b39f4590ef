"""``python -m tipbox age``: an offline age tool for an air-gapped laptop.

The commands mirror the reference ``age`` and ``age-keygen`` tools (same
flags, same identity-file format), so files and keys move freely between
tipbox, ``age`` and other age v1 implementations.

Security contract:

* Plaintext is only ever released after the chunk that holds it has been
  authenticated (``tipbox.crypto.decrypt_stream``). With ``-o``, output goes
  to a temporary file next to OUT that is renamed into place on success and
  deleted on any failure, so OUT never holds data from a file that failed to
  verify. On stdout, a failure part-way leaves the verified prefix written.
* Files written by this tool (keys, ``-o`` outputs) are created mode 0600.
* Passphrases are read from the terminal (``/dev/tty``) without echo, never
  from arguments, files or the environment.
* Every failure is one line ``error: ...`` on stderr and exit status 1;
  messages never contain key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, ParamSpec, TypeVar

import click

from tipbox.cli.failures import CliError, fail, one_line_errors
from tipbox.crypto import (
    ArmorError,
    DecryptionError,
    Encryptor,
    HeaderError,
    HybridIdentity,
    Identity,
    MacError,
    NoIdentityMatch,
    PayloadError,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt_stream,
    default_threads,
    parse_identity_file,
    parse_recipient,
)

if TYPE_CHECKING:
    import datetime

# Start-up time is part of every run of this tool, so the modules that only
# one command needs (datetime, getpass) are imported where they are used.

#: Buffer of a pipe's reader (the core reads runs of 512 KiB).
BUFFER_SIZE = 1 << 20
#: Files are read unbuffered (the core reads in runs of 512 KiB, straight into its
#: buffers) and written through a small buffer that the core's 64 KiB and
#: 512 KiB writes bypass: no copy of the data in this process.
_WRITE_BUFFER = 8192

_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_SCRYPT_HEADER = b"age-encryption.org/v1\n-> scrypt "
_PEEK_SIZE = 1024

#: An identity that has a recipient (not a passphrase).
KeyIdentity = X25519Identity | HybridIdentity

_P = ParamSpec("_P")
_T = TypeVar("_T")


AgeCliError = CliError


class _AgeCommand(click.Command):
    """A command whose usage errors are one line with exit status 1, like age."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as err:
            hint = f"see '{ctx.command_path} --help'"
            raise AgeCliError(f"{err.format_message()} ({hint})") from None


class _AgeGroup(click.Group):
    command_class = _AgeCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise AgeCliError(err.format_message()) from None


_fail = fail


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


_one_line_errors = one_line_errors(_describe_decryption_error)


# -- input, output and the terminal ------------------------------------------


@contextmanager
def _open_input(path: str | None) -> Iterator[BinaryIO]:
    """Yield a binary reader for PATH, or stdin for None or ``-``."""
    if path is None or path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb", buffering=0) as source:
        yield source


@contextmanager
def _open_output(path: str | None) -> Iterator[BinaryIO]:
    """Yield a binary writer for PATH (atomically replaced) or stdout.

    A regular-file OUT is written through a 0600 temporary file in the same
    directory and renamed over OUT only when the body finished without an
    exception; otherwise the temporary file is removed. Devices and pipes
    (``-o /dev/null``) are written in place.
    """
    if path is None or path == "-":
        stdout = sys.stdout.buffer
        yield stdout
        stdout.flush()
    elif os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        with open(path, "wb", buffering=_WRITE_BUFFER) as sink:
            yield sink
    else:
        with _atomic_file(os.path.realpath(path)) as sink:  # through symlinks, like age
            yield sink


@contextmanager
def _atomic_file(path: str) -> Iterator[BinaryIO]:
    directory, name = os.path.split(os.path.abspath(path))
    fd, temp_path = _create_private(directory, name)
    try:
        with open(fd, "wb", buffering=_WRITE_BUFFER) as sink:
            yield sink
        os.replace(temp_path, path)
    except BaseException:
        os.unlink(temp_path)
        raise


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
    Raises :class:`AgeCliError` when there is no terminal or the two entries
    differ.
    """
    import getpass  # noqa: PLC0415 - see the note on start-up at the top

    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        _fail("a passphrase can only be entered on a terminal")
    passphrase = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass("Confirm passphrase: ") != passphrase:
        _fail("passphrases didn't match")
    if not passphrase:
        _fail("empty passphrase")
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
            _fail(f"{path}: not a valid identity file: {err}")
        if not found:
            _fail(f"{path}: no identities found")
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
            _fail(f"{path}:{number}: invalid recipient: {err}")
    if not recipients:
        _fail(f"{path}: no recipients found")
    return recipients


def _parse_recipients(texts: Sequence[str]) -> list[Recipient]:
    recipients: list[Recipient] = []
    for text in texts:
        try:
            recipients.append(parse_recipient(text))
        except ValueError as err:
            _fail(f"invalid recipient {text!r}: {err}")
    return recipients


# -- commands ----------------------------------------------------------------

_OUTPUT = click.option(
    "-o", "--output", metavar="OUT", help="Write to OUT instead of stdout ('-' forces stdout)."
)
_INPUT = click.argument("input_path", metavar="[IN]", required=False)


@click.group(cls=_AgeGroup, context_settings={"help_option_names": ["-h", "--help"]})
def age() -> None:
    """Offline age encryption: keys, encrypt, decrypt.

    Works without a network and is compatible with age (age-encryption.org)
    and its other implementations. Typical use on an air-gapped laptop:

    \b
      python -m tipbox age keygen --pq -o key.txt    # make your key (0600)
      python -m tipbox age recipient -i key.txt      # share this age1pq1... line
      python -m tipbox age encrypt -r age1pq1... -o notes.age notes.txt
      python -m tipbox age decrypt -i key.txt -o tip.pdf tip.pdf.age
      python -m tipbox age encrypt -p -a -o note.txt.age note.txt   # passphrase
      python -m tipbox age decrypt -o note.txt note.txt.age         # asks for it

    Data goes to stdout unless -o is given; IN defaults to stdin. Keep key
    files on the air-gapped machine or on encrypted removable media. On any
    failure the command prints one "error: ..." line and exits with status 1,
    and with -o no output file is left behind.
    """


@age.command(short_help="Generate a new identity (secret key) file.")
@click.option("--pq", is_flag=True, help="Post-quantum hybrid key (mlkem768x25519, age1pq1...).")
@click.option("-o", "--output", metavar="FILE", help="Write the key to FILE (must not exist).")
@_one_line_errors
def keygen(pq: bool, output: str | None) -> None:
    """Generate a new identity (secret key), like age-keygen.

    The identity file holds "# created:" and "# public key:" comments and the
    AGE-SECRET-KEY-... line. With -o the file is created mode 0600 and the
    public key is also printed on stderr. Without --pq the key is X25519
    (age1...), readable by every age tool; --pq makes a post-quantum key
    (age1pq1...) that needs age 1.3+ or tipbox.
    """
    import datetime  # noqa: PLC0415 - see the note on start-up at the top

    identity: KeyIdentity = HybridIdentity.generate() if pq else X25519Identity.generate()
    text = identity_file_text(identity, datetime.datetime.now().astimezone())
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as file:
        file.write(text)
    click.echo(f"Public key: {identity.recipient()}", err=True)


@age.command(short_help="Print the recipient (public key) of an identity file.")
@click.option("-i", "--identity", "identity_path", required=True, metavar="FILE",
              help="Identity file to read ('-' for stdin).")
@_one_line_errors
def recipient(identity_path: str) -> None:
    """Print the recipient (public key) of each identity in FILE, like age-keygen -y."""
    for identity in _load_identities([identity_path]):
        click.echo(str(identity.recipient()))


@age.command(short_help="Encrypt to recipients or with a passphrase.")
@click.option("-r", "--recipient", "recipient_texts", multiple=True, metavar="RECIPIENT",
              help="Encrypt to this recipient (age1... or age1pq1...). Repeatable.")
@click.option("-R", "--recipients-file", "recipient_files", multiple=True, metavar="FILE",
              help="Encrypt to every recipient listed in FILE. Repeatable.")
@click.option("-i", "--identity", "identity_files", multiple=True, metavar="FILE",
              help="Encrypt to the recipients of the identities in FILE. Repeatable.")
@click.option("-p", "--passphrase", is_flag=True,
              help="Encrypt with a passphrase typed at the terminal (scrypt).")
@click.option("-a", "--armor", is_flag=True, help="Write ASCII armor (PEM-like text).")
@_OUTPUT
@_INPUT
@_one_line_errors
def encrypt(
    recipient_texts: tuple[str, ...],
    recipient_files: tuple[str, ...],
    identity_files: tuple[str, ...],
    passphrase: bool,
    armor: bool,
    output: str | None,
    input_path: str | None,
) -> None:
    """Encrypt IN (default stdin) to OUT (default stdout).

    Give recipients with -r/-R/-i, or -p for a passphrase. Post-quantum and
    classic recipients cannot be mixed in one file. Binary output is not
    written to a terminal: use -a, or -o.
    """
    keyed = bool(recipient_texts or recipient_files or identity_files)
    if passphrase == keyed:
        _fail("give recipients with -r/-R/-i, or -p for a passphrase (not both)")
    if "-" in (*recipient_files, *identity_files) and input_path in (None, "-"):
        _fail("stdin cannot hold both the recipients and the data to encrypt")
    if output is None and not armor and sys.stdout.buffer.isatty():
        _fail("refusing to write binary to the terminal: use -a, or -o - to force")
    recipients = _encryption_recipients(recipient_texts, recipient_files, identity_files)
    if passphrase:
        recipients = [ScryptRecipient(read_passphrase("Enter passphrase", confirm=True))]
    with _open_input(input_path) as source, _open_output(output) as sink, \
            Encryptor(recipients, sink, armor=armor, threads=default_threads()) as encryptor:
        encryptor.write_from(source)


def _encryption_recipients(
    texts: Sequence[str], files: Sequence[str], identity_files: Sequence[str]
) -> list[Recipient]:
    recipients = _parse_recipients(texts)
    for path in files:
        recipients.extend(_load_recipients_file(path))
    recipients.extend(i.recipient() for i in _load_identities(identity_files))
    return recipients


@age.command(short_help="Decrypt with identity files or a passphrase.")
@click.option("-i", "--identity", "identity_files", multiple=True, metavar="FILE",
              help="Identity file (may hold several keys). Repeatable.")
@_OUTPUT
@_INPUT
@_one_line_errors
def decrypt(identity_files: tuple[str, ...], output: str | None, input_path: str | None) -> None:
    """Decrypt IN (default stdin, binary or armored) to OUT (default stdout).

    Passphrase-encrypted files prompt for the passphrase on the terminal.
    Nothing is written unless it has been authenticated; with -o, OUT only
    appears once the whole file has verified.
    """
    if "-" in identity_files and input_path in (None, "-"):
        _fail("stdin cannot hold both the identity file and the encrypted file")
    with _open_input(input_path) as raw_source:
        source, needs_passphrase = _detect_passphrase(raw_source)
        identities = _decryption_identities(identity_files, needs_passphrase)
        try:
            # The header is checked here, before OUT exists.
            chunks = decrypt_stream(identities, source, threads=default_threads())
        except NoIdentityMatch:
            if needs_passphrase:
                _fail("incorrect passphrase")
            raise
        with _open_output(output) as sink:
            # One write a chunk, each freed at once: batching them into a writev
            # lets malloc give the memory back and fault it in again (much slower).
            for chunk in chunks:
                sink.write(chunk)


def _decryption_identities(identity_files: Sequence[str], passphrase: bool) -> list[Identity]:
    if passphrase:
        return [ScryptIdentity(read_passphrase("Enter passphrase", confirm=False))]
    if not identity_files:
        _fail("missing identity: use -i FILE (or decrypt a passphrase-encrypted file)")
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
            text = base64.b64decode(first[: len(first) // 4 * 4], validate=True)
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

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
