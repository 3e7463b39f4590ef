"""Upload throughput and worker memory: tipbox vs the age CLI vs dd, in one run.

    .venv/bin/python bench/upload.py            # 1 GiB
    .venv/bin/python bench/upload.py --size 256M --dir /dev/shm/bench

What is measured (same input file, same disk, page cache warm for all):

- ``tipbox``: a real gunicorn serving the source app (``deploy/gunicorn_source.py``,
  one worker) receives the file as a browser without JavaScript sends it:
  one ``multipart/form-data`` POST with ``csrf_token``, ``message``,
  ``no_codename`` and the file. (Issuing a codename adds one Argon2id run,
  64 MiB and a fraction of a second whatever the size; its peak is printed
  separately.) Timed from the first byte sent to the response (the 303 to the
  receipt), which comes only after the encrypted blob is fsynced and committed.
  Once for each ``--crypto-threads`` count (``TIPBOX_CRYPTO_THREADS``: the
  threads that seal the upload; default ``1,2``: before and after issue 19's
  parallel STREAM), each on its own server, rounds interleaved.
- ``age``: Debian's ``/usr/bin/age -r age1...`` encrypting the file to a
  file, then fsync of the output.
- ``dd``: ``dd bs=1M conv=fdatasync`` copying the file.
- The padding's cost (issue 17): the same file encrypted file to file (fsync)
  with ``Encryptor.close()`` and with ``close_padded()`` (PADMÉ), rounds
  interleaved: stored bytes and MiB/s of each; and the largest overhead of
  PADMÉ for small, middling and large payloads.
- The worker's resident memory when idle (after a warm-up submission) and
  its peak during the upload (``VmHWM`` after resetting it through
  ``/proc/<pid>/clear_refs``, cross-checked by sampling ``VmRSS``).

Prints a table; never asserts (DESIGN 2: benchmarks print figures).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tipbox.config import load_settings  # noqa: E402
from tipbox.crypto import Encryptor, X25519Identity, parse_recipient  # noqa: E402
from tipbox.crypto.padding import padded_size  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402

MIB = 1024 * 1024
CHUNK = MIB
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    scale = {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[match.group(2).upper()]
    return int(match.group(1)) * scale


def make_input(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as file:
        remaining = size
        while remaining:
            step = min(remaining, CHUNK)
            file.write(block[:step] if remaining > CHUNK else os.urandom(step))
            remaining -= step
        file.flush()
        os.fsync(file.fileno())


AGE_CPU: list[float] = []


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(func: object, *args: object) -> float:
    start = time.perf_counter()
    func(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def run_dd(source: Path, target: Path) -> None:
    subprocess.run(["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fdatasync"],
                   check=True, capture_output=True)


def run_age(source: Path, target: Path, recipient: str) -> None:
    before = children_cpu()
    subprocess.run(["/usr/bin/age", "-r", recipient, "-o", str(target), str(source)],
                   check=True)
    AGE_CPU.append(children_cpu() - before)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Server:
    """gunicorn for the source app on a free port, one worker, temp data dir."""

    def __init__(self, workdir: Path, max_upload: int, crypto_threads: int) -> None:
        self.process: subprocess.Popen[bytes]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        values = {
            "TIPBOX_DATA_DIR": str(workdir / "data"),
            "TIPBOX_KEYS_DIR": str(workdir / "keys"),
            "TIPBOX_SOURCE_BIND": f"127.0.0.1:{self.port}",
            "TIPBOX_MAX_UPLOAD_BYTES": str(max_upload),
            "TIPBOX_MIN_FREE_BYTES": "0",
            "TIPBOX_DEV": "1",
            "TIPBOX_CRYPTO_THREADS": str(crypto_threads),
        }
        init_instance(load_settings(values))
        self.data_dir = workdir / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOX_")}
        env.update(values)
        command = [sys.executable, "-m", "gunicorn", "--config",
                   str(ROOT / "deploy" / "gunicorn_source.py"), "--workers", "1"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(200):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gunicorn did not start")

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return int(children.read_text().split()[0])

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler(threading.Thread):
    """Samples ``VmRSS`` every few milliseconds; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))
            time.sleep(0.005)


