"""The README walk-through, run as written: its shell blocks against a real stack, on free ports.

The blocks are taken from README.md's "Walk-through" section. Those marked "(leave it
running)" are started in the background as a person would in their own terminals
(`make run`, `make demo-shop`); the last one runs once both said they are ready. The
only things the test chooses are the settings the blocks read (ports, a database and
Redis of its own); it expects the receiver's "signature verified" line and a chart.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis

from pricealert_ops.devtools.stack import processes_in_group
from tests.conftest import REDIS_BASE

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH_REDIS_DB = 8
READY_TIMEOUT_SECONDS = 180.0  # `make run` checks the install, the servers, migrates, starts
SCRIPT_TIMEOUT_SECONDS = 150.0
LEAVE_RUNNING = "(leave it running)"

pytestmark = pytest.mark.slow


def walkthrough_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the README's walk-through section, in order."""
    start = readme.index("\n## Walk-through")
    end = readme.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", readme[start:end], flags=re.DOTALL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def walkthrough_env(fresh_database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    redis_url = f"{REDIS_BASE}/{WALKTHROUGH_REDIS_DB}"
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    # A developer's own settings and an outer make's jobserver must not leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PRICEALERT_") and k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(
        {
            "PRICEALERT_DATABASE_URL": fresh_database_url,
            "PRICEALERT_REDIS_URL": redis_url,
            "PRICEALERT_API_PORT": str(_free_port()),
            "PRICEALERT_WEB_PORT": str(_free_port()),
            "PRICEALERT_DEMO_SHOP_PORT": str(_free_port()),
            "PRICEALERT_DEMO_RECEIVER_PORT": str(_free_port()),
            "PRICEALERT_METRICS_PORT_BASE": "0",
            "PRICEALERT_LOCAL_DIR": str(tmp_path / "local"),
            "PRICEALERT_ENVIRONMENT": "test",
        }
    )
    yield env
    client.flushdb()
    client.close()


class Terminal:
    """A block running in the background in a session of its own, its output in a file."""

    def __init__(self, block: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", block],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"{self.log.name} ended ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} in {self.log.name} after {timeout:.0f} s:\n"
                            + self.output()[-4000:])  # fmt: skip
            time.sleep(0.2)

    def interrupt(self) -> None:
        """Ctrl-C, as a person would; whatever is left after 40 s is killed."""
        group = self.process.pid
        if self.process.poll() is None:
            os.killpg(group, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(40)
        deadline = time.monotonic() + 40
        while processes_in_group(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_in_group(group)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == [], f"{self.log.name} left processes behind: {left}"


def test_the_readme_walkthrough_has_two_terminals_to_leave_running_and_a_script() -> None:
    blocks = walkthrough_blocks((ROOT / "README.md").read_text())

    assert len(blocks) == 3
    assert [LEAVE_RUNNING in block for block in blocks] == [True, True, False]
    assert "PRICEALERT_FETCH_ALLOWED_HOSTS=127.0.0.1 make run" in blocks[0]


def test_the_readme_walkthrough_as_written_ends_in_a_signed_webhook(
    walkthrough_env: dict[str, str], tmp_path: Path
) -> None:
    run_block, shop_block, script = walkthrough_blocks((ROOT / "README.md").read_text())
    # The script's working directory is a checkout's (it runs .venv/bin/pricealert) but its
    # files (lamp.svg) must not land in the real one.
    workdir = tmp_path / "terminal3"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.executable).parent.parent)
    stack = Terminal(run_block, ROOT, walkthrough_env, tmp_path / "terminal1.log")
    shop = Terminal(shop_block, ROOT, walkthrough_env, tmp_path / "terminal2.log")
    try:
        stack.wait_for("scraper, evaluator, notifier running", READY_TIMEOUT_SECONDS)
        shop.wait_for("Move a price:", READY_TIMEOUT_SECONDS)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=workdir,
            env=walkthrough_env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            check=False,
            start_new_session=True,
        )
    finally:
        shop.interrupt()
        stack.interrupt()

    api = f"http://127.0.0.1:{walkthrough_env['PRICEALERT_API_PORT']}"
    web = f"http://127.0.0.1:{walkthrough_env['PRICEALERT_WEB_PORT']}"
    assert (
        f"API ready on {api} — scraper, evaluator, notifier running — web UI on {web}"
        in stack.output()
    )
    assert "Walnut desk lamp" in shop.output()
    assert "moved  Walnut desk lamp: now $84.90, in stock" in shop.output()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "webhook below: Walnut desk lamp $100.00 → $84.90 — signature verified" in done.stdout, (
        done.stdout + done.stderr
    )
    assert "INVALID" not in done.stdout
    chart = ET.parse(workdir / "lamp.svg").getroot()  # noqa: S314 - our own API's chart
    assert chart.tag.endswith("svg")
