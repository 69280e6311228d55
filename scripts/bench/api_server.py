"""The API under test: started with the supervisor's own command, one worker process.

Logs are the production JSON lines, written to a file (counted afterwards, to
prove logging was on); metrics are on. CPU time of the API process and of the
database's backends is read from /proc, so each figure also says what one
request cost, which holds even when other work shares the machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pricealert.supervised import service_command
from scripts.bench import api_data
from scripts.bench.common import REDIS_URL, REPO, async_url, stop_process

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class RunningApi:
    port: int
    pid: int
    log_path: Path

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text: str = r.read().decode()
            return text

    def log_lines(self) -> int:
        with self.log_path.open("rb") as log:
            return sum(1 for _ in log)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@contextmanager
def running_api(
    database: str,
    log_dir: Path,
    extra_env: dict[str, str],
    command: Callable[[int], list[str]] | None = None,
) -> Iterator[RunningApi]:
    """Run the API (production command and logging) until the block ends; `command(port)`
    runs something else in its place (the bare reference app, a profiled API)."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "PRICEALERT_ENVIRONMENT": "development",
            "PRICEALERT_DATABASE_URL": async_url(database),
            "PRICEALERT_REDIS_URL": REDIS_URL,
            "PRICEALERT_LOG_JSON": "true",
            "PRICEALERT_LOG_LEVEL": "INFO",
            # The limiter script still runs on every request; only its ceiling is lifted.
            "PRICEALERT_RATE_LIMIT_PER_MINUTE": "1000000000",
            **extra_env,
        }
    )
    log_path = log_dir / "api.log"
    log: IO[bytes]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - the supervisor's own command
            command(port) if command else service_command("api", host="127.0.0.1", port=port),
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(port, process)
            yield RunningApi(port, process.pid, log_path)
        finally:
            stop_process(process)


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not become ready within 60 s")


def offered(port: int, paths: list[str], rate: float, duration: float) -> dict[str, Any]:
    """Offer `rate` requests/s for `duration` s over `paths` to the API on 127.0.0.1:`port`
    as the benchmark's user, from the open-loop generator in a process of its own
    (`api_load`); its report."""
    config = {
        "port": port,
        "rate": rate,
        "duration": duration,
        "paths": paths,
        "headers": {"Authorization": f"Bearer {api_data.BENCH_KEY}"},
    }
    done = subprocess.run(
        [sys.executable, "-m", "scripts.bench.api_load"],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=duration + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result
