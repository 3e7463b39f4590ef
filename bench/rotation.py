"""Re-wrap cost does not grow with payload size (issue 5).

    python bench/rotation.py [--items 1000] [--large 1M] [--small 1K] [--repeat 3] [--dir DIR]

Builds two instances, one with ``--items`` stored items of ``--large`` bytes
and one with as many of ``--small`` bytes (real age payloads in the blob
directory, detached headers in the database, post-quantum newsroom key),
then, ``--repeat`` times: rotates the key and re-wraps every header to the
new key through :meth:`tipbox.services.custody.rotation.Rotation.rewrap` (the code
path of ``keys rewrap``), timing the re-wrap only. Prints the best time of
each, items per second and the large/small ratio (target < 1.5x: a re-wrap
touches headers, never payloads). Figures, not asserts.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tipbox.config import load_settings  # noqa: E402
from tipbox.crypto import parse_identity  # noqa: E402
from tipbox.services.audit import Audit  # noqa: E402
from tipbox.services.custody.key_files import KeyFiles  # noqa: E402
from tipbox.services.custody.keyring import KeyIdentity  # noqa: E402
from tipbox.services.custody.rotation import Rotation  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402
from tipbox.services.sealing import seal_bytes  # noqa: E402
from tipbox.services.wiring import Instance, open_instance  # noqa: E402
from tipbox.store import hour  # noqa: E402

UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1] if text[-1:] in UNITS else ""
    return int(text[: len(text) - len(unit)]) * UNITS[unit]


@dataclass
class Figures:
    label: str
    size: int
    items: int
    best: float
    runs: list[float]

    @property
    def per_second(self) -> float:
        return self.items / self.best


def build(directory: Path, items: int, size: int) -> tuple[Instance, list[KeyIdentity]]:
    """A fresh instance holding ``items`` stored items of ``size`` random bytes."""
    settings = load_settings(
        {
            "TIPBOX_DATA_DIR": str(directory / "data"),
            "TIPBOX_KEYS_DIR": str(directory / "keys"),
            "TIPBOX_MIN_FREE_BYTES": "0",
        }
    )
    result = init_instance(settings)
    instance = open_instance(settings)
    recovery = parse_identity(result.recovery_identity)
    key = instance.keyring.active_key()
    payload = os.urandom(size)  # the same plaintext each time; ciphertexts differ
    with instance.store.db.transaction() as conn:
        source = conn.execute(
            "INSERT INTO sources (designation, created_hour, last_activity_hour)"
            " VALUES (?, ?, ?) RETURNING id",
            (secrets.token_hex(8), hour(), hour()),
        ).fetchone()[0]
        submission = conn.execute(
            "INSERT INTO submissions (source_id, created_hour) VALUES (?, ?) RETURNING id",
            (source, hour()),
        ).fetchone()[0]
    rows = []
    for position in range(items):
        sealed = seal_bytes(instance.store, [key.parsed_recipient()], payload, kind="file")
        rows.append((source, submission, position, key.id, sealed.header, sealed.writer.commit()))
    with instance.store.db.transaction() as conn:
        conn.executemany(
            "INSERT INTO items (source_id, submission_id, kind, position, key_id, header, blob,"
            " created_hour) VALUES (?, ?, 'file', ?, ?, ?, ?, 0)",
            rows,
        )
    return instance, [recovery]


def measure(label: str, directory: Path, items: int, size: int, repeat: int) -> Figures:
    instance, recovery = build(directory, items, size)
    rotation = Rotation(
        instance.store,
        instance.keyring,
        KeyFiles(instance.settings.keys_dir),
        audit=Audit(instance.store.db),
    )
    runs = []
    try:
        for _ in range(repeat):
            identities = [i for r in recovery for i in instance.keyring.open_identities(r)]
            rotation.rotate()
            start = time.perf_counter()
            report = rotation.rewrap(identities)
            runs.append(time.perf_counter() - start)
            assert report.rewrapped == items, report
            assert report.remaining == 0, report
    finally:
        instance.close()
    return Figures(label, size, items, min(runs), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--large", default="1M")
    parser.add_argument("--small", default="1K")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="tipbox-bench-") as tmp:
        small = measure(
            "small", Path(tmp) / "small", args.items, parse_size(args.small), args.repeat
        )
        large = measure(
            "large", Path(tmp) / "large", args.items, parse_size(args.large), args.repeat
        )
    for figures in (small, large):
        runs = ", ".join(f"{run:.3f}" for run in figures.runs)
        print(
            f"{figures.label}: {figures.items} items of {figures.size} bytes:"
            f" best {figures.best:.3f} s ({figures.per_second:,.0f} items/s); runs {runs}"
        )
    ratio = large.best / small.best
    verdict = "meets" if ratio < 1.5 else "MISSES"
    print(f"ratio large/small: {ratio:.2f}x ({verdict} the < 1.5x target)")


if __name__ == "__main__":
    main()