def upload(port: int, source: Path | None, size: int, *, codename: bool) -> float:
    """One submission as a browser sends it; returns seconds until the response."""
    cookie, token = fetch_form(port)
    boundary = "----geckoformboundary" + secrets.token_hex(16)
    fields = [("csrf_token", token), ("message", "bench")]
    if not codename:
        fields.append(("no_codename", "1"))
    head = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                   f"{value}\r\n" for name, value in fields)
    head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
             'filename="upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    start = time.perf_counter()
    connection.putrequest("POST", "/submit")
    connection.putheader("Cookie", cookie)
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head.encode()) + size + len(tail)))
    connection.endheaders()
    connection.send(head.encode())
    for chunk in file_chunks(source, size):
        connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    if response.status != 303:  # to the receipt, once the submission is committed
        raise RuntimeError(f"upload failed with HTTP {response.status}")
    return elapsed


def file_chunks(source: Path | None, size: int) -> Iterator[bytes]:
    if source is None:
        yield os.urandom(size)
        return
    with source.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def fetch_form(port: int) -> tuple[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/submit")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    match = _CSRF.search(page)
    if match is None:
        raise RuntimeError("no CSRF token on /submit")
    return cookie, match.group(1)


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float
    idle_kib: int
    peak_kib: int
    codename_peak_kib: int


def measure_upload(server: Server, source: Path, size: int) -> Measured:
    """Upload without a codename (the streaming path), then a small one with a codename."""
    for _ in range(3):  # warm-up: imports, allocator, sqlite, a few uploads
        upload(server.port, None, 4 * MIB, codename=False)
    pid = server.worker_pid()
    time.sleep(0.2)
    idle = status_kib(pid, "VmRSS")
    cpu = cpu_seconds(pid)
    seconds, peak = peak_during(pid, lambda: upload(server.port, source, size, codename=False))
    cpu = cpu_seconds(pid) - cpu
    _, codename_peak = peak_during(pid, lambda: upload(server.port, None, MIB, codename=True))
    return Measured(seconds, cpu, idle, peak, codename_peak)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_during(pid: int, action: Callable[[], float]) -> tuple[float, int]:
    """Run ``action``; return its result and the worker's peak RSS meanwhile (KiB)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    sampler = RssSampler(pid)
    sampler.start()
    result = action()
    sampler.running = False
    sampler.join()
    return result, max(status_kib(pid, "VmHWM"), sampler.peak_kib)


def rate(size: int, seconds: float) -> float:
    return size / MIB / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"),
                        help="size of the uploaded file (e.g. 64M, 1G); default 1G")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; the best run of each method is shown (default 3)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench",
                        help="work directory on the disk to measure (default ./.bench)")
    parser.add_argument("--crypto-threads", default="1,2",
                        help="TIPBOX_CRYPTO_THREADS values to compare (default 1,2)")
    args = parser.parse_args()
    threads = [int(count) for count in args.crypto_threads.split(",")]
    size: int = args.size
    args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=args.dir))
    try:
        run_all(workdir, size, max(1, args.repeat), threads)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            args.dir.rmdir()  # only if empty


def run_all(workdir: Path, size: int, repeat: int, threads: list[int]) -> None:
    """Interleave the methods ``repeat`` times; keep each one's best run."""
    source = workdir / "input.bin"
    print(f"input: {size / MIB:.0f} MiB of random data in {workdir}; best of {repeat}",
          flush=True)
    make_input(source, size)
    recipient = str(X25519Identity.generate().recipient())
    servers: dict[int, Server] = {}
    try:
        for count in threads:
            servers[count] = Server(workdir / f"threads-{count}", size + MIB, count)
        dd_runs, age_runs = [], []
        tipbox_runs: dict[int, list[Measured]] = {count: [] for count in threads}
        for _ in range(repeat):
            dd_runs.append(timed(run_dd, source, workdir / "dd.out"))
            (workdir / "dd.out").unlink()
            age_runs.append(timed(run_age, source, workdir / "age.out", recipient))
            (workdir / "age.out").unlink()
            for count, server in servers.items():
                tipbox_runs[count].append(measure_upload(server, source, size))
                remove_blobs(server.data_dir)
    finally:
        for server in servers.values():
            server.stop()
    best = {count: min(runs, key=lambda run: run.seconds) for count, runs in tipbox_runs.items()}
    print_table(size, min(dd_runs), min(age_runs), {n: run.seconds for n, run in best.items()})
    for count, run in best.items():
        print(f"\nTIPBOX_CRYPTO_THREADS={count}: CPU of the tipbox worker {run.cpu_seconds:.2f} s "
              f"(best run), age {min(AGE_CPU):.2f} s (user + system)")
        print_memory(run, tipbox_runs[count])
    print_padding(source, workdir, size, repeat, recipient)


def encrypt_to_file(source: Path, target: Path, recipient: str, *, padded: bool) -> int:
    """Encrypt ``source`` into ``target`` (payload only, fsynced); the stored size."""
    with source.open("rb") as plain, target.open("wb") as out:
        encryptor = Encryptor([parse_recipient(recipient)], out, detached=True)
        encryptor.write_from(plain)
        encryptor.close_padded() if padded else encryptor.close()
        out.flush()
        os.fsync(out.fileno())
    return target.stat().st_size


def print_padding(source: Path, workdir: Path, size: int, repeat: int, recipient: str) -> None:
    """The padding's cost on this file, and PADMÉ's largest overhead over all sizes."""
    seconds: dict[bool, list[float]] = {False: [], True: []}
    stored: dict[bool, int] = {}
    for _ in range(repeat):
        for padded in (False, True):
            target = workdir / f"padded-{padded}.out"
            start = time.perf_counter()
            stored[padded] = encrypt_to_file(source, target, recipient, padded=padded)
            seconds[padded].append(time.perf_counter() - start)
            target.unlink()
    plain, padded = min(seconds[False]), min(seconds[True])
    print(f"\npadding (Encryptor, file to file, fsync; best of {repeat}):")
    print(f"  unpadded {stored[False]:,} bytes at {rate(size, plain):.0f} MiB/s; "
          f"padded {stored[True]:,} bytes at {rate(size, padded):.0f} MiB/s "
          f"({stored[True] / stored[False] - 1:+.2%} bytes, {plain / padded:.2f}x the speed)")
    # The worst case of each power of two is just past it: 2**E + 1 bytes stored.
    for low, high in ((0, 1 << 10), (1 << 10, 1 << 20), (1 << 20, 2 << 30)):
        worst = max(padded_size(n) / (n + 24) for e in range(5, 32)
                    if low <= (n := (1 << e) + 1 - 24) < high and n > 0)
        print(f"  PADMÉ, stored {low:,} to {high:,} bytes: at most {worst - 1:+.2%}")


def remove_blobs(data_dir: Path) -> None:
    """Free the disk between rounds (the database rows stay; the bench never reads them)."""
    for blob in (data_dir / "blobs").iterdir():
        if blob.is_file():
            blob.unlink()


def print_memory(best: Measured, runs: list[Measured]) -> None:
    idle, peak = best.idle_kib / 1024, max(run.peak_kib for run in runs) / 1024
    growth = max(run.peak_kib - run.idle_kib for run in runs) / 1024
    print(f"worker RSS: idle {idle:.1f} MiB, peak during an upload {peak:.1f} MiB, "
          f"largest growth {growth:.1f} MiB")
    print(f"(a first submission that issues a codename also runs Argon2id: peak "
          f"{best.codename_peak_kib / 1024:.1f} MiB, whatever the upload size)")


def print_table(size: int, dd_seconds: float, age_seconds: float,
                upload_seconds: dict[int, float]) -> None:
    rows = [("dd conv=fdatasync", dd_seconds), ("age CLI (file to file, fsync)", age_seconds)]
    rows += [(f"tipbox upload, {count} crypto thread{'s' if count > 1 else ''}", seconds)
             for count, seconds in upload_seconds.items()]
    print(f"\n{'method (tipbox: via gunicorn)':34} {'seconds':>8} {'MiB/s':>8} {'vs age':>7} "
          f"{'vs dd':>7}")
    for name, seconds in rows:
        print(f"{name:34} {seconds:8.2f} {rate(size, seconds):8.0f} "
              f"{age_seconds / seconds:7.2f} {dd_seconds / seconds:7.2f}")


if __name__ == "__main__":
    main()
