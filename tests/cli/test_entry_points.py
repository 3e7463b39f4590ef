"""``--version`` works from a checkout and from an installed console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tipbox import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_version_from_a_checkout() -> None:
    result = subprocess.run([sys.executable, "-m", "tipbox", "--version"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, f"tipbox {__version__}")
    assert result.stderr == ""


@pytest.mark.slow
def test_version_from_the_installed_console_script(tmp_path: Path) -> None:
    """``pip install .`` (the package alone, into a target folder) gives a ``tipbox`` script."""
    source, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(ROOT / "tipbox", source / "tipbox",
                    ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    for name in ("pyproject.toml", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(target), str(source)],
                   cwd=tmp_path, check=True, capture_output=True)
    script = target / "bin" / "tipbox"
    assert script.is_file()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(script), "--version"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, f"tipbox {__version__}")
