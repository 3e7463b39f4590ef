"""Throughput and memory of tipbox's age core and offline CLI.

    python bench/crypto.py [--size 256M] [--repeat 5] [--dir /dev/shm]

Measures, in one run and on the same files:

* encrypt and decrypt through the streaming API (``Encryptor``,
  ``decrypt_stream``) next to a bare ``ChaCha20Poly1305`` loop over the same
  64 KiB chunks, both reading their input from the same kind of file and
  discarding their output, so the ratio is the API's own overhead;
* ``python -m tipbox age encrypt/decrypt`` file to file next to Debian's
  ``age`` on the same files (wall clock, process start included);
* peak RSS growth of each: for in-process runs, the peak resident set
  during the run above the resident set just before it (the interpreter with
  every module imported); for CLI runs, the child's peak RSS above that of
  the same interpreter importing the same modules and exiting.

Each figure is the best of ``--repeat`` runs, each run in a fresh process.
Targets (issue 2): API >= 0.9x raw, CLI >= 0.8x age, RSS growth < 16 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1 << 20
CHUNK = 64 * 1024
TAG = 16
READ_SIZE = MIB
API_TARGET, CLI_TARGET, RSS_TARGET_MIB = 0.9, 0.8, 16.0
# The CLI's idle baseline: the same interpreter with the same modules, idling
# long enough for its peak RSS to be sampled.
_IDLE = "import time, tipbox.cli.age, tipbox.crypto; time.sleep(0.3)"


# -- measurements inside a worker process ----------------------------------------


class NullSink:
    """A binary sink that only counts: output cost is not what we measure."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered."""


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Make VmHWM restart from the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def _read_blocks(path: Path, size: int, offset: int = 0) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as source:
        source.seek(offset)
        while block := source.read(size):
            yield block


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def raw_encrypt(args: argparse.Namespace) -> Callable[[], int]:
    """Seal the plaintext file's 64 KiB chunks with a bare AEAD loop."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead, sink = ChaCha20Poly1305(os.urandom(32)), NullSink()
    chunks = -(-args.input.stat().st_size // CHUNK)

    def loop() -> int:
        counter = 0
        for block in _read_blocks(args.input, READ_SIZE):
            view = memoryview(block)
            for start in range(0, len(view), CHUNK):
                nonce = _nonce(counter, counter == chunks - 1)
                sink.write(aead.encrypt(nonce, view[start : start + CHUNK], None))
                counter += 1
        return sink.size

    return loop


class _KeyCatcher:
    """Wraps an identity and keeps the file key it unwraps (bench only)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.file_key = inner, b""

    def unwrap(self, stanzas: Any) -> bytes | None:
        key: bytes | None = self.inner.unwrap(stanzas)
        self.file_key = key or b""
        return key


