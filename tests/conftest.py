"""Shared fixtures: settings under ``tmp_path`` with cheap Argon2, an initialised instance.

Kept small and generic; layer-specific fixtures live in each test folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tipbox.config import Settings, load_settings
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance, open_instance

#: Argon2 parameters that cost almost nothing (never use outside tests).
CHEAP_ARGON2 = {
    f"TIPBOX_{which}_ARGON2_{name}": value
    for which in ("CODENAME", "PASSWORD")
    for name, value in (("TIME_COST", "1"), ("MEMORY_KIB", "8"), ("PARALLELISM", "1"))
}


def make_test_settings(tmp_path: Path, **extra: str) -> Settings:
    """Settings with data and keys under ``tmp_path``, cheap Argon2, no disk floor."""
    env = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
        **extra,
    }
    return load_settings(env)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_test_settings(tmp_path)


@pytest.fixture
def init_result(settings: Settings) -> InitResult:
    """``init`` has run; holds the recovery identity it printed."""
    return init_instance(settings)


@pytest.fixture
def instance(settings: Settings, init_result: InitResult) -> Iterator[Instance]:
    """An open, initialised instance, closed after the test."""
    opened = open_instance(settings)
    yield opened
    opened.close()
