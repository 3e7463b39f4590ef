"""deploy/: systemd units, Tor and gunicorn configuration, and the page that explains them."""

from __future__ import annotations

import base64
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.conftest import CHEAP_ARGON2
from tipbox.cli import cli
from tipbox.cli.onion import onion_client_keys
from tipbox.config import Settings
from tipbox.services.wiring import Instance

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs" / "deploy.md"
SERVICES = sorted(DEPLOY.glob("*.service"))
UNITS = SERVICES + sorted(DEPLOY.glob("*.timer"))
VENV_BIN = "/opt/tipbox/.venv/bin/"

#: Directives every service must carry, with the exact value.
HARDENING = {
    "User": "tipbox",
    "Group": "tipbox",
    "UMask": "0077",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/tipbox",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "SystemCallArchitectures": "native",
    "MemorySwapMax": "0",
    "LimitCORE": "0",
}


def directives(unit: Path) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values...]}}``; systemd allows repeated keys."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_every_unit_is_there() -> None:
    names = {unit.name for unit in UNITS}
    assert {"tipbox-source.service", "tipbox-reviewer.service"} <= names
    assert {"tipbox-notify.service", "tipbox-notify.timer"} <= names
    assert {"tipbox-backup.service", "tipbox-backup.timer"} <= names
    assert {"tipbox-sweep.service", "tipbox-sweep.timer"} <= names


def test_sweep_runs_every_hour_without_network(tmp_path: Path) -> None:
    service = directives(DEPLOY / "tipbox-sweep.service")["Service"]
    assert service["ExecStart"] == [f"{VENV_BIN}python -m tipbox sweep"]
    assert service["Type"] == ["oneshot"]
    assert service["PrivateNetwork"] == ["yes"]
    assert service["IPAddressDeny"] == ["any"]
    timer = directives(DEPLOY / "tipbox-sweep.timer")["Timer"]
    assert timer["Persistent"] == ["true"]  # a run missed while off happens at boot
    binary = systemd_analyze(tmp_path)
    [calendar] = timer["OnCalendar"]
    result = subprocess.run(
        [binary, "calendar", calendar], capture_output=True, text=True, check=True
    )
    assert "Normalized form: *-*-* *:00:00" in result.stdout  # every hour, on the hour


@pytest.mark.parametrize("unit", SERVICES, ids=lambda unit: unit.name)
def test_services_carry_the_hardening_directives(unit: Path) -> None:
    service = directives(unit)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{unit.name}: {key}"
    assert "@system-service" in service["SystemCallFilter"]
    assert "~@privileged" in service["SystemCallFilter"]
    assert service["EnvironmentFile"] == ["/etc/tipbox/tipbox.env"]


@pytest.mark.parametrize("app", ["source", "reviewer"])
def test_web_services_reach_only_loopback(app: str) -> None:
    unit = DEPLOY / f"tipbox-{app}.service"
    service = directives(unit)["Service"]
    assert service["IPAddressDeny"] == ["any"]
    assert service["IPAddressAllow"] == ["localhost"]
    assert service["Type"] == ["notify"]  # gunicorn tells systemd when it is ready
    config = f"/opt/tipbox/deploy/gunicorn_{app}.py"
    assert service["ExecStart"] == [f"{VENV_BIN}gunicorn --config {config} app:{app}"]
    assert (DEPLOY / f"gunicorn_{app}.py").exists()


