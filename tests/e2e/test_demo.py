"""`make demo`, shortened: it prints verified alerts and leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_database
from tests.support.stack import processes_in_group

ROOT = Path(__file__).resolve().parents[2]
DEMO_REDIS_DB = "7"

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_database() -> Iterator[str]:
    name = f"pricealert_t_demo_{os.getpid()}"
    yield name
    drop_database(name)


def run_demo(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEALERT_")}
    return subprocess.run(
        [sys.executable, "-m", "scripts.demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_demo_prints_verified_alerts_and_leaves_no_process_behind(
    demo_database: str,
) -> None:
    done = run_demo("--duration", "20", "--database", demo_database, "--redis-db", DEMO_REDIS_DB)

    assert done.returncode == 0, done.stdout + done.stderr
    alerts = re.findall(r"ALERT\s+(\w+)", done.stdout)
    assert alerts, done.stdout
    assert done.stdout.count("signature verified") == len(alerts)
    assert "SIGNATURE INVALID" not in done.stdout
    group = int(re.search(r"process group (\d+)", done.stdout).group(1))  # type: ignore[union-attr]
    assert processes_in_group(group) == []
    assert "processes left running: 0" in done.stdout


def test_a_bad_database_name_is_refused_with_a_clear_message() -> None:
    done = run_demo("--database", 'demo"; DROP', timeout=60)

    assert done.returncode == 2
    assert "use lower-case letters, digits and _" in done.stderr
    assert "Traceback" not in done.stderr