def _payload_of(args: argparse.Namespace) -> tuple[int, bytes]:
    """Offset and key of the age file's payload, via the API's header code."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from tipbox.crypto import decrypt_stream, parse_identity_file

    catcher = _KeyCatcher(parse_identity_file(args.key.read_text())[0])
    with open(args.input, "rb") as source:
        decrypt_stream([catcher], source)  # parses the header, opens the file key
    head = _head(args.input)
    offset = head.index(b"\n", head.index(b"\n--- ") + 1) + 1
    nonce = head[offset : offset + 16]
    key = HKDF(hashes.SHA256(), 32, salt=nonce, info=b"payload").derive(catcher.file_key)
    return offset + 16, key


def _head(path: Path) -> bytes:
    with open(path, "rb") as source:
        return source.read(1 << 16)


def raw_decrypt(args: argparse.Namespace) -> Callable[[], int]:
    """Open the age file's own payload chunks with a bare AEAD loop."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    offset, key = _payload_of(args)
    aead, sink, sealed_size = ChaCha20Poly1305(key), NullSink(), CHUNK + TAG
    chunks = -(-(args.input.stat().st_size - offset) // sealed_size)

    def loop() -> int:
        counter = 0
        for block in _read_blocks(args.input, (READ_SIZE // CHUNK) * sealed_size, offset):
            view = memoryview(block)
            for start in range(0, len(view), sealed_size):
                nonce = _nonce(counter, counter == chunks - 1)
                sink.write(aead.decrypt(nonce, view[start : start + sealed_size], None))
                counter += 1
        return sink.size

    return loop


def api_encrypt(args: argparse.Namespace) -> Callable[[], int]:
    """Encryptor fed 1 MiB reads of the plaintext file (what the CLI does)."""
    from tipbox.crypto import Encryptor, parse_identity_file

    (identity,) = parse_identity_file(args.key.read_text())
    recipients = [identity.recipient()]

    def loop() -> int:
        with Encryptor(recipients, NullSink()) as encryptor:  # type: ignore[arg-type]
            for block in _read_blocks(args.input, READ_SIZE):
                encryptor.write(block)
        return encryptor.plaintext_size

    return loop


def api_decrypt(args: argparse.Namespace) -> Callable[[], int]:
    """decrypt_stream over the age file opened with a 1 MiB buffer (as the CLI does)."""
    from tipbox.crypto import decrypt_stream, parse_identity_file

    identities = parse_identity_file(args.key.read_text())

    def loop() -> int:
        sink = NullSink()
        with open(args.input, "rb", buffering=READ_SIZE) as source:
            for chunk in decrypt_stream(identities, source):
                sink.write(chunk)
        return sink.size

    return loop


WORKERS: dict[str, Callable[[argparse.Namespace], Callable[[], int]]] = {
    "raw-encrypt": raw_encrypt,
    "raw-decrypt": raw_decrypt,
    "api-encrypt": api_encrypt,
    "api-decrypt": api_decrypt,
}


def run_worker(args: argparse.Namespace) -> None:
    """Worker process: time one measurement, print JSON {seconds, rss_kib, size}."""
    import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401 - warm the imports

    import tipbox.crypto  # noqa: F401

    loop = WORKERS[args.worker](args)
    _reset_peak_rss()
    before = _vm_kib("VmRSS")
    start = time.perf_counter()
    size = loop()
    seconds = time.perf_counter() - start
    growth = _vm_kib("VmHWM") - before
    print(json.dumps({"seconds": seconds, "rss_kib": growth, "size": size}))


# -- the driver --------------------------------------------------------------------


@dataclass
class Figure:
    seconds: float
    rss_kib: int


def _python() -> list[str]:
    return [sys.executable]


def _environment() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _watch_peak(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Record the child's VmHWM until it exits.

    ``wait4``'s ru_maxrss is useless here: Linux carries the parent's
    high-water mark over ``fork``/``exec``, so every child would report this
    benchmark's own size. VmHWM of the exec'd program starts afresh, and only
    grows, so the last value read is its peak (give or take the final ms).
    """
    while not done.wait(0.002):
        value = _status_kib(pid, "VmHWM")
        if value is not None:
            peak.append(value)


def _spawn(argv: list[str]) -> tuple[float, int, bytes]:
    """Run ARGV; return wall seconds, its own peak RSS (KiB) and stdout."""
    done, peak = threading.Event(), [0]
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=_environment(), cwd=ROOT)
    watcher = threading.Thread(target=_watch_peak, args=(process.pid, done, peak))
    watcher.start()
    out, _ = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:5])} failed with {process.returncode}")
    return seconds, max(peak), out


def worker_figure(mode: str, source: Path, key: Path) -> Figure:
    argv = [*_python(), __file__, "--worker", mode, "--input", str(source), "--key", str(key)]
    _, _, out = _spawn(argv)
    result = json.loads(out)
    return Figure(result["seconds"], result["rss_kib"])


def cli_figure(argv: list[str], baseline_kib: int, output: Path) -> Figure:
    """Time ARGV writing OUTPUT, which is removed first so all start alike."""
    output.unlink(missing_ok=True)
    seconds, peak_kib, _ = _spawn(argv)
    return Figure(seconds, peak_kib - baseline_kib)


def make_input(directory: Path, size: int) -> Path:
    """Write SIZE bytes of random plaintext (a random 1 MiB block, repeated)."""
    block = os.urandom(MIB)
    plain = directory / "plain.bin"
    with open(plain, "wb") as out:
        for offset in range(0, size, MIB):
            out.write(block[: min(MIB, size - offset)])
    return plain


def digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@dataclass
class Paths:
    plain: Path
    key: Path
    recipient: str
    age_file: Path
    out: Path


def prepare(directory: Path, size: int) -> Paths:
    plain = make_input(directory, size)
    key = directory / "key.txt"
    subprocess.run([*_python(), "-m", "tipbox", "age", "keygen", "-o", str(key)],
                   check=True, env=_environment(), cwd=ROOT, capture_output=True)
    recipient = subprocess.run([*_python(), "-m", "tipbox", "age", "recipient", "-i", str(key)],
                               check=True, env=_environment(), cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    return Paths(plain, key, recipient, directory / "file.age", directory / "out.bin")


def tipbox_cli(*args: str) -> list[str]:
    return [*_python(), "-m", "tipbox", "age", *args]


def measurements(paths: Paths, age: str | None) -> dict[str, Callable[[], Figure]]:
    """Every figure of the table, keyed 'encrypt raw', 'decrypt age', ...

    Insertion order matters: every decryption reads the file that the last
    encryption wrote (Debian age's when it is installed), the raw loop and
    the API the very same bytes.
    """
    key, sealed, decrypted = paths.key, paths.age_file, paths.out
    baseline = _spawn([*_python(), "-c", _IDLE])[1]
    encrypt_args = ["-r", paths.recipient, "-o", str(sealed), str(paths.plain)]
    decrypt_args = ["-i", str(key), "-o", str(decrypted), str(sealed)]
    ours_encrypt, ours_decrypt = tipbox_cli("encrypt", *encrypt_args), tipbox_cli(
        "decrypt", *decrypt_args)
    steps: dict[str, Callable[[], Figure]] = {
        "encrypt raw": lambda: worker_figure("raw-encrypt", paths.plain, key),
        "encrypt api": lambda: worker_figure("api-encrypt", paths.plain, key),
        "encrypt cli": lambda: cli_figure(ours_encrypt, baseline, sealed),
    }
    if age:
        base = 0  # age's figure is its whole peak RSS: it has no idle mode to subtract
        steps["encrypt age"] = lambda: cli_figure([age, *encrypt_args], base, sealed)
        steps["decrypt age"] = lambda: cli_figure([age, "-d", *decrypt_args], base, decrypted)
    steps["decrypt raw"] = lambda: worker_figure("raw-decrypt", sealed, key)
    steps["decrypt api"] = lambda: worker_figure("api-decrypt", sealed, key)
    steps["decrypt cli"] = lambda: cli_figure(ours_decrypt, baseline, decrypted)
    return steps


def measure_all(paths: Paths, runs: int, age: str | None) -> dict[str, Figure]:
    """Run every measurement once per round, RUNS rounds; keep the best time.

    Interleaving rounds (rather than repeating one measurement RUNS times in
    a row) spreads any background load evenly over the things compared.
    """
    steps = measurements(paths, age)
    rounds: dict[str, list[Figure]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            rounds[name].append(step())
        check_output(paths)
    return {
        name: Figure(min(f.seconds for f in figures), max(f.rss_kib for f in figures))
        for name, figures in rounds.items()
    }


def check_output(paths: Paths) -> None:
    if digest(paths.out) != digest(paths.plain):
        raise SystemExit("bench: decrypted output differs from the input")
    paths.out.unlink()


def _row(label: str, figure: Figure | None, size: int, reference: Figure | None,
         target: float | None) -> str:
    if figure is None:
        return f"  {label:<30} {'(not installed)':>10}"
    speed = size / figure.seconds / 1e6
    rss = f"{figure.rss_kib / 1024:8.1f} MiB"
    if reference is None or target is None:
        return f"  {label:<30} {speed:10.0f} {'':>8} {'':>10} {rss}"
    ratio = reference.seconds / figure.seconds
    verdict = "ok" if ratio >= target else "MISS"
    return f"  {label:<30} {speed:10.0f} {ratio:7.2f}x {f'>={target}x {verdict}':>10} {rss}"


def report(figures: dict[str, Figure], size: int, runs: int) -> list[str]:
    lines = [f"tipbox age benchmark: {size / MIB:g} MiB input, best of {runs}, X25519 recipient",
             f"  {'':<30} {'MB/s':>10} {'ratio':>8} {'target':>10} {'peak RSS growth':>16}"]
    for op in ("encrypt", "decrypt"):
        get = figures.get
        lines += [
            f"{op}",
            _row("raw ChaCha20Poly1305 loop", get(f"{op} raw"), size, None, None),
            _row("tipbox streaming API", get(f"{op} api"), size, get(f"{op} raw"), API_TARGET),
            _row("age CLI (Go, Debian) [peak]", get(f"{op} age"), size, None, None),
            _row("python -m tipbox age", get(f"{op} cli"), size, get(f"{op} age"), CLI_TARGET),
        ]
    worst = max(figures[k].rss_kib for k in figures if not k.endswith(("age", "raw"))) / 1024
    verdict = "ok" if worst < RSS_TARGET_MIB else "MISS"
    lines.append(f"worst tipbox RSS growth: {worst:.1f} MiB (target < {RSS_TARGET_MIB:g} MiB: "
                 f"{verdict})")
    lines.append("MB/s = 10^6 bytes of plaintext per second; CLI times include process start.")
    return lines


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": MIB, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def default_directory() -> str | None:
    """tmpfs if there is one: disk write-back noise is not what we measure."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=256 * MIB,
                        help="input size, e.g. 256M (default), 16M, 1G")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (best kept)")
    parser.add_argument("--dir", default=default_directory(), help="where to put the files")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    age = shutil.which("age")
    with tempfile.TemporaryDirectory(prefix="tipbox-bench-", dir=args.dir) as directory:
        paths = prepare(Path(directory), args.size)
        figures = measure_all(paths, args.repeat, age)
    print("\n".join(report(figures, args.size, args.repeat)))


if __name__ == "__main__":
    main()
