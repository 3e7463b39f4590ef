"""``python -m tipbox run``: first start initialises, serves, and Ctrl-C stops everything."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for_page(port: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            return connection.getresponse().status
        except OSError:
            time.sleep(0.1)
    return 0


def test_run_initialises_serves_and_stops_on_ctrl_c(
    tmp_path: Path, isolated_env: tuple[dict[str, str], int]
) -> None:
    env, port = isolated_env
    process = subprocess.Popen([sys.executable, "-m", "tipbox", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_page(port) == 200
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = output.decode()
    assert process.returncode == 0, text
    assert "RECOVERY IDENTITY" in text
    assert "AGE-SECRET-KEY-" in text
    assert (tmp_path / "data" / "secrets.json").exists()
    assert wait_for_page(port, timeout=0.5) == 0  # nothing listens any more
