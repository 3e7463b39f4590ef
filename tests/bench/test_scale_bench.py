"""``bench/scale.py --quick`` runs end to end and its figures make sense.

The benchmark asserts nothing itself (it prints figures); this smoke test
runs it with small counts (its own PostgreSQL server, an SQLite host and two
PostgreSQL source hosts under gunicorn, two reviewer hosts) and reads its
output: every configuration served landing pages and submissions, none
failed, and both inbox back ends listed the same full first page.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.servers import ROOT, process_env

CONFIGURATIONS = ("SQLite, 1 host", "PostgreSQL, 1 host", "PostgreSQL, 2 hosts")
_NUMBER = r"(\d+(?:\.\d+)?)"


@pytest.fixture(scope="module")
def output() -> str:
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--quick"],
        cwd=ROOT, env=process_env({}), capture_output=True, text=True, timeout=170,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_every_configuration_serves_pages_and_submissions(
    output: str, configuration: str
) -> None:
    row = re.search(rf"^  {re.escape(configuration)} +{_NUMBER} \(\S+\) +{_NUMBER} \(",
                    output, re.MULTILINE)
    assert row is not None, output
    landing, submissions = (float(value) for value in row.groups())
    assert landing > 10
    assert submissions > 0.5


@pytest.mark.slow
def test_no_request_failed(output: str) -> None:
    costs = re.findall(r"^  .+, (?:landing|submissions) .* (\d+)$", output, re.MULTILINE)
    assert len(costs) == 2 * len(CONFIGURATIONS), output
    assert set(costs) == {"0"}


@pytest.mark.slow
def test_both_back_ends_list_the_same_pages(output: str) -> None:
    first = re.search(r"^  first page .* (\S+)x +(\S+)$", output, re.MULTILINE)
    assert first is not None, output
    assert first.group(2) == "50"  # a full page, the same on both (else "a!=b")
    middle = re.search(r"^  middle page \(cursor\) .* (\S+)$", output, re.MULTILINE)
    assert middle is not None
    assert middle.group(1) == "50"


@pytest.mark.slow
def test_the_serial_part_and_the_paper_estimate_are_printed(output: str) -> None:
    serial = re.search(rf"per submission: held {_NUMBER} ms \(sampled\), of which {_NUMBER}"
                       rf" WAL flushes of {_NUMBER} ms", output)
    assert serial is not None, output
    held, flushes, _flush_ms = (float(value) for value in serial.groups())
    assert held > 0
    assert flushes >= 1  # at least the submission's own commit
    assert re.search(r"^  submissions, cheap Argon2 +2 +\d+ +\d+ +\d+ ", output, re.MULTILINE)