def runnable_copies(tmp_path: Path) -> list[Path]:
    """The units with their executables pointed at stubs (verify checks they exist)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("gunicorn", "python"):
        (stubs / name).write_text("#!/bin/sh\n")
        (stubs / name).chmod(0o755)
    copies = []
    for unit in UNITS:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(VENV_BIN, f"{stubs}/"))
        copies.append(copy)
    return copies


def systemd_analyze(tmp_path: Path) -> str:
    """The path of a working ``systemd-analyze``, or skip the test."""
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed")
    probe = tmp_path / "probe.service"
    probe.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    result = subprocess.run(
        [binary, "verify", str(probe)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"systemd-analyze verify does not work here: {result.stderr.strip()[:200]}")
    return binary


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    binary = systemd_analyze(tmp_path)
    copies = runnable_copies(tmp_path)
    result = subprocess.run(
        [binary, "verify", *map(str, copies)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr, result.stderr
    assert "ignoring" not in result.stderr, result.stderr


def test_services_rate_ok_in_systemd_analyze_security(tmp_path: Path) -> None:
    binary = systemd_analyze(tmp_path)
    for copy in runnable_copies(tmp_path):
        if copy.suffix != ".service":
            continue
        result = subprocess.run(
            [binary, "security", "--offline=true", "--no-pager", str(copy)],
            capture_output=True,
            text=True,
            check=False,
        )
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        if match is None:
            pytest.skip("this systemd-analyze cannot rate unit files offline")
        assert float(match[1]) <= 2.0, f"{copy.name}: {result.stdout[-400:]}"


MDWE_PROBE = textwrap.dedent(
    """
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit(78)  # not enforced
    except OSError:
        pass
    import argon2, flask, gunicorn.app.wsgiapp, sqlite3, ssl
    from tipbox.crypto import HybridIdentity, X25519Identity, decrypt, encrypt
    argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x")
    for identity in (HybridIdentity.generate(), X25519Identity.generate()):
        assert decrypt([identity], encrypt([identity.recipient()], b"x")) == b"x"
    sqlite3.connect(":memory:").execute("select 1")
    import tipbox.source, tipbox.reviewer, tipbox.cli
    print("ok")
    """
)


def test_the_stack_runs_under_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes must not break cffi, Rust or the apps' imports.

    Linux >= 6.3 offers the same restriction per process (PR_SET_MDWE); the
    probe sets it, checks it holds, then exercises every native module.
    """
    result = subprocess.run(
        [sys.executable, "-c", MDWE_PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    if result.returncode in (77, 78):
        pytest.skip("this kernel cannot enforce memory-deny-write-execute per process")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_torrc_publishes_two_onion_services_and_nothing_else() -> None:
    lines = [
        line.split(None, 1)
        for line in (DEPLOY / "torrc").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    options: dict[str, list[str]] = {}
    for key, value in lines:
        options.setdefault(key, []).append(value)
    assert options["HiddenServiceDir"] == [
        "/var/lib/tor/tipbox-source/",
        "/var/lib/tor/tipbox-reviewer/",
    ]
    assert options["HiddenServicePort"] == ["80 127.0.0.1:8080", "80 127.0.0.1:8081"]
    for listener in ("SocksPort", "ORPort", "DirPort", "ControlPort"):
        assert options[listener] == ["0"]
    assert "authorized_clients" in (DEPLOY / "torrc").read_text()


def test_torrc_is_valid_for_tor(tmp_path: Path) -> None:
    binary = shutil.which("tor")
    if binary is None:
        pytest.skip("tor is not installed")
    text = (DEPLOY / "torrc").read_text().replace("/var/lib/tor/", f"{tmp_path}/")
    torrc = tmp_path / "torrc"
    torrc.write_text(text + f"DataDirectory {tmp_path}/data\n")
    result = subprocess.run(
        [binary, "--verify-config", "-f", str(torrc)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:]


def gunicorn_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("TIPBOX_SOURCE_BIND", "127.0.0.1:18080")
    monkeypatch.setenv("TIPBOX_REVIEWER_BIND", "127.0.0.1:18081")
    return runpy.run_path(str(DEPLOY / f"gunicorn_{name}.py"))


def test_gunicorn_reviewer_config_matches_the_source_one(monkeypatch: pytest.MonkeyPatch) -> None:
    reviewer = gunicorn_settings("reviewer", monkeypatch)
    source = gunicorn_settings("source", monkeypatch)
    assert reviewer["bind"] == ["127.0.0.1:18081"]
    assert reviewer["wsgi_app"] == "app:reviewer"
    for key in ("worker_class", "accesslog", "limit_request_line", "limit_request_fields"):
        assert reviewer[key] == source[key], key
    assert reviewer["worker_class"] == "tipbox.web.worker.GatedThreadWorker"
    assert reviewer["accesslog"] is None
    assert reviewer["forwarded_allow_ips"] == ""
    assert reviewer["umask"] == 0o077


def test_gunicorn_reviewer_logs_no_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    logged: list[str] = []
    monkeypatch.setattr(Logger, "warning", lambda self, msg, *a, **k: logged.append(str(msg)))
    logger_class = gunicorn_settings("reviewer", monkeypatch)["AddressFreeLogger"]
    logger = logger_class(Config())  # type: ignore[operator]
    logger.warning("Invalid request from ip=203.0.113.9: Invalid HTTP method")
    logger.access(None, None, {"REMOTE_ADDR": "203.0.113.9"}, None)
    assert len(logged) == 1
    assert "203.0.113.9" not in logged[0]
    assert logged[0].startswith("Invalid request from ip=[not recorded]")


def test_docs_cover_every_deploy_file() -> None:
    text = DOCS.read_text()
    for path in DEPLOY.iterdir():
        assert f"deploy/{path.name}" in text, path.name
    for mentioned in set(re.findall(r"deploy/([\w.*-]+)", text)):
        assert list(DEPLOY.glob(mentioned)), mentioned
    for topic in ("full-disk encryption", "swap", "time sync", "authorized_clients", "upgrade"):
        assert topic in text.lower(), topic


def test_onion_client_keys_are_a_tor_x25519_pair() -> None:
    public, private = onion_client_keys()
    assert re.fullmatch(r"[A-Z2-7]{52}", public)
    assert re.fullmatch(r"[A-Z2-7]{52}", private)
    key = X25519PrivateKey.from_private_bytes(base64.b32decode(private + "===="))
    assert base64.b32decode(public + "====") == key.public_key().public_bytes_raw()


def test_cli_onion_auth() -> None:
    onion = "a" * 56
    result = CliRunner().invoke(cli, ["onion-auth", "alice", "--onion", f"{onion}.onion"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("#")]
    server, private, client = lines
    assert server.startswith("descriptor:x25519:")
    assert client == f"{onion}:descriptor:x25519:{private}"
    bad = CliRunner().invoke(cli, ["onion-auth", "../alice"])
    assert bad.exit_code == 1
    assert bad.output.startswith("error: NAME may only contain")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("gunicorn did not start listening")


def ask(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        return connection.recv(64)


def test_gunicorn_serves_the_reviewer_app_with_its_config(
    settings: Settings, instance: Instance, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")},
        **CHEAP_ARGON2,
        "TIPBOX_DATA_DIR": str(settings.data_dir),
        "TIPBOX_KEYS_DIR": str(settings.keys_dir),
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{free_port()}",
        "TIPBOX_REVIEWER_BIND": f"127.0.0.1:{port}",
    }
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--config", str(DEPLOY / "gunicorn_reviewer.py")]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            wait_for(port, process)
            assert ask(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 ")
            assert ask(port, b"GET /\x01 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
            huge = b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"
            assert ask(port, huge).startswith(b"HTTP/1.1 431")
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert "[not recorded]" in text
    assert "127.0.0.1" not in text.replace(f"127.0.0.1:{port}", "")  # only the listen line


def test_admin_wrapper_runs_tipbox_as_the_service_user() -> None:
    script = DEPLOY / "tipbox-admin.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    text = script.read_text()
    for needed in ("User=tipbox", "EnvironmentFile=/etc/tipbox/tipbox.env", "UMask=0077"):
        assert needed in text
    assert text.rstrip().endswith('-m tipbox "$@"')
