"""``python -m tipbox age`` on files of several MiB, in real processes.

The tool seals and opens on several threads (where there are CPUs) what
comes through a pipe (of unknown length) and files of ``THREADS_FROM``
(32 MiB) and more; smaller files on one. Through pipes (which take part of
a write at a time) and files, the output is the input; a damaged file still
gives exactly the verified chunks before the damage on stdout, and no file
with ``-o``.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tipbox.cli.age_tool import THREADS_FROM
from tipbox.crypto import X25519Identity

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 64 * 1024
SEALED_CHUNK = CHUNK + 16
DATA = random.Random(19).randbytes(5 * 1024 * 1024 + 123)


def tipbox_age(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tipbox", "age", *args], input=stdin,
                          capture_output=True, cwd=ROOT, check=False, timeout=120)


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "key.txt"
    path.write_text(f"{X25519Identity.generate()}\n")
    return path


@pytest.fixture(scope="module")
def sealed(key_file: Path) -> bytes:
    result = tipbox_age("encrypt", "-i", str(key_file), stdin=DATA)
    assert result.returncode == 0, result.stderr
    return result.stdout


def payload_start(sealed: bytes | bytearray) -> int:
    """Offset of the first chunk: after the header's MAC line and the 16-byte nonce."""
    return sealed.index(b"\n", sealed.index(b"\n--- ") + 1) + 1 + 16


def test_pipes_round_trip(key_file: Path, sealed: bytes) -> None:
    result = tipbox_age("decrypt", "-i", str(key_file), stdin=sealed)
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == DATA


def round_trip_files(key_file: Path, directory: Path, data: bytes) -> tuple[Path, Path, Path]:
    """``data`` encrypted and decrypted file to file; the plain, age and output files."""
    plain, age_file, out = directory / "plain", directory / "plain.age", directory / "out"
    plain.write_bytes(data)
    assert tipbox_age("encrypt", "-i", str(key_file), "-o", str(age_file), str(plain)
                      ).returncode == 0
    assert tipbox_age("decrypt", "-i", str(key_file), "-o", str(out), str(age_file)
                      ).returncode == 0
    assert out.read_bytes() == data
    return plain, age_file, out


def test_files_round_trip(key_file: Path, tmp_path: Path) -> None:
    round_trip_files(key_file, tmp_path, DATA)


def test_files_past_threads_from_round_trip(key_file: Path, tmp_path: Path) -> None:
    """Encrypted and decrypted file to file on several threads."""
    data = (DATA * (THREADS_FROM // len(DATA) + 2))[: THREADS_FROM + 777]
    _plain, age_file, out = round_trip_files(key_file, tmp_path, data)
    damaged = bytearray(age_file.read_bytes())
    damaged[payload_start(damaged) + 300 * SEALED_CHUNK + 7] ^= 0x40
    age_file.write_bytes(damaged)
    out.unlink()
    assert tipbox_age("decrypt", "-i", str(key_file), "-o", str(out), str(age_file)
                      ).returncode == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plain", "plain.age"]


@pytest.mark.parametrize("through", ["file", "pipe"])
@pytest.mark.parametrize("bad_chunk", [0, 15, 16, 40, 80])
def test_a_damaged_chunk_leaves_exactly_the_verified_prefix_on_stdout(
    key_file: Path, sealed: bytes, tmp_path: Path, bad_chunk: int, through: str
) -> None:
    damaged = bytearray(sealed)
    damaged[payload_start(sealed) + bad_chunk * SEALED_CHUNK + 7] ^= 0x40
    source = tmp_path / "damaged.age"
    source.write_bytes(damaged)
    if through == "file":
        result = tipbox_age("decrypt", "-i", str(key_file), str(source))
    else:
        result = tipbox_age("decrypt", "-i", str(key_file), stdin=bytes(damaged))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: payload failed to verify")
    assert result.stdout == DATA[: bad_chunk * CHUNK]
    out = tmp_path / "out"
    assert tipbox_age("decrypt", "-i", str(key_file), "-o", str(out), str(source)
                      ).returncode == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]
